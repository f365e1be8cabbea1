import { TakeANumberError } from './errors.js';
import { stringifyJson, type JsonValue } from './json.js';

/**
 * Reading the server's answers into typed objects. Every integer of an
 * answer is already a bigint (json.ts); these checks make sure the fields
 * the client relies on are there, so a wrong server or a proxy's page is an
 * `unexpected_response`, never a value of the wrong type.
 */

export type JsonObject = { [key: string]: JsonValue };

export function unexpected(what: string, body: unknown): TakeANumberError {
  return new TakeANumberError('unexpected_response', `The server's answer has no ${what}: ${stringifyJson(body)}`);
}

export function objectOf(body: JsonValue | undefined): JsonObject {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw unexpected('JSON object', body);
  return body;
}

export function bigintField(body: JsonObject, name: string): bigint {
  const value = body[name];
  if (typeof value !== 'bigint') throw unexpected(`integer ${name}`, body);
  return value;
}

export function stringField(body: JsonObject, name: string): string {
  const value = body[name];
  if (typeof value !== 'string') throw unexpected(`string ${name}`, body);
  return value;
}

export function optionalString(body: JsonObject, name: string): string | undefined {
  const value = body[name];
  return typeof value === 'string' ? value : undefined;
}

/** What `allocate` answers: one `/next` answer, camelCased, with bigints. */
export interface Allocation {
  /** The sequence name, as the server decoded it. */
  readonly sequenceId: string;
  /** The first value taken (the only one when `count` is 1). */
  readonly first: bigint;
  /** The last value taken: the batch is first, first + increment, …, last. */
  readonly last: bigint;
  /** How many values were taken. */
  readonly count: bigint;
  /** The sequence's step between two values of the batch, when the batch tells it (count > 1). */
  readonly increment: bigint | undefined;
  /** The period of the values (sequences with periods). */
  readonly period: string | undefined;
  /** The first value formatted (sequences with a format). */
  readonly formatted: string | undefined;
  /** The last value formatted (a batch of a sequence with a format). */
  readonly lastFormatted: string | undefined;
  /** A gapless sequence's reservation id (see `reserve`). */
  readonly reservation: string | undefined;
  /** When a gapless reservation's lease ends. */
  readonly expiresAt: Date | undefined;
  /** True when the server replayed the answer recorded for the idempotency key (a retry of an earlier call). */
  readonly replayed: boolean;
  /** The values of the batch, in order. */
  values(): IterableIterator<bigint>;
}

function* valuesOf(first: bigint, count: bigint, increment: bigint): IterableIterator<bigint> {
  let value = first;
  for (let i = 0n; i < count; i += 1n) {
    yield value;
    value += increment;
  }
}

/** Reads a `/next` answer; `requestedCount` is the count sent (undefined: none). */
export function allocationOf(body: JsonValue | undefined, replayed: boolean): Allocation {
  const answer = objectOf(body);
  const first = bigintField(answer, 'next_value');
  const batch = answer.last_value !== undefined;
  const last = batch ? bigintField(answer, 'last_value') : first;
  const count = batch ? bigintField(answer, 'count') : 1n;
  const increment = count > 1n ? (last - first) / (count - 1n) : undefined;
  const expires = optionalString(answer, 'expires_at');
  return {
    sequenceId: stringField(answer, 'sequence_id'),
    first,
    last,
    count,
    increment,
    period: optionalString(answer, 'period'),
    formatted: optionalString(answer, 'formatted'),
    lastFormatted: optionalString(answer, 'last_formatted'),
    reservation: optionalString(answer, 'reservation'),
    expiresAt: expires === undefined ? undefined : new Date(expires),
    replayed,
    values: () => valuesOf(first, count, increment ?? 0n),
  };
}

/** A sequence as `GET /sequences/{name}` shows it: the API's own field names, every integer a bigint. */
export interface Sequence {
  readonly name: string;
  readonly last_value: bigint | null;
  readonly next_value: bigint | null;
  readonly start: bigint;
  readonly increment: bigint;
  readonly min_value: bigint;
  readonly max_value: bigint;
  readonly cycle: boolean;
  readonly cache: bigint;
  readonly gapless: boolean;
  readonly lease_seconds: bigint;
  readonly restart?: string;
  readonly time_zone?: string;
  readonly format?: string | null;
  readonly period?: string | null;
  readonly created_at: string;
  readonly updated_at: string;
  /** Gapless sequences only. */
  readonly confirmed_through?: bigint | null;
  readonly reserved?: bigint;
  readonly free?: bigint;
  /** Fields a newer server adds. */
  readonly [field: string]: JsonValue | undefined;
}

export function sequenceOf(body: JsonValue | undefined): Sequence {
  const answer = objectOf(body);
  stringField(answer, 'name');
  bigintField(answer, 'start');
  return answer as Sequence;
}

/** One page of `GET /sequences`. */
export interface SequencePage {
  readonly sequences: Sequence[];
  /** Pass as `cursor` for the next page; null on the last page. */
  readonly next_cursor: string | null;
}

export function pageOf(body: JsonValue | undefined): SequencePage {
  const answer = objectOf(body);
  const sequences = answer.sequences;
  if (!Array.isArray(sequences)) throw unexpected('sequences array', answer);
  const cursor = answer.next_cursor;
  return { sequences: sequences.map(sequenceOf), next_cursor: typeof cursor === 'string' ? cursor : null };
}

/** What confirm, release and void answer. */
export interface Settled {
  readonly sequence_id: string;
  readonly value: bigint;
  /** `confirmed`, `free` (released) or `void`. */
  readonly state: string;
  /** A void's reason (null when none was given). */
  readonly reason?: string | null;
  readonly period?: string;
  readonly formatted?: string;
}

export function settledOf(body: JsonValue | undefined): Settled {
  const answer = objectOf(body);
  stringField(answer, 'state');
  bigintField(answer, 'value');
  return answer as unknown as Settled;
}

/** A scope of an API token: `admin` implies `read` and `next`. */
export type Scope = 'next' | 'read' | 'admin';

/** What `tan.token()` answers (`GET /token`), with the API's own field names. */
export interface TokenInfo {
  /** Whether the server needs a token: once any token exists. */
  readonly tokens_required: boolean;
  /** The token the client sent; null when none is required (a token sent then is not checked). */
  readonly token: {
    readonly name: string;
    /** As created: `admin` implies `read` and `next`. */
    readonly scopes: readonly Scope[];
    /** Only sequences whose names start with this; null for every sequence. */
    readonly prefix: string | null;
    /** ISO 8601, UTC. */
    readonly created_at: string;
    /** When it stops being accepted (ISO 8601, UTC); null for never. */
    readonly expires_at: string | null;
  } | null;
}

/** Reads a `GET /token` answer. */
export function tokenInfoOf(body: JsonValue | undefined): TokenInfo {
  const answer = objectOf(body);
  const required = answer.tokens_required;
  if (typeof required !== 'boolean') throw unexpected('boolean tokens_required', answer);
  if (answer.token === null) return { tokens_required: required, token: null };
  const token = objectOf(answer.token);
  stringField(token, 'name');
  if (!Array.isArray(token.scopes)) throw unexpected('scopes array', answer);
  return answer as unknown as TokenInfo;
}
