import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { between, chaosCycles, chaosSeed, putSequence, retryAcknowledgedKeys, seededRandom, startLoad, type Target, CHAOS_SEQUENCES } from './helpers/chaos.js';
import { startServer, type RunningServer } from './helpers/cli.js';
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

interface Instance {
  readonly server: RunningServer;
  readonly target: Target;
}

test(`three instances, kill -9 and restarts, the database restarted once, ${CYCLES} cycles: the history has no violation`, { timeout: 90_000 + CYCLES * 15_000 }, async () => {
  const seed = chaosSeed();
  const random = seededRandom(seed);
  const store = await postgres.newDatabase();
  const recorder = new HistoryRecorder();

  const slots: (Instance | undefined)[] = [];
  const everyInstance: Instance[] = [];
  let generation = 0;
  const start = async (slot: number): Promise<Instance> => {
    generation += 1;
    const process = `i${slot}.g${generation}`;
    recorder.restart(process);
    const server = await startServer({ store, timeoutMs: 15_000 });
    const instance = { server, target: { url: server.url, process } };
    everyInstance.push(instance);
    return instance;
  };
  for (let slot = 0; slot < INSTANCES; slot += 1) slots.push(await start(slot));
  const created = await putSequence((slots[0] as Instance).target.url, 'cached', { cache: 50 });
  assert.equal(created.status, 201, created.text);

  const load = startLoad({
    recorder,
    targets: () => slots.flatMap((instance) => (instance === undefined ? [] : [instance.target])),
    sequences: CHAOS_SEQUENCES,
    callers: CALLERS,
    random,
    keyPrefix: `pg-${seed}`,
  });
  const databaseCycle = Math.floor(CYCLES / 2) + 1;
  let databaseRestarts = 0;
  try {
    for (let cycle = 1; cycle <= CYCLES; cycle += 1) {
      await load.waitForAcknowledged(between(random, 10, 80), `cycle ${cycle}`);
      await sleep(between(random, 0, 250));
      if (cycle === databaseCycle) {
        // The database goes away under load and comes back: 503s meanwhile, then the instances recover.
        await postgres.stop();
        try {
          await sleep(between(random, 200, 800));
        } finally {
          await postgres.start();
        }
        databaseRestarts += 1;
        await load.waitForAcknowledged(20, `cycle ${cycle}, after the database restart`);
        await sleep(between(random, 0, 250));
      }
      const victim = between(random, 0, INSTANCES - 1);
      const instance = slots[victim] as Instance;
      slots[victim] = undefined;
      recorder.kill(instance.target.process);
      assert.equal(await instance.server.stop('SIGKILL', 5000), null);
      assert.equal(instance.server.process.signalCode, 'SIGKILL', `cycle ${cycle}: ${instance.target.process} was killed, not stopped otherwise`);
      await sleep(between(random, 0, 200));
      slots[victim] = await start(victim);
    }
    await load.waitForAcknowledged(50, 'after the last restart');
  } finally {
    await load.stop();
  }

  const live = slots.filter((instance): instance is Instance => instance !== undefined);
  const retried = await retryAcknowledgedKeys(recorder, live.map((instance) => instance.target), random, 200);
  // Only the killed instances died: none crashed on the database restart.
  for (const instance of everyInstance) {
    if (live.includes(instance)) {
      assert.equal(instance.server.process.exitCode, null, `${instance.target.process} still runs: ${instance.server.stderr()}`);
      assert.equal(instance.server.process.signalCode, null, `${instance.target.process} still runs: ${instance.server.stderr()}`);
    } else {
      assert.equal(instance.server.process.signalCode, 'SIGKILL', `${instance.target.process} ended by the kill only: ${instance.server.stderr()}`);
    }
  }
  for (const instance of live) assert.equal(await instance.server.stop('SIGTERM'), 0, instance.server.stderr());

  const summary = checkHistory(recorder.history(), {
    // Cache 1 is linearizable across instances; cache 50 increases per instance only (checked by the checker for all).
    linearizable: (operation) => operation.cache === 1,
    acceptError: (status, code) => status === 503 && code === 'store_unavailable',
  });
  console.log(
    `${formatSummary('chaos-postgres', CYCLES, summary)} (seed ${seed}, ${generation - INSTANCES} instance restarts, ${databaseRestarts} database restart, ${retried} keys retried at the end)`,
  );
  assert.deepEqual(summary.violations, [], `the history of seed ${seed} has violations`);
  assert.equal(databaseRestarts, 1);
  assert.ok(summary.acknowledged >= CYCLES * 10, `answers in every cycle (${summary.acknowledged})`);
  assert.ok(retried > 0 && summary.replayed >= retried, `acknowledged keys were retried and replayed (${retried} retried, ${summary.replayed} replays)`);
});

test(`gapless on three instances: reserve, then confirm, release, void or abandon, kill -9 and restarts, the database restarted once, ${CYCLES} cycles, then the drain: no violation, no gap`, { timeout: 90_000 + CYCLES * 15_000 }, async () => {
  const seed = chaosSeed();
  const random = seededRandom(seed);
  const store = await postgres.newDatabase();
  const recorder = new GaplessRecorder();

  const slots: (Instance | undefined)[] = [];
  const everyInstance: Instance[] = [];
  let generation = 0;
  const start = async (slot: number): Promise<Instance> => {
    generation += 1;
    const server = await startServer({ store, timeoutMs: 15_000 });
    const instance = { server, target: { url: server.url, process: `i${slot}.g${generation}` } };
    everyInstance.push(instance);
    return instance;
  };
  for (let slot = 0; slot < INSTANCES; slot += 1) slots.push(await start(slot));
  for (const sequence of GAPLESS_SEQUENCES) {
    const created = await putSequence((slots[0] as Instance).target.url, sequence.name, { gapless: true, lease_seconds: sequence.leaseSeconds });
    assert.equal(created.status, 201, created.text);
  }

  const load = startGaplessLoad({
    recorder,
    targets: () => slots.flatMap((instance) => (instance === undefined ? [] : [instance.target])),
    sequences: GAPLESS_SEQUENCES,
    callers: CALLERS,
    random,
    keyPrefix: `gapless-pg-${seed}`,
  });
  const databaseCycle = Math.floor(CYCLES / 2) + 1;
  try {
    for (let cycle = 1; cycle <= CYCLES; cycle += 1) {
      await load.waitForAcknowledged(between(random, 10, 80), `cycle ${cycle}`);
      await sleep(between(random, 0, 250));
      if (cycle === databaseCycle) {
        // The database goes away under load: 503s meanwhile (a settle among them may or may not have been applied).
        await postgres.stop();
        try {
          await sleep(between(random, 200, 800));
        } finally {
          await postgres.start();
        }
        await load.waitForAcknowledged(20, `cycle ${cycle}, after the database restart`);
      }
      const victim = between(random, 0, INSTANCES - 1);
      const instance = slots[victim] as Instance;
      slots[victim] = undefined;
      recorder.kill(instance.target.process);
      assert.equal(await instance.server.stop('SIGKILL', 5000), null);
      assert.equal(instance.server.process.signalCode, 'SIGKILL', `cycle ${cycle}: ${instance.target.process} was killed, not stopped otherwise`);
      await sleep(between(random, 0, 200));
      slots[victim] = await start(victim);
    }
    await load.waitForAcknowledged(30, 'after the last restart');
  } finally {
    await load.stop();
  }

  // Every lease ended: list, drain over every instance in turn, read again.
  const live = slots.filter((instance): instance is Instance => instance !== undefined);
  const drained = await drainGapless(recorder, live.map((instance) => instance.target), GAPLESS_SEQUENCES);
  for (const instance of everyInstance) {
    const expected = live.includes(instance) ? null : 'SIGKILL';
    assert.equal(instance.server.process.signalCode, expected, `${instance.target.process}: ${instance.server.stderr()}`);
  }
  for (const instance of live) assert.equal(await instance.server.stop('SIGTERM'), 0, instance.server.stderr());

  const summary = checkGaplessHistory(recorder.history(), {
    clockToleranceMs: CLOCK_TOLERANCE_MS,
    acceptError: (status, code) => status === 503 && code === 'store_unavailable',
  });
  console.log(`${formatGaplessSummary('chaos-postgres gapless', CYCLES, summary)} (seed ${seed}, ${generation - INSTANCES} instance restarts)`);
  assert.deepEqual(summary.violations, [], `the gapless history of seed ${seed} has violations`);
  assert.equal(summary.drained, drained);
  assert.ok(summary.confirmed > 0 && summary.released > 0 && summary.voided > 0, `every action happened (${summary.confirmed} confirmed, ${summary.released} released, ${summary.voided} voided)`);
  assert.ok(summary.seriesChecked > 0, 'the series was checked');
});
