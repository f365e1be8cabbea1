import { allocationOf, settledOf, tokenInfoOf, type Allocation, type Settled, type TokenInfo } from './answers.js';
import { NumberBuffer, type BufferOptions } from './buffer.js';
import { TakeANumberError } from './errors.js';
import { toInt64 } from './json.js';
import { path, Sequences, type Int64Input } from './sequences.js';
import { Transport } from './transport.js';

export interface TakeANumberOptions {
  /** The server, `http://` or `https://` (default `http://localhost:5000`). HTTPS uses Node's CA store: `NODE_EXTRA_CA_CERTS` works. */
  readonly url?: string;
  /** An API token, sent as `Authorization: Bearer`. */
  readonly token?: string;
  /** How long one attempt may take, answer included (default 5000 ms); then it fails with `timeout`. */
  readonly timeoutMs?: number;
  /** How many times a failed request is repeated when it may succeed later (default 3). */
  readonly retries?: number;
  /** The first wait between attempts (default 200 ms); it doubles each time, with jitter. */
  readonly retryBaseMs?: number;
  /** The longest wait between attempts, Retry-After aside (default 5000 ms). */
  readonly retryMaxMs?: number;
  /** Another `fetch` (default the global one). */
  readonly fetch?: typeof fetch;
}

export const DEFAULT_URL = 'http://localhost:5000';
export const DEFAULT_TIMEOUT_MS = 5000;
export const DEFAULT_RETRIES = 3;

export interface KeyOptions {
  /**
   * The key that makes retries of this call safe: 1 to 255 printable ASCII
   * characters, unique per logical call (and per sequence). Default: a new
   * random UUID per call, reused by its own retries.
   */
  readonly idempotencyKey?: string;
}

export interface AllocateOptions extends KeyOptions {
  /** How many consecutive values (default: one, in the plain answer shape). */
  readonly count?: Int64Input;
}

const KEY = /^[\x20-\x7e]{1,255}$/;

function keyOf(options: KeyOptions): string {
  const key = options.idempotencyKey ?? crypto.randomUUID();
  if (!KEY.test(key)) throw new TakeANumberError('invalid_idempotency_key', 'An Idempotency-Key is 1 to 255 printable ASCII characters.');
  return key;
}

/** A gapless value held by a reservation: confirm, release or void it before `expiresAt`. */
export class Reservation {
  constructor(
    private readonly client: TakeANumber,
    /** The sequence name. */
    readonly sequenceId: string,
    /** The value reserved. */
    readonly value: bigint,
    /** The reservation id: the capability to settle it (keep it like a token). */
    readonly reservation: string,
    /** When the lease ends; after that the value may go to someone else. */
    readonly expiresAt: Date,
    /** The whole answer (period, formatted, replayed…). */
    readonly allocation: Allocation,
  ) {}

  /** The value is used, for good. */
  confirm(): Promise<Settled> {
    return this.client.confirm(this.sequenceId, this.reservation);
  }

  /** The value is not used: it is handed out again (lowest first). */
  release(): Promise<Settled> {
    return this.client.release(this.sequenceId, this.reservation);
  }

  /** The value is used and cancelled, on record with the reason (at most 500 characters). */
  void(reason?: string): Promise<Settled> {
    return this.client.void(this.sequenceId, this.reservation, reason);
  }
}

/**
 * A TakeANumber server. Every 64-bit value is a bigint read exactly; every
 * failure a TakeANumberError. `next`, `allocate` and `reserve` send one
 * `Idempotency-Key` per call and repeat it on every retry, so a retry after
 * a lost answer gets the value the server recorded, never a second one.
 */
export class TakeANumber {
  /** The management endpoints: get, list, all, put, reset, delete. */
  readonly sequences: Sequences;
  /** @internal */
  readonly transport: Transport;

  constructor(options: TakeANumberOptions = {}) {
    const url = (options.url ?? DEFAULT_URL).replace(/\/+$/, '');
    if (!/^https?:\/\/[^/]/i.test(url)) throw new TypeError(`url must be an http:// or https:// URL, got ${JSON.stringify(options.url)}`);
    this.transport = new Transport({
      url,
      token: options.token,
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      retries: options.retries ?? DEFAULT_RETRIES,
      retryBaseMs: options.retryBaseMs ?? 200,
      retryMaxMs: options.retryMaxMs ?? 5000,
      fetch: options.fetch ?? globalThis.fetch,
    });
    this.sequences = new Sequences(this.transport);
  }

  /** Takes the next value of `name` (created on first use unless the server runs with --no-auto-create). */
  async next(name: string, options: KeyOptions = {}): Promise<bigint> {
    return (await this.take(name, undefined, keyOf(options))).first;
  }

  /** Takes `count` consecutive values (default 1) and answers the whole answer. */
  async allocate(name: string, options: AllocateOptions = {}): Promise<Allocation> {
    const count = options.count === undefined ? undefined : toInt64(options.count, 'count');
    return this.take(name, count, keyOf(options));
  }

  /**
   * Reserves the next value of a gapless sequence. A sequence that is not
   * gapless is refused with `not_gapless` (its value was taken: a gap).
   */
  async reserve(name: string, options: KeyOptions = {}): Promise<Reservation> {
    const allocation = await this.take(name, undefined, keyOf(options));
    if (allocation.reservation === undefined || allocation.expiresAt === undefined) {
      throw new TakeANumberError('not_gapless', `Sequence '${name}' is not gapless: reserve() is for gapless sequences, use next().`, { status: 200 });
    }
    return new Reservation(this, allocation.sequenceId, allocation.first, allocation.reservation, allocation.expiresAt, allocation);
  }

  /** Confirms a reservation by its id (retried safely: the server answers a repeat the same). */
  confirm(name: string, reservation: string): Promise<Settled> {
    return this.settle(name, reservation, 'confirm', undefined);
  }

  /** Releases a reservation by its id. */
  release(name: string, reservation: string): Promise<Settled> {
    return this.settle(name, reservation, 'release', undefined);
  }

  /** Voids a reservation by its id, with an optional reason. */
  void(name: string, reservation: string, reason?: string): Promise<Settled> {
    return this.settle(name, reservation, 'void', reason);
  }

  /**
   * `GET /token`: whether the server needs a token, and the name, scopes,
   * prefix and expiry of the one this client sends (any valid token may ask;
   * without a valid one, once tokens exist, it fails with `unauthorized`).
   */
  async token(): Promise<TokenInfo> {
    return tokenInfoOf((await this.transport.send({ method: 'GET', path: '/token', retry: 'safe' })).body);
  }

  /**
   * A local buffer of values of `name`, taken `batch` at a time and handed
   * out in order from memory. Values still in it when the process ends (or
   * it is closed) are skipped, never handed out: the same trade as `cache`.
   */
  buffer(name: string, options: BufferOptions): NumberBuffer {
    return new NumberBuffer(this.transport, name, options);
  }

  /** One `/next` call with its key, retried safely. */
  private async take(name: string, count: bigint | undefined, key: string): Promise<Allocation> {
    const query = count === undefined ? '' : `?count=${count}`;
    const answer = await this.transport.send({
      method: 'POST',
      path: `/next/${encodeURIComponent(name)}${query}`,
      headers: { 'idempotency-key': key },
      retry: 'safe',
    });
    return allocationOf(answer.body, answer.headers.get('idempotent-replayed') === 'true');
  }

  private async settle(name: string, reservation: string, action: 'confirm' | 'release' | 'void', reason: string | undefined): Promise<Settled> {
    const answer = await this.transport.send({
      method: 'POST',
      path: `${path(name)}/reservations/${encodeURIComponent(reservation)}/${action}`,
      ...(action === 'void' ? { body: reason === undefined ? {} : { reason } } : {}),
      retry: 'safe',
    });
    return settledOf(answer.body);
  }
}
