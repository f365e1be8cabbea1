/**
 * Listing speed with many sequences: fills a fresh SQLite store with
 * SEQUENCES sequences (default 1,000,000), then times `GET /sequences` pages
 * (through the real app, in process) at the start, deep in the key space via
 * a cursor, with a prefix, and a walk over many consecutive pages.
 *
 *   npm run bench:list                 # 1,000,000 sequences
 *   SEQUENCES=100000 npm run bench:list
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildApp } from '../src/app.js';
import { encodeCursor } from '../src/http/inputs.js';
import { seedEntries } from '../src/core/import-rules.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';

const total = Number(process.env.SEQUENCES ?? 1_000_000);
const samples = Number(process.env.SAMPLES ?? 200);
const dir = mkdtempSync(join(tmpdir(), 'takeanumber-bench-list-'));
const name = (i: number): string => `tenant-${String(i % 1000).padStart(3, '0')}/order-${String(i).padStart(8, '0')}`;

try {
  const store = SqliteStore.open(join(dir, 'bench.db'), { mode: 'write' });
  let started = performance.now();
  for (let from = 0; from < total; from += 100_000) {
    const chunk = new Map<string, bigint>();
    for (let i = from; i < Math.min(total, from + 100_000); i += 1) chunk.set(name(i), BigInt(i + 1));
    await store.importSequences(seedEntries(chunk));
  }
  const fillMs = performance.now() - started;
  const app = await buildApp({ store });
  await app.ready();

  const time = async (label: string, url: () => string): Promise<string> => {
    const times: number[] = [];
    for (let i = 0; i < samples; i += 1) {
      const target = url();
      const t0 = performance.now();
      const response = await app.inject({ url: target });
      times.push(performance.now() - t0);
      if (response.statusCode !== 200) throw new Error(`${target}: ${response.statusCode} ${response.body}`);
    }
    times.sort((a, b) => a - b);
    const at = (q: number): string => (times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0).toFixed(2);
    return `| ${label} | ${at(0.5)} | ${at(0.99)} |`;
  };

  const rows = [
    await time('first page, limit 100', () => '/sequences?limit=100'),
    await time('random deep page (cursor), limit 100', () => `/sequences?limit=100&cursor=${encodeCursor(name(Math.floor(Math.random() * total)))}`),
    await time('prefix of ~1/1000 of names, limit 100', () => `/sequences?limit=100&prefix=${encodeURIComponent(`tenant-${String(Math.floor(Math.random() * 1000)).padStart(3, '0')}/`)}`),
    await time('random deep page, limit 1000', () => `/sequences?limit=1000&cursor=${encodeCursor(name(Math.floor(Math.random() * total)))}`),
  ];

  started = performance.now();
  let cursor: string | null = null;
  let pages = 0;
  do {
    const url = `/sequences?limit=1000${cursor === null ? '' : `&cursor=${cursor}`}`;
    const page: { next_cursor: string | null } = (await app.inject({ url })).json();
    cursor = page.next_cursor;
    pages += 1;
  } while (cursor !== null && pages < 200);
  const walkMs = performance.now() - started;

  console.log(`# Listing ${total.toLocaleString('en-US')} sequences (${availableParallelism()} cores, ${cpus()[0]?.model ?? 'unknown CPU'})`);
  console.log(`filled the store in ${(fillMs / 1000).toFixed(1)} s; ${samples} requests per row, in process (app.inject)\n`);
  console.log('| request | p50 ms | p99 ms |\n| --- | ---: | ---: |');
  console.log(rows.join('\n'));
  console.log(`\nwalked ${pages} consecutive pages of 1000 in ${walkMs.toFixed(0)} ms (${(walkMs / pages).toFixed(2)} ms a page)`);
  await app.close();
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
