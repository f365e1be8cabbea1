import { AppError } from './errors.js';
import type { AllocationRequest, SequenceStore } from './store/store.js';

export interface Allocation {
  readonly first: bigint;
  readonly last: bigint;
  /** True when this is the recorded answer to an earlier request with the same idempotency key. */
  readonly replayed: boolean;
}

interface Pending extends AllocationRequest {
  resolve(allocation: Allocation): void;
  reject(error: AppError): void;
}

export interface AllocatorOptions {
  /** Called once per failed commit, with the store's error (the waiting requests get `store_unavailable`). */
  readonly onStoreError?: (error: unknown) => void;
  /** Most requests one transaction takes; the rest wait for the next one. */
  readonly maxBatch?: number;
}

/**
 * Group commit. Requests are queued; at the end of the event-loop turn (and,
 * while a commit is running, until it ends) they go to the store as one
 * batch: one transaction, one fsync, for all of them. A request's promise
 * settles only after the store has made its values durable. Requests keep
 * their arrival order within a batch and batches never overlap, so values of
 * one sequence follow the order in which requests arrived.
 */
export class Allocator {
  readonly #store: SequenceStore;
  readonly #onStoreError: (error: unknown) => void;
  readonly #maxBatch: number;
  #queue: Pending[] = [];
  #flushScheduled = false;
  #committing: Promise<void> | undefined;
  #closed = false;

  constructor(store: SequenceStore, options: AllocatorOptions = {}) {
    this.#store = store;
    this.#onStoreError = options.onStoreError ?? (() => undefined);
    this.#maxBatch = options.maxBatch ?? 4096;
  }

  /** Takes `request.count` consecutive values of a sequence (the request must be valid). */
  allocate(request: AllocationRequest): Promise<Allocation> {
    if (this.#closed) return Promise.reject(new AppError('shutting_down'));
    return new Promise<Allocation>((resolve, reject) => {
      this.#queue.push({ ...request, resolve, reject });
      this.#scheduleFlush();
    });
  }

  /** Refuses new requests and waits until every queued one is answered. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#committing !== undefined || this.#queue.length > 0) {
      if (this.#committing === undefined) this.#flush();
      await this.#committing;
    }
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#committing !== undefined) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      if (this.#committing === undefined) this.#flush();
    });
  }

  #flush(): void {
    const batch = this.#queue.length <= this.#maxBatch ? this.#queue : this.#queue.slice(0, this.#maxBatch);
    this.#queue = batch === this.#queue ? [] : this.#queue.slice(this.#maxBatch);
    if (batch.length === 0) return;
    this.#committing = this.#commit(batch).finally(() => {
      this.#committing = undefined;
      if (this.#queue.length > 0) this.#scheduleFlush();
    });
  }

  async #commit(batch: Pending[]): Promise<void> {
    let outcomes;
    try {
      outcomes = await this.#store.allocate(batch);
      if (outcomes.length !== batch.length) {
        throw new Error(`the store answered ${outcomes.length} outcomes for ${batch.length} requests`);
      }
    } catch (error) {
      this.#onStoreError(error);
      const failure = new AppError('store_unavailable', undefined, { cause: error });
      // Requests that queued while the store was failing fail with the batch: each
      // answers within about one store timeout instead of piling up behind it.
      const waiting = this.#queue;
      this.#queue = [];
      for (const request of batch) request.reject(failure);
      for (const request of waiting) request.reject(failure);
      return;
    }
    for (let i = 0; i < batch.length; i += 1) {
      const request = batch[i] as Pending;
      const outcome = outcomes[i] as (typeof outcomes)[number];
      if (outcome.ok) request.resolve({ first: outcome.first, last: outcome.last, replayed: outcome.replayed });
      else request.reject(refusal(request, outcome.reason));
    }
  }
}

function refusal(request: AllocationRequest, reason: 'exhausted' | 'not_found' | 'key_reused'): AppError {
  switch (reason) {
    case 'exhausted':
      return new AppError('sequence_exhausted', `Sequence '${request.name}' has no ${request.count === 1n ? 'value' : `${request.count} values`} left within its bounds.`);
    case 'not_found':
      return new AppError('sequence_not_found', `No sequence '${request.name}' (this server does not create sequences on first use).`);
    case 'key_reused':
      return new AppError('idempotency_key_reused');
  }
}
