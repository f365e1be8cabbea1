import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { between, chaosCycles, chaosSeed, putSequence, retryAcknowledgedKeys, seededRandom, startLoad, type Target, CHAOS_SEQUENCES } from './helpers/chaos.js';
import { startServer, type RunningServer } from './helpers/cli.js';
import { CLOCK_TOLERANCE_MS, drainGapless, GAPLESS_SEQUENCES, startGaplessLoad } from './helpers/gapless-chaos.js';
import { checkGaplessHistory, formatGaplessSummary, GaplessRecorder } from './helpers/gapless-history.js';
import { checkHistory, formatSummary, HistoryRecorder } from './helpers/history.js';
import { tempDir } from './helpers/temp.js';

/**
 * Reliability under crashes, SQLite: `serve` on one store file, killed with
 * SIGKILL at random moments under concurrent load (singles, batches, keyed
 * requests and their retries) and started again, CHAOS_CYCLES times (3 in the
 * normal run; `npm run test:chaos` runs 30). Every request is recorded and the
 * history is checked afterwards (helpers/history.ts): no value twice, values
 * after a restart above everything acknowledged before it, real-time order,
 * retries of acknowledged keys replaying their answer. The second test does
 * the same to gapless sequences (helpers/gapless-chaos.ts): reservations
 * confirmed, released, voided or abandoned, then a drain, and the gapless
 * checker (helpers/gapless-history.ts): no value confirmed twice or held by
 * two open reservations, strict leases, and an unbroken series at the end.
 */

// Spawns the built CLI: run `npm run build` first.

const CYCLES = chaosCycles(3);
const CALLERS = 16;

test(`kill -9 at random moments under mixed load, ${CYCLES} cycles: the history has no violation`, { timeout: 60_000 + CYCLES * 10_000 }, async () => {
  const seed = chaosSeed();
  const random = seededRandom(seed);
  const store = `sqlite:${join(tempDir(), 'chaos.db')}`;
  const recorder = new HistoryRecorder();

  let live: Target | undefined;
  let generation = 0;
  const start = async (): Promise<RunningServer> => {
    generation += 1;
    const process = `p${generation}`;
    recorder.restart(process);
    // The lock of a killed server is released by the OS: this starts right away, or fails.
    const started = await startServer({ store, timeoutMs: 10_000 });
    live = { url: started.url, process };
    return started;
  };

  let server: RunningServer = await start();
  const created = await putSequence(server.url, 'cached', { cache: 50 });
  assert.equal(created.status, 201, created.text);

  const load = startLoad({
    recorder,
    targets: () => (live === undefined ? [] : [live]),
    sequences: CHAOS_SEQUENCES,
    callers: CALLERS,
    random,
    keyPrefix: `sqlite-${seed}`,
  });
  try {
    for (let cycle = 1; cycle <= CYCLES; cycle += 1) {
      // Some answers in this process, then a kill at a random moment.
      await load.waitForAcknowledged(between(random, 5, 60), `cycle ${cycle}`);
      await sleep(between(random, 0, 250));
      const victim: RunningServer = server;
      recorder.kill(live?.process ?? '');
      live = undefined;
      assert.equal(await victim.stop('SIGKILL', 5000), null);
      assert.equal(victim.process.signalCode, 'SIGKILL', `cycle ${cycle}: the server was killed, not stopped otherwise`);
      server = await start();
    }
    await load.waitForAcknowledged(50, 'after the last restart');
  } finally {
    await load.stop();
  }

  // Retries of acknowledged keys, after the last restart: each replays its answer.
  const retried = await retryAcknowledgedKeys(recorder, live === undefined ? [] : [live], random, 200);
  assert.equal(await server.stop('SIGTERM'), 0, server.stderr());

  // One process at a time on one file: every sequence, cached or not, is in real-time order.
  const summary = checkHistory(recorder.history(), { linearizable: () => true });
  console.log(`${formatSummary('chaos-sqlite', CYCLES, summary)} (seed ${seed}, ${retried} keys retried at the end)`);
  assert.deepEqual(summary.violations, [], `the history of seed ${seed} has violations`);
  assert.ok(summary.acknowledged >= CYCLES * 5, `answers in every cycle (${summary.acknowledged})`);
  assert.ok(retried > 0 && summary.replayed >= retried, `acknowledged keys were retried and replayed (${retried} retried, ${summary.replayed} replays)`);
});

test(`gapless: reserve, then confirm, release, void or abandon, kill -9 at random moments, ${CYCLES} cycles, then the drain: no violation, no gap`, { timeout: 60_000 + CYCLES * 10_000 }, async () => {
  const seed = chaosSeed();
  const random = seededRandom(seed);
  const store = `sqlite:${join(tempDir(), 'gapless.db')}`;
  const recorder = new GaplessRecorder();

  let live: Target | undefined;
  let generation = 0;
  const start = async (): Promise<RunningServer> => {
    generation += 1;
    const started = await startServer({ store, timeoutMs: 10_000 });
    live = { url: started.url, process: `p${generation}` };
    return started;
  };

  let server: RunningServer = await start();
  for (const sequence of GAPLESS_SEQUENCES) {
    const created = await putSequence(server.url, sequence.name, { gapless: true, lease_seconds: sequence.leaseSeconds });
    assert.equal(created.status, 201, created.text);
  }

  const load = startGaplessLoad({
    recorder,
    targets: () => (live === undefined ? [] : [live]),
    sequences: GAPLESS_SEQUENCES,
    callers: 12,
    random,
    keyPrefix: `gapless-sqlite-${seed}`,
  });
  try {
    for (let cycle = 1; cycle <= CYCLES; cycle += 1) {
      await load.waitForAcknowledged(between(random, 10, 60), `cycle ${cycle}`);
      await sleep(between(random, 0, 250));
      const victim: RunningServer = server;
      recorder.kill(live?.process ?? '');
      live = undefined;
      assert.equal(await victim.stop('SIGKILL', 5000), null);
      assert.equal(victim.process.signalCode, 'SIGKILL', `cycle ${cycle}: the server was killed, not stopped otherwise`);
      server = await start();
    }
    await load.waitForAcknowledged(30, 'after the last restart');
  } finally {
    await load.stop();
  }

  // Every lease ended: list, drain (re-reserve and confirm each free value), read again.
  const drained = await drainGapless(recorder, live === undefined ? [] : [live], GAPLESS_SEQUENCES);
  assert.equal(await server.stop('SIGTERM'), 0, server.stderr());

  const summary = checkGaplessHistory(recorder.history(), { clockToleranceMs: CLOCK_TOLERANCE_MS });
  console.log(`${formatGaplessSummary('chaos-sqlite gapless', CYCLES, summary)} (seed ${seed})`);
  assert.deepEqual(summary.violations, [], `the gapless history of seed ${seed} has violations`);
  assert.equal(summary.drained, drained);
  assert.ok(summary.confirmed > 0 && summary.released > 0 && summary.voided > 0, `every action happened (${summary.confirmed} confirmed, ${summary.released} released, ${summary.voided} voided)`);
  assert.ok(summary.seriesChecked > 0, 'the series was checked');
});
