import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LiveStats, STATS_POINTS } from '../src/live-stats.js';
import { RateWindow } from '../src/rates.js';

/** A clock the test moves by hand, in ms since the epoch (starting on a second boundary). */
function clock(start = 1_800_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('LiveStats', () => {
  it('closes one point per second: per-second rates, commit percentiles, mean batch size, pending sampled', () => {
    const time = clock();
    let pending = 7;
    const stats = new LiveStats({ now: time.now, pending: () => pending });
    stats.allocated('orders', 10);
    stats.allocated('invoices', 5);
    for (let i = 0; i < 4; i += 1) stats.answered();
    stats.failed('sequence_not_found');
    for (let ms = 1; ms <= 100; ms += 1) stats.onCommit({ size: ms % 2 === 0 ? 3 : 1, durationMs: ms, ok: true });
    time.advance(1000);
    stats.closeSecond();
    pending = 0;
    time.advance(2000); // a second closed late covers two: its rates are per second all the same
    stats.allocated('orders', 8);
    stats.closeSecond();

    const series = stats.series();
    assert.deepEqual(series.t, [1_800_000_000, 1_800_000_001]);
    assert.deepEqual(series.numbers_per_second, [15, 4]);
    assert.deepEqual(series.requests_per_second, [4, 0]);
    assert.deepEqual(series.errors_per_second, [1, 0]);
    assert.deepEqual(series.commit_p50_ms, [50, null]);
    assert.deepEqual(series.commit_p99_ms, [99, null]);
    assert.deepEqual(series.batch_size, [2, null]);
    assert.deepEqual(series.pending, [7, 0]);
    assert.deepEqual(stats.errors(), { sequence_not_found: 1 });
    assert.deepEqual(stats.series(1_800_000_000).t, [1_800_000_001], 'since: only the points after it');
    assert.deepEqual(stats.series(1_800_000_001).t, []);
  });

  it(`keeps the last ${STATS_POINTS} points, t strictly increasing`, () => {
    const time = clock();
    const stats = new LiveStats({ now: time.now });
    for (let second = 0; second < STATS_POINTS + 50; second += 1) {
      stats.allocated('a', second);
      time.advance(1000);
      stats.closeSecond();
    }
    const series = stats.series();
    assert.equal(series.t.length, STATS_POINTS);
    assert.equal(series.numbers_per_second[0], 50, 'the oldest 50 points were dropped');
    assert.equal(series.numbers_per_second.at(-1), STATS_POINTS + 49);
    for (let i = 1; i < series.t.length; i += 1) assert.equal(series.t[i], (series.t[i - 1] as number) + 1);
  });

  it('rates: numbers per second of each name over the last 10 s, 0 for names without traffic', () => {
    const time = clock();
    const stats = new LiveStats({ now: time.now });
    for (let second = 0; second < 20; second += 1) {
      stats.allocated('steady', 50);
      if (second < 5) stats.allocated('early', 100);
      time.advance(1000);
      stats.closeSecond();
    }
    const rates = stats.rates(['steady', 'early', 'idle']);
    // The window: the 9 closed seconds before the running one (which has none yet), over 9 s.
    assert.equal(rates.get('steady'), 50);
    assert.equal(rates.get('early'), 0, 'its traffic is older than the window');
    assert.equal(rates.get('idle'), 0);
    assert.deepEqual(stats.busiest(20), [{ name: 'steady', numbersPerSecond: 50 }]);
  });

  it('a rate right after the start is over a second at least, not over the few ms since', () => {
    const time = clock();
    const stats = new LiveStats({ now: time.now });
    time.advance(5);
    stats.allocated('orders', 3);
    assert.equal(stats.rates(['orders']).get('orders'), 3);
  });
});

describe('RateWindow', () => {
  it('busiest: 20 names, busiest first, out of 100,000', () => {
    const time = clock();
    const window = new RateWindow(time.now());
    for (let i = 0; i < 100_000; i += 1) window.add(`seq-${i}`, 1 + (i % 1000));
    const busiest = window.busiest(20, time.advance(1000));
    assert.equal(busiest.length, 20);
    for (let i = 1; i < busiest.length; i += 1) {
      assert.ok((busiest[i - 1]?.numbersPerSecond as number) >= (busiest[i]?.numbersPerSecond as number));
    }
    assert.equal(busiest[0]?.numbersPerSecond, 1000, 'the busiest of the names it kept');
  });

  it('keeps at most maxNames names a second: the others count as untracked', () => {
    const time = clock();
    const window = new RateWindow(time.now(), { maxNames: 10_000 });
    for (let second = 0; second < 12; second += 1) {
      for (let i = 0; i < 100_000; i += 1) window.add(`s${second}-${i}`, 1);
      window.rotate(time.advance(1000));
    }
    // 10 s kept, 10,000 names each: what the window holds is bounded whatever the number of names.
    const now = time.now();
    assert.equal(window.rates(['s11-0', 's11-9999', 's11-10000', 's0-0'], now).get('s11-10000'), 0);
    assert.ok((window.rates(['s11-0'], now).get('s11-0') as number) > 0);
    assert.equal(window.rates(['s0-0'], now).get('s0-0'), 0, 'dropped with its second');
    assert.equal(window.busiest(20, now).length, 20);
    assert.equal(Math.round(window.untracked(now)), 90_000);
  });

  it('busiest: ties in name order, and a window over few names sees new traffic at once', () => {
    const time = clock();
    const window = new RateWindow(time.now());
    window.add('b', 2);
    window.add('a', 2);
    assert.deepEqual(
      window.busiest(20, time.now()).map((entry) => entry.name),
      ['a', 'b'],
    );
    window.add('c', 10);
    assert.deepEqual(
      window.busiest(2, time.now()).map((entry) => entry.name),
      ['c', 'a'],
    );
  });
});
