/**
 * The cold-start row: `serve` on a store holding `sequences` sequences, timed
 * from spawn to listening and to its first answer, with its RSS after it.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { seedEntries } from '../src/core/import-rules.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { rssMb, serveArgs, start, stop } from './servers.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

export interface ColdStart {
  readonly readyMs: number;
  readonly firstAnswerMs: number;
  readonly rssMb: number;
}

/** A new SQLite store at `path` holding `sequences` sequences, customer-0 (at 1) to customer-(sequences-1). */
export async function seedStore(path: string, sequences: number): Promise<void> {
  const store = SqliteStore.open(path, { mode: 'write' });
  for (let from = 0; from < sequences; from += 100_000) {
    const chunk = new Map<string, bigint>();
    for (let i = from; i < Math.min(sequences, from + 100_000); i += 1) chunk.set(`customer-${i}`, BigInt(i + 1));
    await store.importSequences(seedEntries(chunk));
  }
  await store.close();
}

export async function coldStart(sequences: number): Promise<ColdStart> {
  const dir = mkdtempSync(join(tmpdir(), 'takeanumber-bench-cold-'));
  try {
    const path = join(dir, 'cold.db');
    await seedStore(path, sequences);
    const server = await start(serveArgs(`sqlite:${path}`));
    try {
      const t0 = performance.now();
      const first = await fetch(`${server.url}/next/customer-${Math.floor(sequences / 2)}`, { method: 'POST' });
      const firstAnswerMs = performance.now() - t0 + server.readyMs;
      if (first.status !== 200) throw new Error(`cold start: first answer ${first.status}`);
      await sleep(200);
      return { readyMs: server.readyMs, firstAnswerMs, rssMb: rssMb(server.child.pid) };
    } finally {
      await stop(server);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
