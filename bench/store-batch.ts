/**
 * The SQLite store alone, without HTTP: the wall and CPU time of one
 * `allocateBatch` of BATCH requests (60: about what 64 connections give a
 * group commit), on one hot name and on 100,000 names taken in a scattered
 * order (each new at first use, as the bench's random row), after a warm-up.
 * Every batch is a real commit with its fsync. Less noisy than the HTTP rows:
 * nothing else shares the process's event loop.
 *
 *   npm run build && node --import tsx bench/store-batch.ts
 *   BATCHES=4000 BATCH=60 node --import tsx bench/store-batch.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { AllocationRequest } from '../src/core/store.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';

const batches = Number(process.env.BATCHES ?? 2000);
const size = Number(process.env.BATCH ?? 60);
const NAMES = 100_000;

async function measure(what: string, nameOf: () => string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'takeanumber-store-batch-'));
  const store = SqliteStore.open(join(dir, 'store.db'), { mode: 'write' });
  try {
    const batch = (): AllocationRequest[] => Array.from({ length: size }, () => ({ name: nameOf(), count: 1n, create: true }));
    for (let i = 0; i < 300; i += 1) await store.allocateBatch(batch());
    const cpu = process.cpuUsage();
    const began = performance.now();
    for (let i = 0; i < batches; i += 1) await store.allocateBatch(batch());
    const wallUs = ((performance.now() - began) * 1000) / batches;
    const used = process.cpuUsage(cpu);
    console.log(
      `${what}: a batch of ${size}: ${wallUs.toFixed(0)} µs wall, ${((used.user + used.system) / batches).toFixed(0)} µs CPU ` +
        `(${(used.user / batches).toFixed(0)} user, ${(used.system / batches).toFixed(0)} system); ` +
        `${(((used.user + used.system) / batches) / size).toFixed(1)} µs CPU a request`,
    );
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await measure('one hot name', () => 'hot');
let next = 0;
// A stride through the names: each batch's names spread over the whole key range, each new at first use.
await measure(`${NAMES.toLocaleString('en-US')} names`, () => `r-${(next = (next + 7919) % NAMES)}`);
