import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkHistory, formatSummary, HistoryRecorder, type CheckOptions, type History, type Kill, type Operation, type OperationOutcome, type RestartBoundary } from './helpers/history.js';

/**
 * The chaos tests' history checker on hand-made histories: clean ones pass,
 * and each kind of violation is caught (a checker that cannot fail proves
 * nothing).
 */

interface Spec {
  readonly process?: string;
  readonly sequence?: string;
  readonly cache?: number;
  readonly count?: number;
  readonly key?: string;
  /** Invoked and completed (ms). */
  readonly at: readonly [number, number];
}

const ok = (first: number, last = first, replayed = false): OperationOutcome => ({ type: 'ok', first: BigInt(first), last: BigInt(last), replayed });
const replay = (first: number, last = first): OperationOutcome => ok(first, last, true);
const unknown: OperationOutcome = { type: 'unknown', reason: 'fetch failed: ECONNRESET' };
const unavailable: OperationOutcome = { type: 'error', status: 503, code: 'store_unavailable' };

function op(spec: Spec, outcome: OperationOutcome): Operation {
  return {
    process: spec.process ?? 'p1',
    sequence: spec.sequence ?? 's',
    cache: spec.cache ?? 1,
    count: spec.count,
    key: spec.key,
    invoked: spec.at[0],
    completed: spec.at[1],
    outcome,
  };
}

function check(operations: Operation[], extra: { restarts?: RestartBoundary[]; kills?: Kill[] } = {}, options: CheckOptions = {}) {
  const history: History = { operations, restarts: extra.restarts ?? [], kills: extra.kills ?? [] };
  return checkHistory(history, options);
}

/** Exactly one violation, of the given kind. */
function assertCaught(violations: readonly string[], kind: string): void {
  assert.equal(violations.length, 1, `one violation expected, got: ${JSON.stringify(violations, null, 2)}`);
  assert.ok(violations[0]?.startsWith(`${kind}: `), violations[0]);
}

describe('history checker: clean histories pass', () => {
  test('sequential and concurrent singles and batches, a replay, an unknown outcome, a restart', () => {
    const summary = check(
      [
        op({ at: [0, 1] }, ok(1)),
        op({ at: [2, 3], count: 3 }, ok(2, 4)),
        // Concurrent: either order is fine.
        op({ at: [4, 8] }, ok(6)),
        op({ at: [5, 7], count: 1 }, ok(5)),
        op({ at: [9, 10], key: 'k1', count: 2 }, ok(7, 8)),
        op({ at: [11, 12], key: 'k1', count: 2, process: 'p1' }, replay(7, 8)),
        // The connection died: 9..? may have been taken; nothing is acknowledged.
        op({ at: [13, 14], key: 'k2' }, unknown),
        // Its retry after the restart: the original had been committed, so it is replayed (below newer values: fine).
        op({ at: [20, 21], key: 'k2', process: 'p2' }, replay(9)),
        op({ at: [20, 22], process: 'p2' }, ok(60)),
        op({ at: [23, 24], key: 'k1', count: 2, process: 'p2' }, replay(7, 8)),
        op({ at: [25, 26], process: 'p2' }, unavailable),
      ],
      { restarts: [{ at: 0, process: 'p1' }, { at: 15, process: 'p2' }], kills: [{ at: 13.5, process: 'p1' }] },
      { acceptError: (status, code) => status === 503 && code === 'store_unavailable' },
    );
    assert.deepEqual(summary.violations, []);
    assert.equal(summary.operations, 11);
    assert.equal(summary.acknowledged, 9);
    assert.equal(summary.replayed, 3);
    assert.equal(summary.errors, 1);
    assert.equal(summary.unknown, 1);
    // 1, 2..4, 5, 6, 7..8, 9, 60.
    assert.equal(summary.numbersChecked, 10);
  });

  test('cache N on several instances: not in real-time order across instances, but increasing on each', () => {
    const summary = check([
      op({ process: 'a', cache: 50, at: [0, 1] }, ok(1)),
      op({ process: 'b', cache: 50, at: [2, 3] }, ok(51)),
      op({ process: 'a', cache: 50, at: [4, 5] }, ok(2)),
      op({ process: 'b', cache: 50, at: [6, 7], count: 3 }, ok(52, 54)),
    ]);
    assert.deepEqual(summary.violations, []);
  });

  test('an unknown outcome whose values overlap an acknowledged answer is no duplicate', () => {
    const summary = check([op({ at: [0, 5] }, unknown), op({ at: [6, 7] }, ok(1))], { kills: [{ at: 4, process: 'p1' }] });
    assert.deepEqual(summary.violations, []);
  });

  test('the recorder records on one clock, and the summary line names cycles, requests, numbers checked, violations', () => {
    const recorder = new HistoryRecorder();
    recorder.restart('p1');
    recorder.invoke({ process: 'p1', sequence: 's', cache: 1 })(ok(1));
    recorder.invoke({ process: 'p1', sequence: 's', cache: 1, count: 2 })(ok(2, 3));
    const [first, second] = recorder.operations as [Operation, Operation];
    assert.ok(first.invoked <= first.completed && first.completed <= second.invoked);
    const summary = checkHistory(recorder.history());
    assert.deepEqual(summary.violations, []);
    assert.equal(
      formatSummary('chaos', 3, summary),
      'chaos: 3 cycles, 2 requests (2 acknowledged, 0 of them replays, 0 errors, 0 unknown), 3 numbers checked, 0 violations',
    );
  });
});

describe('history checker: each kind of violation is caught', () => {
  test('(a) a value in two acknowledged answers', () => {
    assertCaught(check([op({ at: [0, 1] }, ok(1)), op({ at: [0, 2], process: 'p2', cache: 50 }, ok(1))], {}, { linearizable: () => false }).violations, 'uniqueness');
  });

  test('(a) overlapping batches, concurrent', () => {
    const summary = check([op({ at: [0, 3], count: 5 }, ok(1, 5)), op({ at: [1, 2], count: 3 }, ok(5, 7))]);
    assertCaught(summary.violations, 'uniqueness');
    assert.match(summary.violations[0] ?? '', /values 5\.\.5 answered twice/);
  });

  test('(d) a key allocated twice by concurrent attempts (both fresh, different values)', () => {
    const summary = check([op({ at: [0, 2], key: 'k' }, ok(1)), op({ at: [1, 3], key: 'k', process: 'p2', cache: 50 }, ok(2))], {}, { linearizable: () => false });
    assertCaught(summary.violations, 'idempotency');
    assert.match(summary.violations[0] ?? '', /key k answered differently/);
  });

  test('(b) a value after a restart not above one acknowledged before it', () => {
    // Cache 50 on another instance may hand out lower values; the restarted process may not.
    const operations = [
      op({ process: 'a', cache: 50, at: [0, 1] }, ok(100)),
      op({ process: 'b', cache: 50, at: [3, 4] }, ok(99)),
      op({ process: 'c', cache: 50, at: [5, 6] }, ok(150)),
    ];
    assert.deepEqual(check(operations, { restarts: [{ at: 2, process: 'c' }] }).violations, []);
    assertCaught(check(operations, { restarts: [{ at: 2, process: 'b' }] }).violations, 'restart');
    // A boundary without a process covers every operation invoked after it.
    assertCaught(check(operations, { restarts: [{ at: 2 }] }).violations, 'restart');
  });

  test('(b) a replay after a restart may be below; a fresh answer equal to a replayed value is caught', () => {
    const base = [op({ at: [0, 1], key: 'k' }, ok(5)), op({ at: [10, 11], key: 'k', process: 'p2' }, replay(5))];
    assert.deepEqual(check(base, { restarts: [{ at: 5, process: 'p2' }] }).violations, []);
    const fresh = [...base, op({ at: [12, 13], process: 'p2', cache: 50 }, ok(5))];
    const { violations } = check(fresh, { restarts: [{ at: 5, process: 'p2' }] }, { linearizable: () => false });
    assert.ok(violations.some((v) => v.startsWith('restart: ')), JSON.stringify(violations));
    assert.ok(violations.some((v) => v.startsWith('uniqueness: ')), JSON.stringify(violations));
  });

  test('(c) cache 1 across instances: an answer completed before another was invoked, with a higher value', () => {
    const operations = (cache: number) => [op({ process: 'a', cache, at: [0, 1] }, ok(2)), op({ process: 'b', cache, at: [2, 3] }, ok(1))];
    assertCaught(check(operations(1)).violations, 'linearizability');
    // The same on a cached sequence (different instances) is allowed…
    assert.deepEqual(check(operations(50)).violations, []);
    // …unless the test declares every sequence linearizable (one process at a time, as on SQLite).
    assertCaught(check(operations(50), {}, { linearizable: () => true }).violations, 'linearizability');
    // Overlapping in time: either order.
    assert.deepEqual(check([op({ process: 'a', at: [0, 2] }, ok(2)), op({ process: 'b', at: [1, 3] }, ok(1))]).violations, []);
  });

  test('(c) a replay completed before a fresh request counts: the fresh value must be above it', () => {
    const operations = [
      op({ process: 'a', at: [0, 5], key: 'k' }, unknown),
      op({ process: 'b', at: [6, 7], key: 'k' }, replay(10)),
      op({ process: 'b', at: [8, 9] }, ok(9)),
    ];
    assertCaught(check(operations, { kills: [{ at: 4, process: 'a' }] }).violations, 'linearizability');
  });

  test('(d) a retry of an acknowledged key answered with other values', () => {
    const summary = check([op({ at: [0, 1], key: 'k', count: 2 }, ok(1, 2)), op({ at: [5, 6], key: 'k', count: 2, process: 'p2' }, replay(3, 4))], {
      restarts: [{ at: 3, process: 'p2' }],
    });
    assertCaught(summary.violations, 'idempotency');
    assert.match(summary.violations[0] ?? '', /key k answered differently/);
  });

  test('(d) a retry of an acknowledged key not replayed, a replay out of nowhere, a key reused', () => {
    // Not marked a replay: it also reads as a fresh allocation out of order.
    const notReplayed = check([op({ at: [0, 1], key: 'k' }, ok(1)), op({ at: [2, 3], key: 'k' }, ok(1))]).violations;
    assert.ok(notReplayed.some((v) => v.startsWith('idempotency: key k acknowledged before, but a retry was not a replay')), JSON.stringify(notReplayed));
    assertCaught(check([op({ at: [0, 1], key: 'k' }, replay(1))]).violations, 'idempotency');
    assertCaught(check([op({ at: [0, 1], key: 'k' }, ok(1)), op({ at: [2, 3], key: 'k', count: 2 }, { type: 'error', status: 422, code: 'idempotency_key_reused' })], {}, { acceptError: () => true }).violations, 'idempotency');
  });

  test('(e) a cached sequence going back on one instance', () => {
    assertCaught(check([op({ cache: 50, at: [0, 1] }, ok(7)), op({ cache: 50, at: [2, 3] }, ok(6))]).violations, 'process order');
  });

  test('answers: a batch of the wrong size, an unreadable 200, an unexpected error, no answer from a live process', () => {
    assertCaught(check([op({ at: [0, 1], count: 3 }, ok(1, 2))]).violations, 'answer');
    assertCaught(check([op({ at: [0, 1] }, { type: 'invalid', status: 200, text: '{"next_value":1.5}' })]).violations, 'answer');
    assertCaught(check([op({ at: [0, 1] }, { type: 'error', status: 500, code: 'internal_error' })], {}, { acceptError: (status) => status === 503 }).violations, 'error');
    assertCaught(check([op({ at: [0, 1] }, unknown)]).violations, 'connection');
    // Killed only after the failure was seen: still unexplained.
    assertCaught(check([op({ at: [0, 1] }, unknown)], { kills: [{ at: 2, process: 'p1' }] }).violations, 'connection');
  });

  test('many violations of one kind are capped, and the rest counted', () => {
    const operations = Array.from({ length: 10 }, (_, i) => op({ at: [i, i + 0.5], process: `p${i}`, cache: 50 }, ok(1)));
    const { violations } = check(operations, {}, { maxMessagesPerCheck: 3, linearizable: () => false });
    assert.equal(violations.length, 4);
    assert.match(violations[3] ?? '', /^uniqueness: … and 6 more$/);
  });
});
