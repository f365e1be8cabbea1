import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { chaosCycles, chaosSeed, putSequence, retryAcknowledgedKeys, seededRandom, startLoad, CHAOS_SEQUENCES } from './helpers/chaos.js';
import { ChaosServers, runKillCycles } from './helpers/chaos-servers.js';
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

/**
 * One server on a new store file; a restarted one is the next process `pN`.
 * A pass folds its allocation log every 5 entries, 2 names a commit, so kills land during passes and folds too.
 */
const sqliteServers = (file: string, onStart?: (process: string) => void): ChaosServers =>
  new ChaosServers({
    store: `sqlite:${join(tempDir(), file)}`,
    slots: 1,
    name: (_slot, generation) => `p${generation}`,
    onStart,
    startTimeoutMs: 10_000,
    env: { TAKEANUMBER_FOLD_ENTRIES: '5', TAKEANUMBER_FOLD_CHUNK: '2' },
  });

test(`kill -9 at random moments under mixed load, ${CYCLES} cycles: the history has no violation`, { timeout: 60_000 + CYCLES * 10_000 }, async () => {
  const seed = chaosSeed();
  const random = seededRandom(seed);
  const recorder = new HistoryRecorder();
  const servers = await sqliteServers('chaos.db', (process) => recorder.restart(process)).startAll();
  const created = await putSequence(servers.targets()[0]?.url ?? '', 'cached', { cache: 50 });
  assert.equal(created.status, 201, created.text);

  const load = startLoad({ recorder, targets: () => servers.targets(), sequences: CHAOS_SEQUENCES, callers: CALLERS, random, keyPrefix: `sqlite-${seed}` });
  try {
    // Some answers in this process, then a kill at a random moment.
    await runKillCycles({ cycles: CYCLES, random, servers, load, onKill: (process) => recorder.kill(process), answers: [5, 60] });
    await load.waitForAcknowledged(50, 'after the last restart');
  } finally {
    await load.stop();
  }

  // Retries of acknowledged keys, after the last restart: each replays its answer.
  const retried = await retryAcknowledgedKeys(recorder, servers.targets(), random, 200);
  await servers.stopAll();

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
  const recorder = new GaplessRecorder();
  const servers = await sqliteServers('gapless.db').startAll();
  for (const sequence of GAPLESS_SEQUENCES) {
    const created = await putSequence(servers.targets()[0]?.url ?? '', sequence.name, { gapless: true, lease_seconds: sequence.leaseSeconds });
    assert.equal(created.status, 201, created.text);
  }

  const load = startGaplessLoad({ recorder, targets: () => servers.targets(), sequences: GAPLESS_SEQUENCES, callers: CALLERS, random, keyPrefix: `gapless-sqlite-${seed}` });
  try {
    await runKillCycles({ cycles: CYCLES, random, servers, load, onKill: (process) => recorder.kill(process), answers: [10, 60] });
    await load.waitForAcknowledged(30, 'after the last restart');
  } finally {
    await load.stop();
  }

  // Every lease ended: list, drain (re-reserve and confirm each free value), read again.
  const drained = await drainGapless(recorder, servers.targets(), GAPLESS_SEQUENCES);
  await servers.stopAll();

  const summary = checkGaplessHistory(recorder.history(), { clockToleranceMs: CLOCK_TOLERANCE_MS });
  console.log(`${formatGaplessSummary('chaos-sqlite gapless', CYCLES, summary)} (seed ${seed})`);
  assert.deepEqual(summary.violations, [], `the gapless history of seed ${seed} has violations`);
  assert.equal(summary.drained, drained);
  assert.ok(summary.confirmed > 0 && summary.released > 0 && summary.voided > 0, `every action happened (${summary.confirmed} confirmed, ${summary.released} released, ${summary.voided} voided)`);
  assert.ok(summary.seriesChecked > 0, 'the series was checked');
});
