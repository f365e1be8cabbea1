import { pageOf, sequenceOf, type Sequence, type SequencePage } from './answers.js';
import { toInt64 } from './json.js';
import type { Transport } from './transport.js';

/** A 64-bit value as an option: a bigint, a safe integer number, or a decimal string. */
export type Int64Input = bigint | number | string;

/** The options of `PUT /sequences/{name}` (README, "Sequence options"). */
export interface SequenceOptions {
  readonly start?: Int64Input;
  readonly increment?: Int64Input;
  readonly min_value?: Int64Input;
  readonly max_value?: Int64Input;
  readonly cycle?: boolean;
  readonly cache?: Int64Input;
  readonly gapless?: boolean;
  readonly lease_seconds?: Int64Input;
  readonly restart?: 'never' | 'yearly' | 'monthly' | 'daily';
  readonly time_zone?: string;
  /** A format template; null clears it. */
  readonly format?: string | null;
}

const INT64_OPTIONS = new Set(['start', 'increment', 'min_value', 'max_value', 'cache', 'lease_seconds']);

export interface ListOptions {
  /** Only names that start with this string. */
  readonly prefix?: string;
  /** Page size, 1 to 1000 (server default 100). */
  readonly limit?: number;
  /** The `next_cursor` of the previous page. */
  readonly cursor?: string;
}

export const path = (name: string): string => `/sequences/${encodeURIComponent(name)}`;

/** `tan.sequences`: the management endpoints (a token with the `admin` or `read` scope). */
export class Sequences {
  constructor(private readonly transport: Transport) {}

  /** `GET /sequences/{name}`. */
  async get(name: string): Promise<Sequence> {
    return sequenceOf((await this.transport.send({ method: 'GET', path: path(name), retry: 'safe' })).body);
  }

  /** `GET /sequences`: one page of sequences, ordered by name. */
  async list(options: ListOptions = {}): Promise<SequencePage> {
    const query = new URLSearchParams();
    if (options.prefix !== undefined) query.set('prefix', options.prefix);
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.cursor !== undefined) query.set('cursor', options.cursor);
    const search = query.size === 0 ? '' : `?${query.toString()}`;
    return pageOf((await this.transport.send({ method: 'GET', path: `/sequences${search}`, retry: 'safe' })).body);
  }

  /** Every sequence (with the prefix), walking the pages one request at a time. */
  async *all(options: Omit<ListOptions, 'cursor'> = {}): AsyncGenerator<Sequence, void, undefined> {
    let cursor: string | undefined;
    do {
      const page = await this.list({ ...options, ...(cursor === undefined ? {} : { cursor }) });
      yield* page.sequences;
      cursor = page.next_cursor ?? undefined;
    } while (cursor !== undefined);
  }

  /**
   * `PUT /sequences/{name}`: creates the sequence with these options, or
   * changes the given options of an existing one. Retried safely (a repeat
   * sets the same options).
   */
  async put(name: string, options: SequenceOptions = {}): Promise<Sequence> {
    const body: Record<string, unknown> = {};
    for (const [option, value] of Object.entries(options) as [string, unknown][]) {
      if (value === undefined) continue;
      body[option] = INT64_OPTIONS.has(option) ? toInt64(value as Int64Input, option) : value;
    }
    return sequenceOf((await this.transport.send({ method: 'PUT', path: path(name), body, retry: 'safe' })).body);
  }

  /**
   * `POST /sequences/{name}/reset`: the next allocation returns `nextValue`.
   * Moving back needs `force`. Not repeated after a lost answer (only after
   * a 429): a forced reset repeated later could hand values out again.
   */
  async reset(name: string, nextValue: Int64Input, options: { force?: boolean } = {}): Promise<Sequence> {
    const body = { next_value: toInt64(nextValue, 'nextValue'), ...(options.force === undefined ? {} : { force: options.force }) };
    return sequenceOf((await this.transport.send({ method: 'POST', path: `${path(name)}/reset`, body, retry: 'refused_only' })).body);
  }

  /**
   * `DELETE /sequences/{name}` (`forget: true` forgets its tombstone too, so
   * the name would hand out the same numbers again). Not repeated after a
   * lost answer (only after a 429): the repeat would answer 404.
   */
  async delete(name: string, options: { forget?: boolean } = {}): Promise<void> {
    const query = options.forget === undefined ? '' : `?forget=${String(options.forget)}`;
    await this.transport.send({ method: 'DELETE', path: `${path(name)}${query}`, retry: 'refused_only' });
  }
}
