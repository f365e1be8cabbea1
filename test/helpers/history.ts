/**
 * A history checker for the reliability (chaos) tests: a log of every `/next`
 * request the test made (where it went, what it asked, when it was invoked and
 * when it completed on the test's one monotonic clock, and what came back),
 * checked afterwards against the service's guarantees.
 *
 * The model (ascending sequences with increment 1, as the chaos tests use):
 *
 * - An operation is *acknowledged* when it got a 200 with values. An operation
 *   whose connection died (or that got no answer) has an *unknown* outcome: its
 *   values may or may not have been allocated, and it is never treated as
 *   acknowledged. An error answer (503 …) acknowledges nothing either.
 * - (a) Uniqueness: no value of a sequence lies in two different acknowledged
 *   allocations. The acknowledged answers of one Idempotency-Key are one
 *   allocation (a replay is not a duplicate).
 * - (b) Restarts: every value freshly allocated (not a replay) by an operation
 *   after a restart boundary is above every value acknowledged before the
 *   boundary. A boundary names the process that started (then it covers that
 *   process's operations), or none (then it covers every operation invoked
 *   after it).
 * - (c) Real time: for linearizable sequences (by default those with cache 1),
 *   if operation A completed before operation B was invoked, anywhere, A's
 *   values are below B's (B a fresh allocation; A may be a replay, whose values
 *   were allocated before it completed). Concurrent operations may come in any
 *   order.
 * - (d) Idempotency: every acknowledged answer of one key has the same values;
 *   a request with a key whose answer was acknowledged before it was sent is a
 *   replay (`Idempotent-Replayed: true`); a replay follows an earlier attempt
 *   with the key; one key names one request (sequence and count).
 * - (e) Per process order, for every sequence: within one process, a fresh
 *   allocation is above every fresh allocation of the same process that
 *   completed before it was invoked ("increasing per instance").
 * - Answers have the shape asked for (a batch of `count` values is
 *   `first..first+count-1`), errors are among those the test accepts, and a
 *   connection failure happens only on a process that was killed before it.
 */

/** What an operation asked for. */
export interface OperationRequest {
  /** The process (instance and generation) it was sent to, e.g. `p3` or `i2.g5`. */
  readonly process: string;
  readonly sequence: string;
  /** The sequence's cache setting (1: every value committed before it is answered). */
  readonly cache: number;
  /** `?count=N`; undefined for a single request. */
  readonly count?: number | undefined;
  /** The Idempotency-Key header, if any. */
  readonly key?: string | undefined;
}

export type OperationOutcome =
  /** A 200 with values, read exactly. */
  | { readonly type: 'ok'; readonly first: bigint; readonly last: bigint; readonly replayed: boolean }
  /** An answer with an error status (acknowledges nothing). */
  | { readonly type: 'error'; readonly status: number; readonly code: string | undefined }
  /** No answer: the connection failed or died. Its values may or may not have been allocated. */
  | { readonly type: 'unknown'; readonly reason: string }
  /** An answer that could not be read as the API promises (always a violation). */
  | { readonly type: 'invalid'; readonly status: number; readonly text: string };

export interface Operation extends OperationRequest {
  /** When the request was sent and when its outcome was known (performance.now() of the test process). */
  readonly invoked: number;
  readonly completed: number;
  readonly outcome: OperationOutcome;
}

/** A restart: a process started at `at` (or, without `process`, everything after `at` is a new epoch). */
export interface RestartBoundary {
  readonly at: number;
  readonly process?: string | undefined;
}

/** A process killed (SIGKILL) at `at`: connection failures on it from then on are expected. */
export interface Kill {
  readonly at: number;
  readonly process: string;
}

export interface History {
  readonly operations: readonly Operation[];
  readonly restarts: readonly RestartBoundary[];
  readonly kills: readonly Kill[];
}

export interface CheckOptions {
  /** Which operations' sequences are linearizable in real time (check c). Default: cache 1. */
  readonly linearizable?: (operation: Operation) => boolean;
  /** Which error answers are expected (e.g. 503 store_unavailable). Default: none. */
  readonly acceptError?: (status: number, code: string | undefined) => boolean;
  /** At most this many messages per kind of violation (the rest are counted). Default 50. */
  readonly maxMessagesPerCheck?: number;
}

export interface HistorySummary {
  /** Operations in the history. */
  readonly operations: number;
  /** Operations answered with values (replays included). */
  readonly acknowledged: number;
  /** Of those, replays (`Idempotent-Replayed: true`). */
  readonly replayed: number;
  /** Operations answered with an (accepted or not) error status. */
  readonly errors: number;
  /** Operations without an answer (outcome unknown). */
  readonly unknown: number;
  /** Distinct values in acknowledged allocations, over every sequence. */
  readonly numbersChecked: number;
  readonly violations: string[];
}

/** Records operations as they are invoked and completed, on one clock. */
export class HistoryRecorder {
  readonly operations: Operation[] = [];
  readonly restarts: RestartBoundary[] = [];
  readonly kills: Kill[] = [];

  /** Records `request`, invoked now; the returned function records its outcome, completed then. */
  invoke(request: OperationRequest): (outcome: OperationOutcome) => Operation {
    const invoked = performance.now();
    return (outcome) => {
      const operation: Operation = { ...request, invoked, completed: performance.now(), outcome };
      this.operations.push(operation);
      return operation;
    };
  }

  /** A process is about to be started (call before spawning it). */
  restart(process?: string): void {
    this.restarts.push({ at: performance.now(), process });
  }

  /** A process is about to be killed (call before sending the signal). */
  kill(process: string): void {
    this.kills.push({ at: performance.now(), process });
  }

  history(): History {
    return { operations: this.operations, restarts: this.restarts, kills: this.kills };
  }
}

type Acknowledged = Operation & { readonly outcome: { readonly type: 'ok'; readonly first: bigint; readonly last: bigint; readonly replayed: boolean } };

const isAcknowledged = (operation: Operation): operation is Acknowledged => operation.outcome.type === 'ok';
const isFresh = (operation: Operation): operation is Acknowledged => operation.outcome.type === 'ok' && !operation.outcome.replayed;

const ms = (time: number): string => time.toFixed(1);

/** An outcome without values, for violation messages (both checkers). */
export type Failure =
  | { readonly type: 'error'; readonly status: number; readonly code: string | undefined }
  | { readonly type: 'unknown'; readonly reason: string }
  | { readonly type: 'invalid'; readonly status: number; readonly text: string };

export function describeFailure(outcome: Failure): string {
  if (outcome.type === 'error') return `error ${outcome.status} ${outcome.code ?? '(no code)'}`;
  if (outcome.type === 'unknown') return `unknown (${outcome.reason})`;
  return `invalid ${outcome.status} ${outcome.text.slice(0, 200)}`;
}

/** One operation on one line, for violation messages. */
export function describeOperation(operation: Operation): string {
  const kind = `${operation.count === undefined ? 'single' : `count=${operation.count}`}${operation.key === undefined ? '' : ` key=${operation.key}`}`;
  const { outcome } = operation;
  const result = outcome.type === 'ok' ? `ok ${outcome.first}..${outcome.last}${outcome.replayed ? ' (replayed)' : ''}` : describeFailure(outcome);
  return `[${operation.process} ${operation.sequence} cache=${operation.cache} ${kind} ${ms(operation.invoked)}..${ms(operation.completed)} ms: ${result}]`;
}

/** Collects messages per check, keeping at most `limit` of each and counting the rest. */
export class Violations {
  private readonly kept = new Map<string, string[]>();
  private readonly dropped = new Map<string, number>();

  constructor(private readonly limit: number) {}

  add(check: string, message: string): void {
    const list = this.kept.get(check) ?? [];
    if (list.length < this.limit) {
      list.push(`${check}: ${message}`);
      this.kept.set(check, list);
    } else {
      this.dropped.set(check, (this.dropped.get(check) ?? 0) + 1);
    }
  }

  list(): string[] {
    const all: string[] = [];
    for (const [check, messages] of this.kept) {
      all.push(...messages);
      const more = this.dropped.get(check);
      if (more !== undefined) all.push(`${check}: … and ${more} more`);
    }
    return all;
  }
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const group = groups.get(keyOf(item));
    if (group === undefined) groups.set(keyOf(item), [item]);
    else group.push(item);
  }
  return groups;
}

/**
 * Real-time order within `operations` (one sequence): whenever A completed
 * before B was invoked and B is a fresh allocation (and `earlierCounts(A)`),
 * A's last value is below B's first. O(n log n): a sweep over invocations with
 * the highest value completed so far.
 */
function realTimeOrder(operations: readonly Acknowledged[], earlierCounts: (operation: Acknowledged) => boolean, report: (earlier: Acknowledged, later: Acknowledged) => void): void {
  const byCompletion = operations.filter(earlierCounts).sort((a, b) => a.completed - b.completed);
  const byInvocation = operations.filter((operation) => !operation.outcome.replayed).sort((a, b) => a.invoked - b.invoked);
  let done = 0;
  let highest: Acknowledged | undefined;
  for (const later of byInvocation) {
    for (let earlier = byCompletion[done]; earlier !== undefined && earlier.completed < later.invoked; earlier = byCompletion[++done]) {
      if (highest === undefined || earlier.outcome.last > highest.outcome.last) highest = earlier;
    }
    if (highest !== undefined && highest.outcome.last >= later.outcome.first) report(highest, later);
  }
}

/** Checks a history against the guarantees listed at the top of this file. */
export function checkHistory(history: History, options: CheckOptions = {}): HistorySummary {
  const linearizable = options.linearizable ?? ((operation: Operation) => operation.cache === 1);
  const acceptError = options.acceptError ?? (() => false);
  const violations = new Violations(options.maxMessagesPerCheck ?? 50);
  const { operations } = history;
  const acknowledged = operations.filter(isAcknowledged);

  // Answers: the shape asked for; errors accepted; no answer only from a killed process.
  const killedAt = new Map<string, number>();
  for (const kill of history.kills) killedAt.set(kill.process, Math.min(kill.at, killedAt.get(kill.process) ?? Infinity));
  for (const operation of operations) {
    const { outcome } = operation;
    if (outcome.type === 'ok') {
      const expected = BigInt(operation.count ?? 1);
      if (outcome.last - outcome.first + 1n !== expected) {
        violations.add('answer', `${expected} values asked, ${outcome.first}..${outcome.last} answered ${describeOperation(operation)}`);
      }
    } else if (outcome.type === 'error') {
      if (!acceptError(outcome.status, outcome.code)) violations.add('error', `unexpected error ${describeOperation(operation)}`);
    } else if (outcome.type === 'invalid') {
      violations.add('answer', `unreadable answer ${describeOperation(operation)}`);
    } else {
      const killed = killedAt.get(operation.process);
      if (killed === undefined || operation.completed < killed) {
        violations.add('connection', `no answer from ${operation.process}, which was ${killed === undefined ? 'never killed' : `killed only at ${ms(killed)} ms`} ${describeOperation(operation)}`);
      }
    }
  }

  // (d) Idempotency keys.
  const withKey = operations.filter((operation) => operation.key !== undefined);
  for (const [key, attempts] of groupBy(withKey, (operation) => operation.key ?? '')) {
    const first = attempts[0] as Operation;
    for (const attempt of attempts) {
      if (attempt.sequence !== first.sequence || attempt.count !== first.count) {
        violations.add('idempotency', `key ${key} used for different requests (a test error) ${describeOperation(first)} ${describeOperation(attempt)}`);
      }
    }
    const answered = attempts.filter(isAcknowledged).sort((a, b) => a.completed - b.completed);
    const reference = answered[0];
    for (const attempt of answered) {
      if (reference !== undefined && (attempt.outcome.first !== reference.outcome.first || attempt.outcome.last !== reference.outcome.last)) {
        violations.add('idempotency', `key ${key} answered differently: ${describeOperation(reference)} then ${describeOperation(attempt)}`);
      }
      if (reference !== undefined && reference.completed < attempt.invoked && !attempt.outcome.replayed) {
        violations.add('idempotency', `key ${key} acknowledged before, but a retry was not a replay: ${describeOperation(reference)} then ${describeOperation(attempt)}`);
      }
      if (attempt.outcome.replayed && !attempts.some((other) => other !== attempt && other.invoked < attempt.completed)) {
        violations.add('idempotency', `key ${key} replayed without an earlier attempt: ${describeOperation(attempt)}`);
      }
    }
  }

  // (a) Uniqueness: one allocation per acknowledged answer without a key, one per distinct answer of a key.
  let numbersChecked = 0n;
  for (const [sequence, answers] of groupBy(acknowledged, (operation) => operation.sequence)) {
    const allocations = new Map<string, Acknowledged>();
    answers.forEach((operation, index) => {
      const identity = operation.key === undefined ? `#${index}` : `${operation.key}\u0000${operation.outcome.first}\u0000${operation.outcome.last}`;
      if (!allocations.has(identity)) allocations.set(identity, operation);
    });
    const sorted = [...allocations.values()].sort((a, b) => (a.outcome.first < b.outcome.first ? -1 : a.outcome.first > b.outcome.first ? 1 : 0));
    let reach: Acknowledged | undefined;
    let covered = 0n;
    for (const operation of sorted) {
      const { first, last } = operation.outcome;
      if (last < first) continue; // reported above as a wrong answer
      if (reach !== undefined && first <= reach.outcome.last) {
        violations.add('uniqueness', `${sequence}: values ${first}..${last < reach.outcome.last ? last : reach.outcome.last} answered twice: ${describeOperation(reach)} and ${describeOperation(operation)}`);
      }
      const from = reach === undefined || first > reach.outcome.last ? first : reach.outcome.last + 1n;
      if (last >= from) covered += last - from + 1n;
      if (reach === undefined || last > reach.outcome.last) reach = operation;
    }
    numbersChecked += covered;
  }

  // (b) Restarts: fresh values after a boundary above every value acknowledged before it.
  for (const [sequence, answers] of groupBy(acknowledged, (operation) => operation.sequence)) {
    for (const boundary of history.restarts) {
      let before: Acknowledged | undefined;
      for (const operation of answers) {
        if (operation.completed < boundary.at && (before === undefined || operation.outcome.last > before.outcome.last)) before = operation;
      }
      if (before === undefined) continue;
      for (const operation of answers) {
        const inScope = boundary.process === undefined ? operation.invoked >= boundary.at : operation.process === boundary.process;
        if (inScope && isFresh(operation) && operation.outcome.first <= before.outcome.last) {
          violations.add(
            'restart',
            `${sequence}: ${operation.outcome.first} answered after the restart at ${ms(boundary.at)} ms${boundary.process === undefined ? '' : ` (${boundary.process})`}, but ${before.outcome.last} was acknowledged before it: ${describeOperation(before)} then ${describeOperation(operation)}`,
          );
        }
      }
    }
  }

  // (c) Real-time order across processes, for linearizable sequences.
  for (const [sequence, answers] of groupBy(acknowledged.filter(linearizable), (operation) => operation.sequence)) {
    realTimeOrder(answers, () => true, (earlier, later) => {
      violations.add('linearizability', `${sequence}: ${describeOperation(earlier)} completed before ${describeOperation(later)} was invoked, but its values are not below`);
    });
  }

  // (e) Order within each process, for every sequence.
  for (const [, answers] of groupBy(acknowledged, (operation) => `${operation.process}\u0000${operation.sequence}`)) {
    realTimeOrder(answers, (operation) => !operation.outcome.replayed, (earlier, later) => {
      violations.add('process order', `${later.sequence} on ${later.process}: ${describeOperation(earlier)} completed before ${describeOperation(later)} was invoked, but its values are not below`);
    });
  }

  return {
    operations: operations.length,
    acknowledged: acknowledged.length,
    replayed: acknowledged.filter((operation) => operation.outcome.replayed).length,
    errors: operations.filter((operation) => operation.outcome.type === 'error').length,
    unknown: operations.filter((operation) => operation.outcome.type === 'unknown').length,
    numbersChecked: Number(numbersChecked),
    violations: violations.list(),
  };
}

/** One line: cycles, requests, numbers checked, violations. */
export function formatSummary(label: string, cycles: number, summary: HistorySummary): string {
  return (
    `${label}: ${cycles} cycles, ${summary.operations} requests (${summary.acknowledged} acknowledged, ${summary.replayed} of them replays, ` +
    `${summary.errors} errors, ${summary.unknown} unknown), ${summary.numbersChecked} numbers checked, ${summary.violations.length} violations`
  );
}
