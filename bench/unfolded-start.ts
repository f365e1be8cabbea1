/**
 * Start-up with 1,000,000 sequences and an unfolded allocation log, the
 * issue's worst case: a server killed (-9) with the log at ENTRIES entries
 * (default 36,000: more than the paced fold lets the log hold, about 1.5
 * times the 20,000-entry threshold plus a batch; 60,000 is what a build from
 * before the paced fold could leave) is started again; reported: ready
 * (answers HTTP), the first answer, RSS, and a start of the same store
 * stopped cleanly (log folded) beside it.
 *
 *   npm run bench:start
 *   SEQUENCES=1000000 ENTRIES=60000 node --import tsx bench/unfolded-start.ts
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { seedStore } from './cold-start.js';
import { rssMb, serveArgs, start, stop } from './servers.js';

const sequences = Number(process.env.SEQUENCES ?? 1_000_000);
const entries = Number(process.env.ENTRIES ?? 36_000);
const rounds = Number(process.env.RUNS ?? 3);

const dir = mkdtempSync(join(tmpdir(), 'takeanumber-bench-unfolded-'));
try {
  const live = join(dir, 'live');
  const path = join(live, 'store.db');
  await seedStore(path, sequences);

  // A server that never folds logs `entries` entries (batches of 64 distinct names), then is killed -9.
  const writer = await start([...serveArgs(`sqlite:${path}`)], { TAKEANUMBER_FOLD_ENTRIES: String(entries * 10) });
  let logged = 0;
  let name = 0;
  while (logged < entries) {
    const batch = Array.from({ length: Math.min(64, entries - logged) }, () => {
      name = (name + 7919) % sequences; // a stride: distinct names spread over the whole table
      return fetch(`${writer.url}/next/customer-${name}`, { method: 'POST' }).then((answer) => {
        if (answer.status !== 200) throw new Error(`/next answered ${answer.status}`);
      });
    });
    await Promise.all(batch);
    logged += batch.length;
  }
  writer.child.kill('SIGKILL');
  await new Promise((resolve) => writer.child.once('exit', resolve));
  rmSync(writer.dir, { recursive: true, force: true });
  // Each round starts from a copy of the killed store (a clean stop folds it).
  const crashed = join(dir, 'round');

  const measure = async (store: string): Promise<{ readyMs: number; firstMs: number; rss: number }> => {
    const server = await start(serveArgs(`sqlite:${store}`));
    try {
      const t0 = performance.now();
      const first = await fetch(`${server.url}/next/customer-1`, { method: 'POST' });
      const firstMs = performance.now() - t0 + server.readyMs;
      if (first.status !== 200) throw new Error(`first answer ${first.status}`);
      await sleep(200);
      return { readyMs: server.readyMs, firstMs, rss: rssMb(server.child.pid) };
    } finally {
      // The server's own folder goes (the store is in ours).
      await stop(server);
    }
  };
  for (let round = 0; round < rounds; round += 1) {
    rmSync(crashed, { recursive: true, force: true });
    cpSync(live, crashed, { recursive: true });
    const killed = await measure(join(crashed, 'store.db'));
    const clean = await measure(join(crashed, 'store.db'));
    console.log(
      `${sequences.toLocaleString('en-US')} sequences, ${entries.toLocaleString('en-US')} unfolded log entries after kill -9: ` +
        `ready ${killed.readyMs.toFixed(0)} ms, first answer ${killed.firstMs.toFixed(0)} ms, RSS ${killed.rss.toFixed(0)} MB; ` +
        `the same store after a clean stop: ready ${clean.readyMs.toFixed(0)} ms, first answer ${clean.firstMs.toFixed(0)} ms, RSS ${clean.rss.toFixed(0)} MB`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
