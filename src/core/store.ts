import type { GaplessImport, GaplessSummary, Grant, SettleAction, SettledAnswer, ValueState, ValueView } from './gapless.js';
import type { ImportEntry } from './import-rules.js';
import type { Period } from './period.js';
import type { AnswerLabels } from './periodic.js';
import type { IssuedRange, SequenceOptions, SequencePosition, SequenceState } from './sequence.js';

/**
 * The storage contract: everything the allocator, the admin API and the
 * commands need from a store, and nothing about HTTP. One implementation per
 * backend; the sequence arithmetic they share lives in sequence.ts.
 */

export interface IdempotentRequest {
  readonly key: string;
  /** The `count` the client sent, or undefined when it sent none (the answer's shape differs). */
  readonly requestCount: bigint | undefined;
}

export interface AllocationRequest {
  readonly name: string;
  /** How many consecutive values to take; at least 1. */
  readonly count: bigint;
  /**
   * Create a missing sequence with default options (else the outcome is
   * `not_found`); a deleted one comes back continuing after its high-water mark.
   */
  readonly create: boolean;
  readonly idempotency?: IdempotentRequest | undefined;
}

export type AllocationOutcome =
  | {
      readonly ok: true;
      readonly first: bigint;
      readonly last: bigint;
      /** True when this is the recorded answer to an earlier request with the same idempotency key. */
      readonly replayed: boolean;
      /** A gapless sequence's reservation of `first` (= `last`); undefined for every other sequence. */
      readonly grant: Grant | undefined;
      /** Gapless: the value was free because a reservation of it had expired (metrics count it, once). */
      readonly tookExpired: boolean;
      /** Period and formatted numbers (core/periodic.ts); undefined for a sequence with neither. */
      readonly labels: AnswerLabels | undefined;
    }
  /** `gapless_count`: more than one value asked of a gapless sequence. */
  | { readonly ok: false; readonly reason: 'exhausted' | 'not_found' | 'key_reused' | 'gapless_count' };

/** A confirm, release or void of a gapless reservation. */
export interface SettleRequest {
  readonly name: string;
  readonly id: string;
  readonly action: SettleAction;
  /** Void only: why (at most MAX_REASON_LENGTH characters, checked before). */
  readonly reason: string | undefined;
}

export type SettleOutcome =
  | { readonly ok: true; readonly answer: SettledAnswer; readonly replayed: boolean }
  | { readonly ok: false; readonly reason: 'not_found' | 'expired' | 'settled' };

export interface ValuesQuery {
  /** Only values in this state (at the store's now); all three when undefined. */
  readonly state: ValueState | undefined;
  /**
   * Only values after this one (keyset pagination): values are listed by
   * period (its label; '' for none), then ascending.
   */
  readonly after: { readonly period: string; readonly value: bigint } | undefined;
  readonly limit: number;
}

export interface SequenceRecord {
  readonly name: string;
  readonly options: SequenceOptions;
  /** The durable position: with cache > 1, the end of what has been reserved. */
  readonly position: SequencePosition;
  /** Every value handed out (reserved blocks included), kept across resets without force and deletes. */
  readonly issued: IssuedRange | undefined;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
  readonly updatedAt: number;
  /**
   * Set for a deleted sequence (a tombstone, ms since the epoch): invisible to
   * reads and listings, it keeps `issued` so the name, used again, continues after it.
   */
  readonly deletedAt: number | undefined;
  /** Gapless sequences: the first value of the series (core/gapless.ts), undefined before the first. */
  readonly seriesFirst: bigint | undefined;
  /** The current calendar period (core/period.ts), undefined before the first allocation with periods. */
  readonly period: Period | undefined;
  /** Gapless sequences (live ones): the counts and unbroken prefix at the store's now; undefined otherwise. */
  readonly gapless: GaplessSummary | undefined;
}

/** What `modifySequence`'s decision asks the store to write. */
export type SequenceWrite =
  | { readonly kind: 'none' }
  /** Writes a live sequence (over a tombstone too, which it replaces). */
  | {
      readonly kind: 'put';
      readonly options: SequenceOptions;
      readonly position: SequencePosition;
      readonly issued: IssuedRange | undefined;
      readonly seriesFirst: bigint | undefined;
      /** The recorded period: admin changes keep it (a change of restart or time zone applies from the next period). */
      readonly period: Period | undefined;
      /** Gapless: remove every stored value and reservation id of the sequence (a forced reset). */
      readonly clearGapless: boolean;
    }
  /** Deletes the sequence, its idempotency keys, gapless values and reservation ids, leaving a tombstone with these marks. */
  | { readonly kind: 'delete'; readonly tombstone: IssuedRange | undefined }
  /** Removes every trace of the name: sequence or tombstone, keys, gapless values and reservation ids. */
  | { readonly kind: 'forget' };

export interface ListQuery {
  /** Only names starting with this. */
  readonly prefix: string;
  /** Only names after this one (keyset pagination). */
  readonly after: string | undefined;
  readonly limit: number;
  /** List the tombstones of deleted sequences instead of the live ones. */
  readonly deleted?: boolean;
}

export interface ImportedSequence extends SequenceState {
  readonly name: string;
  /** The recorded calendar period (full format version 4); undefined for none and for older files. */
  readonly period?: Period | undefined;
}

/** A deleted name of the full format: the values it had handed out. */
export interface ImportedTombstone {
  readonly name: string;
  readonly issued: IssuedRange | undefined;
}

export interface ImportSummary {
  readonly created: number;
  readonly raised: number;
  /** Entries whose sequence was already at or beyond the imported value. */
  readonly unchanged: number;
  /** Deleted names recorded (tombstones of the full format). */
  readonly deleted: number;
}

/**
 * Gapless leases are judged by the store's clock, `now` in what follows: on
 * SQLite the server's (one process writes a store), on PostgreSQL the
 * database's (`clock_timestamp()`), so that every instance agrees on when a
 * lease ends.
 */
export interface SequenceStore {
  /** Where the data lives, for messages and logs (never contains secrets). */
  readonly location: string;

  /**
   * Serves every request, in array order (so within one sequence values follow
   * the order of the requests), recording idempotency keys with the values they
   * answer (core/idempotency.ts). Resolves only once every value it answers is
   * durable; rejects (a fault of the store: StoreUnavailableError) when it
   * cannot say so, and then no outcome of the batch may be handed out.
   * What is one transaction differs by store:
   * - SQLite: the whole batch, its keys included, is one transaction and one
   *   fsync; it commits or fails whole.
   * - PostgreSQL: each sequence's values are taken atomically (one statement for
   *   every `cache = 1` sequence of the batch with their keys; a block
   *   reservation; or a transaction with the row locked), but a batch is several
   *   commits: a rejected batch may have committed part of its values, which are
   *   then skipped (never handed out), and a key recorded with them replays
   *   them to a retry.
   */
  allocateBatch(requests: readonly AllocationRequest[]): Promise<AllocationOutcome[]>;

  /**
   * Settles gapless reservations, in array order, each decided by
   * `decideSettlement` (core/gapless.ts) on what the store holds at its now
   * and written atomically with that read; durable before it resolves, as
   * allocateBatch (SQLite: the batch is one transaction and one fsync;
   * PostgreSQL: one transaction per sequence of the batch, its row locked,
   * each request read and decided after the lock).
   * A request on a missing, deleted or non-gapless sequence is `not_found`.
   */
  settleBatch(requests: readonly SettleRequest[]): Promise<SettleOutcome[]>;

  /**
   * A gapless sequence's values that are not confirmed, ascending, as read at
   * the store's now (`viewOf`); undefined when there is no live sequence of
   * that name; empty for a sequence that is not gapless.
   */
  listValues(name: string, query: ValuesQuery): Promise<ValueView[] | undefined>;

  /**
   * What the full export format carries of a live gapless sequence beyond its
   * row (its series' first value, stored values, open reservation ids);
   * undefined for a missing or non-gapless sequence.
   */
  readGapless(name: string): Promise<GaplessImport | undefined>;

  getSequence(name: string): Promise<SequenceRecord | undefined>;

  /** Sequences ordered by name (byte order of their UTF-8). */
  listSequences(query: ListQuery): Promise<SequenceRecord[]>;

  /**
   * Reads the sequence and writes what `decide` returns, atomically (no
   * allocation or other change in between). `decide` sees a tombstone as a
   * record with `deletedAt` set, and may throw: then nothing is written.
   * Deleting a sequence deletes its idempotency keys.
   */
  modifySequence<T>(
    name: string,
    decide: (current: SequenceRecord | undefined) => { readonly write: SequenceWrite; readonly result: T },
  ): Promise<T>;

  /** Deletes idempotency keys recorded before `before` (ms since epoch), at most `limit`; returns how many. */
  purgeIdempotencyKeys(before: number, limit: number): Promise<number>;

  /**
   * Applies an import (import-rules.ts: seed values, whole sequences and
   * deleted names, each decided by `planImport` against what the store holds):
   * never moves a counter back, never makes a sequence hand out a value again.
   * All or nothing, in one transaction: an entry that cannot be applied safely
   * rejects the whole import with an ImportConflictError.
   */
  importSequences(entries: readonly ImportEntry[]): Promise<ImportSummary>;

  /** Resolves when the store can serve; rejects with the reason otherwise. */
  ping(): Promise<void>;

  close(): Promise<void>;
}

/**
 * The store cannot serve right now: its database is down or unreachable, a
 * write failed (a full disk, an I/O error), a statement timed out, its files
 * were found damaged, or a commit was not confirmed in time. Stores reject
 * with it for faults of the store only, never for a bug of ours (those keep
 * their own error, and become a 500); the HTTP layer answers it `503`
 * `store_unavailable` with `Retry-After`, in one place (errors.ts).
 */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions & { readonly clientMessage?: string }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
    this.clientMessage = options?.clientMessage;
  }

  /** What the client is told, when more than the catalogue's message. */
  readonly clientMessage: string | undefined;
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

