import { allocationOf, type Allocation } from './answers.js';
import { TakeANumberError } from './errors.js';
import type { Transport } from './transport.js';

export interface BufferOptions {
  /** How many values one range request takes (`?count=batch`), 1 to the server's --max-count. */
  readonly batch: number;
  /** Fetch the next range in the background when fewer values than this are left (default batch / 4). */
  readonly lowWater?: number;
}

/** A range of values still to hand out: `left` values from `next` on, `step` apart. */
interface Range {
  next: bigint;
  left: number;
  readonly step: bigint;
}

interface Waiter {
  readonly resolve: (value: bigint) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Values of one sequence, taken a range at a time and handed out in order
 * from memory. One range request is in flight at most, so ranges arrive in
 * the order the server allocated them; `next()` answers in call order.
 *
 * A range request has one Idempotency-Key, kept until it succeeds: a failed
 * request (retried by the transport, then again on the next demand) can
 * never take a second range where the first one was recorded.
 */
export class NumberBuffer {
  readonly batch: number;
  readonly lowWater: number;
  /** The range being handed out (its fields inlined: `next()` is the hot path). */
  private value = 0n;
  private step = 1n;
  private left = 0;
  /** Ranges received and not yet started, in order. */
  private readonly queued: Range[] = [];
  /** Values left in all (the current range's and the queued ones) as of the last `settle()`; `size` counts now. */
  private available = 0;
  /**
   * `take()` calls `settle()` once `left` falls to this: when the range runs
   * out, or when fewer than lowWater values are left in all. Between, a value
   * costs an addition and a comparison (`next()` is the hot path).
   */
  private watch = 0;
  private readonly waiters: Waiter[] = [];
  private fetching: Promise<void> | undefined;
  /** The key of the range request under way, kept until a request with it succeeds. */
  private key: string | undefined;
  private closed = false;
  private readonly abort = new AbortController();

  constructor(
    private readonly transport: Transport,
    /** The sequence name. */
    readonly name: string,
    options: BufferOptions,
  ) {
    if (!Number.isSafeInteger(options.batch) || options.batch < 1) throw new TypeError(`batch must be a whole number of at least 1, got ${options.batch}`);
    this.batch = options.batch;
    this.lowWater = options.lowWater ?? Math.floor(options.batch / 4);
    if (!Number.isSafeInteger(this.lowWater) || this.lowWater < 0) throw new TypeError(`lowWater must be a whole number, got ${options.lowWater}`);
  }

  /** Values left in memory (not counting a range on its way). */
  get size(): number {
    let queued = 0;
    for (const range of this.queued) queued += range.left;
    return this.left + queued;
  }

  /**
   * The next value. From memory when there is one (an already resolved
   * promise); otherwise once the next range arrives. Rejects only when the
   * range cannot be had (after the client's retries) or the buffer is closed.
   */
  next(): Promise<bigint> {
    if (this.left > 0 && this.waiters.length === 0) return Promise.resolve(this.take());
    if (this.closed) return Promise.reject(closedError());
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.serve();
      this.refill();
    });
  }

  /**
   * The next value if one is in memory, else undefined (and a refill
   * starts). For hot loops that can fall back to `await next()`.
   */
  nextSync(): bigint | undefined {
    if (this.left > 0 && this.waiters.length === 0) return this.take();
    if (!this.closed) this.refill();
    return undefined;
  }

  /** Stops refilling, rejects the calls still waiting with `closed`, waits for a request under way. Values left are skipped. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    for (const waiter of this.waiters.splice(0)) waiter.reject(closedError());
    this.left = 0;
    this.available = 0;
    this.watch = 0;
    this.queued.length = 0;
    await this.fetching;
  }

  /** Hands out the current range's next value; there is one. */
  private take(): bigint {
    const value = this.value;
    this.value = value + this.step;
    if (--this.left <= this.watch) this.settle();
    return value;
  }

  /** Moves to the next queued range when this one ran out, counts what is left, refills below lowWater. */
  private settle(): void {
    if (this.left === 0) {
      const range = this.queued.shift();
      if (range !== undefined) {
        this.value = range.next;
        this.step = range.step;
        this.left = range.left;
      }
    }
    let queued = 0;
    for (const range of this.queued) queued += range.left;
    this.available = this.left + queued;
    // available < lowWater  ⟺  left < lowWater - queued
    this.watch = Math.max(0, this.lowWater - queued - 1);
    if (this.available < this.lowWater && this.fetching === undefined) this.refill();
  }

  /** Answers the waiting calls, oldest first, from memory. */
  private serve(): void {
    while (this.left > 0 && this.waiters.length > 0) this.waiters.shift()?.resolve(this.take());
  }

  /** Starts a range request unless one is under way. */
  private refill(): void {
    if (this.fetching !== undefined || this.closed) return;
    const key = (this.key ??= crypto.randomUUID());
    this.fetching = this.transport
      .send({
        method: 'POST',
        path: `/next/${encodeURIComponent(this.name)}?count=${this.batch}`,
        headers: { 'idempotency-key': key },
        retry: 'safe',
        signal: this.abort.signal,
      })
      .then(
        async (answer) => {
          const allocation = allocationOf(answer.body, false);
          this.key = undefined;
          if (allocation.reservation !== undefined) await this.refuseGapless(allocation);
          this.received(allocation);
        },
        (error: unknown) => {
          throw this.explained(error);
        },
      )
      .then(
        () => {
          this.fetching = undefined;
          this.serve();
          if (!this.closed && (this.waiters.length > 0 || this.available < this.lowWater)) this.refill();
        },
        (error: unknown) => {
          this.fetching = undefined;
          // The range cannot be had: the calls waiting for it fail; the next call tries again (same key).
          for (const waiter of this.waiters.splice(0)) waiter.reject(this.closed ? closedError() : error);
        },
      );
  }

  private received(allocation: Allocation): void {
    if (allocation.count !== BigInt(this.batch)) {
      throw new TakeANumberError('unexpected_response', `Asked for ${this.batch} values of '${this.name}', got ${allocation.count}.`);
    }
    if (this.closed) return;
    const range = { next: allocation.first, left: this.batch, step: allocation.increment ?? 1n };
    if (this.left === 0) {
      this.value = range.next;
      this.step = range.step;
      this.left = range.left;
    } else {
      this.queued.push(range);
    }
    this.settle();
  }

  /** A gapless sequence (batch 1 gets a reservation): its value goes back, and the buffer refuses. */
  private async refuseGapless(allocation: Allocation): Promise<never> {
    await this.transport
      .send({
        method: 'POST',
        path: `/sequences/${encodeURIComponent(this.name)}/reservations/${encodeURIComponent(allocation.reservation ?? '')}/release`,
        retry: 'safe',
      })
      .catch(() => undefined); // its lease ends anyway
    throw gaplessError(this.name, undefined);
  }

  /** The server's 400 invalid_count on a batch of a gapless sequence, said plainly. */
  private explained(error: unknown): unknown {
    if (error instanceof TakeANumberError && error.code === 'invalid_count' && /gapless/i.test(error.message)) return gaplessError(this.name, error);
    return error;
  }
}

function gaplessError(name: string, cause: TakeANumberError | undefined): TakeANumberError {
  return new TakeANumberError(
    'invalid_count',
    `Sequence '${name}' is gapless: a buffer cannot hold its values (each is a reservation to confirm); use reserve().`,
    { status: 400, ...(cause === undefined ? {} : { cause }) },
  );
}

function closedError(): TakeANumberError {
  return new TakeANumberError('closed', 'The buffer is closed.');
}
