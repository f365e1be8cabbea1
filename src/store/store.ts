/**
 * The storage contract: everything the allocator and the commands need from a
 * store, and nothing about HTTP. One implementation per backend.
 */

export interface AllocationRequest {
  readonly name: string;
  /** How many consecutive values to take; at least 1. */
  readonly count: bigint;
}

export type AllocationOutcome =
  | { readonly ok: true; readonly first: bigint; readonly last: bigint }
  | { readonly ok: false; readonly reason: 'exhausted' };

export interface ImportSummary {
  readonly created: number;
  readonly raised: number;
  /** Entries whose sequence was already at or beyond the imported value. */
  readonly unchanged: number;
}

export interface SequenceStore {
  /** Where the data lives, for messages and logs (never contains secrets). */
  readonly location: string;

  /**
   * Serves every request, in array order (so within one sequence values follow
   * the order of the requests), in one transaction. Resolves only once that
   * transaction is durable on disk. Rejects when it did not commit; then no
   * outcome of the batch may be handed out.
   */
  allocate(requests: readonly AllocationRequest[]): Promise<AllocationOutcome[]>;

  /**
   * Sets each sequence's last issued value to the given one unless it is
   * already higher: never lowers a counter. All or nothing, in one transaction.
   */
  importLastValues(entries: ReadonlyMap<string, bigint>): Promise<ImportSummary>;

  /** Every sequence with its last issued value, ordered by name. */
  exportLastValues(): AsyncIterable<readonly [name: string, lastValue: bigint]>;

  /** Resolves when the store can serve; rejects with the reason otherwise. */
  ping(): Promise<void>;

  close(): Promise<void>;
}

/** The store cannot be opened or used as asked: a message for a person, naming the store and the cause. */
export class StoreOpenError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StoreOpenError';
  }
}

/** Another process holds the store's writer lock. */
export class StoreLockedError extends StoreOpenError {
  constructor(message: string) {
    super(message);
    this.name = 'StoreLockedError';
  }
}
