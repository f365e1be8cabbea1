import { AppError } from '../errors.js';
import type { SettledAnswer } from './gapless.js';
import { StoreUnavailableError, type AllocationOutcome, type AllocationRequest, type SequenceStore, type SettleOutcome, type SettleRequest } from './store.js';

/** What a request gets: the store's outcome of it, without `ok` (refusals reject instead). */
export type Allocation = Omit<Extract<AllocationOutcome, { ok: true }>, 'ok'>;

/** A settled gapless reservation, and whether this was the same action again. */
export interface Settled extends SettledAnswer {
  readonly replayed: boolean;
}

/** What the allocator tells `onCommit` about one commit. */
export interface CommitInfo {
  /** Requests the commit carried (allocations and settlements; one transaction for each kind). */
  readonly size: number;
  /** How long the store took to confirm or fail it, in milliseconds. */
  readonly durationMs: number;
  /** False when the store failed or the commit outlived `commitTimeoutMs`: its requests got `store_unavailable`. */
  readonly ok: boolean;
}

/**
 * A request waiting for its commit, beside its promise's settlers. Kept apart
 * rather than spread into one object: `{ ...request, resolve, reject }` takes
 * V8's slow path for object spread (about 2 µs a request under load, measured
 * in a CPU profile of the hot path), where three fields take a few nanoseconds.
 */
interface Pending {
  readonly request: AllocationRequest;
  resolve(allocation: Allocation): void;
  reject(error: Error): void;
}

interface PendingSettle {
  readonly request: SettleRequest;
  resolve(settled: Settled): void;
  reject(error: Error): void;
}

export interface AllocatorOptions {
  /** Called once per failed commit, with the store's error (the waiting requests get `store_unavailable`). */
  readonly onStoreError?: (error: unknown) => void;
  /** Called when requests start being refused as `overloaded`, once per episode, with the limit. */
  readonly onOverload?: (maxPending: number) => void;
  /** Called once per commit (one transaction for a batch of requests), when the store has confirmed or failed it. */
  readonly onCommit?: (info: CommitInfo) => void;
  /** Most requests one transaction takes; the rest wait for the next one. */
  readonly maxBatch?: number;
  /**
   * Most requests accepted and not yet answered; more are refused at once
   * with `overloaded` (503 with Retry-After), taking nothing. Bounds memory
   * and waiting time when clients send more than the store can commit.
   * Default: no limit; buildApp passes serve's (--max-pending, settings.ts).
   */
  readonly maxPending?: number;
  /**
   * How long a commit may take before its requests (and those queued behind
   * it) fail with `store_unavailable` (default: no limit). The commit itself
   * cannot be cancelled: values it took are never handed out, only skipped,
   * and no new commit starts until it ends.
   */
  readonly commitTimeoutMs?: number;
  /**
   * Asked at the end of an event-loop turn, before its batch is committed:
   * true when more requests are on their way (the HTTP server accepted a
   * connection during the turn: Node accepts one a turn, so a burst of new
   * connections reaches the allocator one turn at a time). The batch then
   * waits one more turn, at most MAX_GATHER_TURNS turns and MAX_GATHER_MS
   * in all, so that such a burst is committed together instead of one commit
   * (and one fsync) a connection. Default: never.
   */
  readonly gatherMore?: () => boolean;
}

/** The most turns a batch waits for more requests (AllocatorOptions.gatherMore). */
export const MAX_GATHER_TURNS = 64;

/** The longest a batch waits for more requests, in ms, however many turns that is. */
export const MAX_GATHER_MS = 5;

/**
 * Group commit. Requests are queued; at the end of the event-loop turn (and,
 * while a commit is running, until it ends; while new connections are being
 * accepted, a few turns later: AllocatorOptions.gatherMore) they go to the
 * store as one batch: one transaction, one fsync, for all of them (settlements of gapless
 * reservations queue beside allocations and go as a second batch of the same
 * commit). A request's promise
 * settles only after the store has made its values durable. Requests keep
 * their arrival order within a batch and batches never overlap, so values of
 * one sequence follow the order in which requests arrived.
 */
export class Allocator {
  readonly #store: SequenceStore;
  readonly #onStoreError: (error: unknown) => void;
  readonly #onOverload: (maxPending: number) => void;
  readonly #onCommit: (info: CommitInfo) => void;
  readonly #maxBatch: number;
  readonly #maxPending: number;
  readonly #commitTimeoutMs: number | undefined;
  readonly #gatherMore: (() => boolean) | undefined;
  /** Turns the batch being gathered has waited for more requests, and since when (performance.now()). */
  #gatherTurns = 0;
  #gatherSince = 0;
  #queue: Pending[] = [];
  #settlements: PendingSettle[] = [];
  /** Requests accepted and not yet answered: queued or in the commit. */
  #pending = 0;
  #overloaded = false;
  #flushScheduled = false;
  #committing: Promise<void> | undefined;
  /** Set while a commit has outlived commitTimeoutMs: new requests fail at once. */
  #stalled = false;
  #closed = false;

  constructor(store: SequenceStore, options: AllocatorOptions = {}) {
    this.#store = store;
    this.#onStoreError = options.onStoreError ?? (() => undefined);
    this.#onOverload = options.onOverload ?? (() => undefined);
    this.#onCommit = options.onCommit ?? (() => undefined);
    this.#maxBatch = options.maxBatch ?? 4096;
    this.#maxPending = options.maxPending ?? Number.POSITIVE_INFINITY;
    this.#commitTimeoutMs = options.commitTimeoutMs;
    this.#gatherMore = options.gatherMore;
  }

  /** Requests accepted and not yet answered. */
  get pending(): number {
    return this.#pending;
  }

  /** Takes `request.count` consecutive values of a sequence (the request must be valid). */
  allocate(request: AllocationRequest): Promise<Allocation> {
    const refused = this.#admit();
    if (refused !== undefined) return Promise.reject(refused);
    return new Promise<Allocation>((resolve, reject) => {
      this.#queue.push({ request, resolve, reject });
      this.#scheduleFlush();
    });
  }

  /** Confirms, releases or voids a gapless reservation; rejects with the refusal's AppError. */
  settle(request: SettleRequest): Promise<Settled> {
    const refused = this.#admit();
    if (refused !== undefined) return Promise.reject(refused);
    return new Promise<Settled>((resolve, reject) => {
      this.#settlements.push({ request, resolve, reject });
      this.#scheduleFlush();
    });
  }

  /** Counts a new request in, or says why it is refused at once. */
  #admit(): Error | undefined {
    if (this.#closed) return new AppError('shutting_down');
    if (this.#stalled) return stalledError(this.#commitTimeoutMs ?? 0);
    if (this.#pending >= this.#maxPending) {
      if (!this.#overloaded) {
        this.#overloaded = true;
        this.#onOverload(this.#maxPending);
      }
      return new AppError('overloaded', undefined, { retryAfterSeconds: 1 });
    }
    this.#overloaded = false;
    this.#pending += 1;
    return undefined;
  }

  /** Refuses new requests and waits until every queued one is answered. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#committing !== undefined || this.#queue.length > 0 || this.#settlements.length > 0) {
      if (this.#committing === undefined) this.#flush();
      await this.#committing;
    }
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#committing !== undefined) return;
    this.#flushScheduled = true;
    setImmediate(this.#turnEnded);
  }

  /** At the end of a turn with requests queued: the batch is committed, or waits one more turn for more (gatherMore). */
  readonly #turnEnded = (): void => {
    if (this.#gatherMore?.() === true && this.#gatherTurns < MAX_GATHER_TURNS) {
      const now = performance.now();
      if (this.#gatherTurns === 0) this.#gatherSince = now;
      if (now - this.#gatherSince < MAX_GATHER_MS) {
        this.#gatherTurns += 1;
        setImmediate(this.#turnEnded);
        return;
      }
    }
    this.#gatherTurns = 0;
    this.#flushScheduled = false;
    if (this.#committing === undefined) this.#flush();
  };

  #flush(): void {
    const batch = this.#queue.length <= this.#maxBatch ? this.#queue : this.#queue.slice(0, this.#maxBatch);
    this.#queue = batch === this.#queue ? [] : this.#queue.slice(this.#maxBatch);
    const settlements = this.#settlements.length <= this.#maxBatch ? this.#settlements : this.#settlements.slice(0, this.#maxBatch);
    this.#settlements = settlements === this.#settlements ? [] : this.#settlements.slice(this.#maxBatch);
    if (batch.length === 0 && settlements.length === 0) return;
    this.#committing = this.#commit(batch, settlements).finally(() => {
      this.#committing = undefined;
      if (this.#queue.length > 0 || this.#settlements.length > 0) this.#scheduleFlush();
    });
  }

  async #commit(batch: Pending[], settlements: PendingSettle[]): Promise<void> {
    // Set by the timer (a closure, so kept in an object for the type checker).
    const timedOut = { answered: false };
    let timer: NodeJS.Timeout | undefined;
    if (this.#commitTimeoutMs !== undefined) {
      timer = setTimeout(() => {
        timedOut.answered = true;
        this.#stalled = true;
        this.#onStoreError(new Error(`the store has not confirmed a commit in ${this.#commitTimeoutMs} ms`));
        this.#failAll(batch, settlements, stalledError(this.#commitTimeoutMs ?? 0));
      }, this.#commitTimeoutMs);
    }
    const started = performance.now();
    let stored = false;
    let outcomes: AllocationOutcome[] = [];
    let settled: SettleOutcome[] = [];
    try {
      if (batch.length > 0) outcomes = await this.#store.allocateBatch(batch.map((pending) => pending.request));
      if (settlements.length > 0) settled = await this.#store.settleBatch(settlements.map((pending) => pending.request));
      if (outcomes.length !== batch.length || settled.length !== settlements.length) {
        throw new Error(`the store answered ${outcomes.length + settled.length} outcomes for ${batch.length + settlements.length} requests`);
      }
      stored = true;
    } catch (error) {
      this.#onStoreError(error);
      // A fault of the store (StoreUnavailableError) or a bug: the HTTP layer tells them apart (errors.ts).
      if (!timedOut.answered) this.#failAll(batch, settlements, error instanceof Error ? error : new Error(String(error)));
      return;
    } finally {
      clearTimeout(timer);
      this.#stalled = false;
      this.#onCommit({ size: batch.length + settlements.length, durationMs: performance.now() - started, ok: stored && !timedOut.answered });
    }
    // After a timeout the requests were told it failed: the values are skipped, never handed out.
    if (timedOut.answered) return;
    this.#pending -= batch.length + settlements.length;
    for (let i = 0; i < batch.length; i += 1) {
      const pending = batch[i] as Pending;
      const outcome = outcomes[i] as AllocationOutcome;
      if (outcome.ok) {
        pending.resolve({
          first: outcome.first,
          last: outcome.last,
          replayed: outcome.replayed,
          grant: outcome.grant,
          tookExpired: outcome.tookExpired,
          labels: outcome.labels,
        });
      } else {
        pending.reject(refusal(pending.request, outcome.reason));
      }
    }
    for (let i = 0; i < settlements.length; i += 1) {
      const pending = settlements[i] as PendingSettle;
      const outcome = settled[i] as SettleOutcome;
      if (outcome.ok) pending.resolve({ ...outcome.answer, replayed: outcome.replayed });
      else pending.reject(settleRefusal(pending.request, outcome.reason));
    }
  }

  /**
   * Fails a batch and every request queued behind it: while the store fails
   * or hangs, each request is answered within about one timeout instead of
   * piling up behind the failing commit.
   */
  #failAll(batch: Pending[], settlements: PendingSettle[], failure: Error): void {
    const waiting = [...batch, ...settlements, ...this.#queue, ...this.#settlements];
    this.#queue = [];
    this.#settlements = [];
    this.#pending -= waiting.length;
    for (const pending of waiting) pending.reject(failure);
  }
}

function stalledError(timeoutMs: number): StoreUnavailableError {
  return new StoreUnavailableError(`the store has not confirmed a commit in ${timeoutMs} ms`, {
    clientMessage: 'The store has not confirmed a commit in time; try again.',
  });
}

function refusal(request: AllocationRequest, reason: (AllocationOutcome & { ok: false })['reason']): AppError {
  switch (reason) {
    case 'gapless_count':
      return new AppError('invalid_count', `Sequence '${request.name}' is gapless: it hands out one value (one reservation) a request; count must be 1.`);
    case 'exhausted':
      return new AppError('sequence_exhausted', `Sequence '${request.name}' has no ${request.count === 1n ? 'value' : `${request.count} values`} left within its bounds.`);
    case 'not_found':
      return new AppError('sequence_not_found', `No sequence '${request.name}' (this server does not create sequences on first use).`);
    case 'key_reused':
      return new AppError('idempotency_key_reused');
  }
}

function settleRefusal(request: SettleRequest, reason: (SettleOutcome & { ok: false })['reason']): AppError {
  switch (reason) {
    case 'not_found':
      return new AppError('reservation_not_found', `Sequence '${request.name}' issued no reservation '${request.id}'.`);
    case 'expired':
      return new AppError('reservation_expired', `Reservation '${request.id}' of '${request.name}' expired before it was settled; its value may be handed out again.`);
    case 'settled':
      return new AppError('reservation_settled', `Reservation '${request.id}' of '${request.name}' was already settled by another action.`);
  }
}
