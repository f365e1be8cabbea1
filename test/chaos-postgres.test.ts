import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { between, chaosCycles, chaosSeed, putSequence, retryAcknowledgedKeys, seededRandom, startLoad, CHAOS_SEQUENCES } from './helpers/chaos.js';
import { ChaosServers, runKillCycles } from './helpers/chaos-servers.js';
import { CLOCK_TOLERANCE_MS, drainGapless, GAPLESS_SEQUENCES, startGaplessLoad } from './helpers/gapless-chaos.js';
import { checkGaplessHistory, formatGaplessSummary, GaplessRecorder } from './helpers/gapless-history.js';
import { checkHistory, formatSummary, HistoryRecorder } from './helpers/history.js';
import { startOwnPostgres } from './helpers/postgres.js';

/**
 * Reliability under crashes, PostgreSQL: three `serve` instances on one
 * database under concurrent load (singles, batches, keyed requests and their
 * retries, on cache 1 and cache 50 sequences), one instance killed with
 * SIGKILL and started again each cycle, and the database server itself
 * stopped and started once mid-run. CHAOS_CYCLES cycles (3 in the normal run;
 * `npm run test:chaos` runs 30). Every request is recorded and the history is
 * checked afterwards (helpers/history.ts): no value twice across instances,
 * a restarted instance above everything acknowledged before it started,
 * cache 1 linearizable across instances, increasing per instance, retries of
 * acknowledged keys replaying their answer; failures only as 503
 * store_unavailable or a connection lost with a killed instance. The second
 * test does the same to gapless sequences (helpers/gapless-chaos.ts), the
 * leases judged on the database's clock by every instance: reservations
 * confirmed, released, voided or abandoned on any instance, a drain, and the
 * gapless checker (helpers/gapless-history.ts).
 */

// The database is stopped and started: a server of the file's own (its data survives the stop).
const postgres = await startOwnPostgres();

const CYCLES = chaosCycles(3);
const INSTANCES = 3;
const CALLERS = 16;
const storeUnavailable = (status: number, code: string | undefined): boolean => status === 503 && code === 'store_unavailable';

/** Three instances on a new database; a restarted one is the next generation `i{slot}.g{N}`. */
async function instances(onStart?: (process: string) => void): Promise<ChaosServers> {
  const store = await postgres.newDatabase();
  return new ChaosServers({ store, slots: INSTANCES, name: (slot, generation) => `i${slot}.g${generation}`, onStart, startTimeoutMs: 15_000 }).startAll();
}

/** Mid-run: the database goes away under load and comes back (503s meanwhile), then the instances recover. */
function restartDatabase(random: () => number, load: { waitForAcknowledged(more: number, what: string): Promise<void> }): (cycle: number) => Promise<void> {
  return async (cycle) => {
    await postgres.stop();
    try {
      await sleep(between(random, 200, 800));
    } finally {
      await postgres.start();
    }
    await load.waitForAcknowledged(20, `cycle ${cycle}, after the database restart`);
    await sleep(between(random, 0, 250));
  };
}

test(`three instances, kill -9 and restarts, the database restarted once, ${CYCLES} cycles: the history has no violation`, { timeout: 90_000 + CYCLES * 15_000 }, async () => {
  const seed = chaosSeed();
  const random = seededRandom(seed);
  const recorder = new HistoryRecorder();
  const servers = await instances((process) => recorder.restart(process));
  const created = await putSequence(servers.targets()[0]?.url ?? '', 'cached', { cache: 50 });
  assert.equal(created.status, 201, created.text);

  const load = startLoad({ recorder, targets: () => servers.targets(), sequences: CHAOS_SEQUENCES, callers: CALLERS, random, keyPrefix: `pg-${seed}` });
  let databaseRestarts = 0;
  try {
    const midway = restartDatabase(random, load);
    await runKillCycles({
      cycles: CYCLES,
      random,
      servers,
      load,
      onKill: (process) => recorder.kill(process),
      answers: [10, 80],
      midway: async (cycle) => {
        await midway(cycle);
        databaseRestarts += 1;
      },
    });
    await load.waitForAcknowledged(50, 'after the last restart');
  } finally {
    await load.stop();
  }

  const retried = await retryAcknowledgedKeys(recorder, servers.targets(), random, 200);
  // Only the killed instances died: none crashed on the database restart.
  await servers.stopAll();

  const summary = checkHistory(recorder.history(), {
    // Cache 1 is linearizable across instances; cache 50 increases per instance only (checked by the checker for all).
    linearizable: (operation) => operation.cache === 1,
    acceptError: storeUnavailable,
  });
  console.log(
    `${formatSummary('chaos-postgres', CYCLES, summary)} (seed ${seed}, ${servers.restarts()} instance restarts, ${databaseRestarts} database restart, ${retried} keys retried at the end)`,
  );
  assert.deepEqual(summary.violations, [], `the history of seed ${seed} has violations`);
  assert.equal(databaseRestarts, 1);
  assert.ok(summary.acknowledged >= CYCLES * 10, `answers in every cycle (${summary.acknowledged})`);
  assert.ok(retried > 0 && summary.replayed >= retried, `acknowledged keys were retried and replayed (${retried} retried, ${summary.replayed} replays)`);
});

test(`gapless on three instances: reserve, then confirm, release, void or abandon, kill -9 and restarts, the database restarted once, ${CYCLES} cycles, then the drain: no violation, no gap`, { timeout: 90_000 + CYCLES * 15_000 }, async () => {
  const seed = chaosSeed();
  const random = seededRandom(seed);
  const recorder = new GaplessRecorder();
  const servers = await instances();
  for (const sequence of GAPLESS_SEQUENCES) {
    const created = await putSequence(servers.targets()[0]?.url ?? '', sequence.name, { gapless: true, lease_seconds: sequence.leaseSeconds });
    assert.equal(created.status, 201, created.text);
  }

  const load = startGaplessLoad({ recorder, targets: () => servers.targets(), sequences: GAPLESS_SEQUENCES, callers: CALLERS, random, keyPrefix: `gapless-pg-${seed}` });
  try {
    // A settle among the 503s of the database restart may or may not have been applied: the checker allows both.
    await runKillCycles({ cycles: CYCLES, random, servers, load, onKill: (process) => recorder.kill(process), answers: [10, 80], midway: restartDatabase(random, load) });
    await load.waitForAcknowledged(30, 'after the last restart');
  } finally {
    await load.stop();
  }

  // Every lease ended: list, drain over every instance in turn, read again.
  const drained = await drainGapless(recorder, servers.targets(), GAPLESS_SEQUENCES);
  await servers.stopAll();

  const summary = checkGaplessHistory(recorder.history(), { clockToleranceMs: CLOCK_TOLERANCE_MS, acceptError: storeUnavailable });
  console.log(`${formatGaplessSummary('chaos-postgres gapless', CYCLES, summary)} (seed ${seed}, ${servers.restarts()} instance restarts, 1 database restart)`);
  assert.deepEqual(summary.violations, [], `the gapless history of seed ${seed} has violations`);
  assert.equal(summary.drained, drained);
  assert.ok(summary.confirmed > 0 && summary.released > 0 && summary.voided > 0, `every action happened (${summary.confirmed} confirmed, ${summary.released} released, ${summary.voided} voided)`);
  assert.ok(summary.seriesChecked > 0, 'the series was checked');
});
