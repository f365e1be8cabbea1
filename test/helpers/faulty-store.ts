import type { GaplessImport, ValueView } from '../../src/core/gapless.js';
import type { ImportEntry } from '../../src/core/import-rules.js';
import {
  StoreUnavailableError,
  type AllocationOutcome,
  type AllocationRequest,
  type ImportSummary,
  type ListQuery,
  type SequenceRecord,
  type SequenceStore,
  type SettleOutcome,
  type SettleRequest,
  type ValuesQuery,
  type SequenceWrite,
} from '../../src/core/store.js';

/** What `allocate` does (every other method always delegates). */
export type FaultMode = 'pass' | 'fail-before-write' | 'fail-after-write' | 'hang';

/** The error a switched-on fault throws, so tests can tell it from a real store error. */
export class InjectedFault extends StoreUnavailableError {
  readonly code = 'EINJECTED';
  constructor(readonly mode: FaultMode) {
    super(`injected fault: ${mode}`);
    this.name = 'InjectedFault';
  }
}

/** One call the real store committed: the requests and the outcomes it computed. */
export interface Commit {
  readonly requests: readonly AllocationRequest[];
  readonly outcomes: readonly AllocationOutcome[];
}

/**
 * A SequenceStore around a real one (SQLite, PostgreSQL: any) whose
 * `allocate` can be switched, by the test, to:
 * - `fail-before-write`: throw without calling the real store (nothing is written);
 * - `fail-after-write`: call the real store (which commits), then throw;
 * - `hang`: wait until the test calls `release()`, then call the real store;
 * - `pass`: call the real store.
 * The mode is read when a call starts. Every other method delegates.
 */
export class FaultyStore implements SequenceStore {
  readonly inner: SequenceStore;
  #mode: FaultMode = 'pass';
  #gate: Promise<void> | undefined;
  #openGate: () => void = () => undefined;
  #inFlight = 0;
  #hanging = 0;
  #idleWaiters: (() => void)[] = [];
  #hangWaiters: (() => void)[] = [];
  /**
   * Commits the real store made (durably) although the caller was told they
   * failed: their values must be skipped, never answered (except to a retry of
   * one of their idempotency keys, which the store recorded with them).
   */
  readonly failedAfterWrite: Commit[] = [];
  /**
   * Calls that waited at the gate, as the real store committed them after
   * `release()`. When the allocator gave up on them (commit timeout), their
   * values must be skipped like those of `failedAfterWrite`.
   */
  readonly releasedAfterHang: Commit[] = [];
  /** How many `allocate` calls reached the real store, and how many requests they carried. */
  readonly delegated = { calls: 0, requests: 0 };

  constructor(inner: SequenceStore) {
    this.inner = inner;
  }

  get location(): string {
    return this.inner.location;
  }

  get mode(): FaultMode {
    return this.#mode;
  }

  /** `allocate` calls waiting for `release()` right now. */
  get hanging(): number {
    return this.#hanging;
  }

  /** Switches the mode for calls that start from now on; `hang` closes a new gate (see `release`). */
  setMode(mode: FaultMode): void {
    if (mode === 'hang' && this.#gate === undefined) {
      this.#gate = new Promise<void>((resolve) => (this.#openGate = resolve));
    }
    this.#mode = mode;
  }

  /**
   * Ends the fault: back to `pass`, and the calls waiting at the gate go on to
   * the real store. Resolves once no call is in flight any more.
   */
  release(): Promise<void> {
    this.#mode = 'pass';
    this.#openGate();
    this.#gate = undefined;
    return this.idle();
  }

  /** Resolves when no `allocate` call is in flight (at once if none is). */
  idle(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Resolves once at least `count` calls are waiting at the gate. */
  async waitForHanging(count = 1): Promise<void> {
    while (this.#hanging < count) await new Promise<void>((resolve) => this.#hangWaiters.push(resolve));
  }

  async allocateBatch(requests: readonly AllocationRequest[]): Promise<AllocationOutcome[]> {
    const mode = this.#mode;
    this.#inFlight += 1;
    try {
      if (mode === 'fail-before-write') throw new InjectedFault(mode);
      if (mode === 'hang' && this.#gate !== undefined) {
        const gate = this.#gate;
        this.#hanging += 1;
        for (const wake of this.#hangWaiters.splice(0)) wake();
        try {
          await gate;
        } finally {
          this.#hanging -= 1;
        }
      }
      this.delegated.calls += 1;
      this.delegated.requests += requests.length;
      const outcomes = await this.inner.allocateBatch(requests);
      if (mode === 'fail-after-write') {
        this.failedAfterWrite.push({ requests: [...requests], outcomes });
        throw new InjectedFault(mode);
      }
      if (mode === 'hang') this.releasedAfterHang.push({ requests: [...requests], outcomes });
      return outcomes;
    } finally {
      this.#inFlight -= 1;
      if (this.#inFlight === 0) for (const wake of this.#idleWaiters.splice(0)) wake();
    }
  }

  getSequence(name: string): Promise<SequenceRecord | undefined> {
    return this.inner.getSequence(name);
  }

  listSequences(query: ListQuery): Promise<SequenceRecord[]> {
    return this.inner.listSequences(query);
  }

  modifySequence<T>(
    name: string,
    decide: (current: SequenceRecord | undefined) => { readonly write: SequenceWrite; readonly result: T },
  ): Promise<T> {
    return this.inner.modifySequence(name, decide);
  }

  purgeIdempotencyKeys(before: number, limit: number): Promise<number> {
    return this.inner.purgeIdempotencyKeys(before, limit);
  }

  importSequences(entries: readonly ImportEntry[]): Promise<ImportSummary> {
    return this.inner.importSequences(entries);
  }

  settleBatch(requests: readonly SettleRequest[]): Promise<SettleOutcome[]> {
    return this.inner.settleBatch(requests);
  }

  listValues(name: string, query: ValuesQuery): Promise<ValueView[] | undefined> {
    return this.inner.listValues(name, query);
  }

  readGapless(name: string): Promise<GaplessImport | undefined> {
    return this.inner.readGapless(name);
  }

  ping(): Promise<void> {
    return this.inner.ping();
  }

  close(): Promise<void> {
    // A test that failed half-way must not leave a call hanging (the allocator's close would wait for it).
    this.#openGate();
    return this.inner.close();
  }
}
