/**
 * What a gapless chaos history holds (helpers/gapless-history.ts checks it):
 * reservations and settlements with their times and outcomes, the kills, and
 * each sequence's state at the end.
 */
import { describeFailure, type Failure, type Kill } from './history.js';

export type SettleAction = 'confirm' | 'release' | 'void';
export type SettledState = 'confirmed' | 'free' | 'void';
export type ListedState = 'reserved' | 'free' | 'void';

/** A 200 to `/next` on a gapless sequence. `expiresAt` on the test's clock (see `GaplessRecorder.toTestClock`). */
export interface Reserved {
  readonly type: 'reserved';
  readonly value: bigint;
  readonly reservation: string;
  readonly expiresAt: number;
  readonly replayed: boolean;
}

/** A 200 to a confirm, release or void. */
export interface Settled {
  readonly type: 'settled';
  readonly value: bigint;
  readonly state: SettledState;
  /** Void answers: the reason echoed (null when none). Others: null. */
  readonly reason: string | null;
}

/**
 * A 200 read as the API promises, or a failure as in the other checker: an
 * error status; no answer (`unknown`: the connection failed or died, it may
 * or may not have been applied); an unreadable answer (always a violation).
 */
export type GaplessOutcome = Reserved | Settled | Failure;

interface Timed {
  /** performance.now() of the test process when the request was sent and when its outcome was known. */
  readonly invoked: number;
  readonly completed: number;
  readonly outcome: GaplessOutcome;
}

/** `POST /next/{sequence}` (with an Idempotency-Key or not). */
export interface ReserveOperation extends Timed {
  readonly kind: 'reserve';
  /** The process (instance and generation) it went to. */
  readonly process: string;
  readonly sequence: string;
  /** The sequence's lease_seconds. */
  readonly leaseSeconds: number;
  readonly key?: string | undefined;
}

/** `POST /sequences/{sequence}/reservations/{reservation}/{action}`. */
export interface SettleOperation extends Timed {
  readonly kind: 'settle';
  readonly process: string;
  readonly sequence: string;
  readonly reservation: string;
  readonly action: SettleAction;
  /** Void only: the reason sent, if any. */
  readonly reason?: string | undefined;
  readonly key?: undefined;
}

export type GaplessOperation = ReserveOperation | SettleOperation;
export type GaplessRequest = Omit<ReserveOperation, keyof Timed> | Omit<SettleOperation, keyof Timed>;

/** One value as `GET /sequences/{name}/values` lists it. */
export interface ListedValue {
  readonly value: bigint;
  readonly state: ListedState;
}

/**
 * A sequence at the end of the run: listed once every client had stopped and
 * every lease had ended, then drained (each free value reserved and confirmed,
 * by one client, reserve operations in the history invoked from
 * `drainStartedAt` on), then read again.
 */
export interface GaplessFinal {
  readonly sequence: string;
  /** The first value of its series (its start). */
  readonly first: bigint;
  /** When the listing before the drain was read (test clock). */
  readonly listedAt: number;
  readonly beforeDrain: readonly ListedValue[];
  readonly drainStartedAt: number;
  /** After the drain: `GET /sequences/{name}/values` and the counts and marks of `GET /sequences/{name}`. */
  readonly afterDrain: readonly ListedValue[];
  readonly reserved: number;
  readonly free: number;
  readonly confirmedThrough: bigint | null;
  readonly lastValue: bigint | null;
}

export interface GaplessHistory {
  readonly operations: readonly GaplessOperation[];
  readonly kills: readonly Kill[];
  readonly finals: readonly GaplessFinal[];
}

/** Records operations as they are invoked and completed, on one clock. */
export class GaplessRecorder {
  readonly operations: GaplessOperation[] = [];
  readonly kills: Kill[] = [];
  readonly finals: GaplessFinal[] = [];
  /**
   * The wall clock minus the test's clock, read once: re-reading it for every
   * answer (Date.now in whole ms, performance.now in fractions) made the same
   * server time convert to values up to a millisecond and more apart, so that
   * two answers of one replayed reservation looked like two leases.
   */
  readonly #offset = Date.now() - performance.now();

  /** Records `request`, invoked now; the returned function records its outcome, completed then. */
  invoke(request: GaplessRequest): (outcome: GaplessOutcome) => GaplessOperation {
    const invoked = performance.now();
    return (outcome) => {
      const operation = { ...request, invoked, completed: performance.now(), outcome } as GaplessOperation;
      this.operations.push(operation);
      return operation;
    };
  }

  /** A process is about to be killed (call before sending the signal). */
  kill(process: string): void {
    this.kills.push({ at: performance.now(), process });
  }

  /** A wall-clock time (ms since the epoch, e.g. a parsed `expires_at`) on the test's clock, as of now. */
  toTestClock(wallMs: number): number {
    return wallMs - this.#offset;
  }

  history(): GaplessHistory {
    return { operations: this.operations, kills: this.kills, finals: this.finals };
  }
}

/** One operation on one line, for violation messages. */
export function describeGapless(op: GaplessOperation): string {
  const request =
    op.kind === 'reserve' ? `reserve${op.key === undefined ? '' : ` key=${op.key}`}` : `${op.action} ${op.reservation}${op.reason === undefined ? '' : ` reason=${JSON.stringify(op.reason)}`}`;
  const { outcome } = op;
  const result =
    outcome.type === 'reserved'
      ? `ok ${outcome.value} ${outcome.reservation} expires ${outcome.expiresAt.toFixed(1)} ms${outcome.replayed ? ' (replayed)' : ''}`
      : outcome.type === 'settled'
        ? `ok ${outcome.value} ${outcome.state}${outcome.reason === null ? '' : ` (${outcome.reason})`}`
        : describeFailure(outcome);
  return `[${op.process} ${op.sequence} ${request} ${op.invoked.toFixed(1)}..${op.completed.toFixed(1)} ms: ${result}]`;
}
