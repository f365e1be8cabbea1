import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { between, chaosCycles, chaosSeed, putSequence, retryAcknowledgedKeys, seededRandom, startLoad, type Target, CHAOS_SEQUENCES } from './helpers/chaos.js';
import { startServer, type RunningServer } from './helpers/cli.js';
import { checkHistory, formatSummary, HistoryRecorder } from './helpers/history.js';
import { tempDir } from './helpers/temp.js';

/**
 * Reliability under crashes, SQLite: `serve` on one store file, killed with
 * SIGKILL at random moments under concurrent load (singles, batches, keyed
 * requests and their retries) and started again, CHAOS_CYCLES times (3 in the
 * normal run; `npm run test:chaos` runs 30). Every request is recorded and the
 * history is checked afterwards (helpers/history.ts): no value twice, values
 * after a restart above everything acknowledged before it, real-time order,
 * retries of acknowledged keys replaying their answer.
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
