/**
 * Several instances on one PostgreSQL, one hot sequence: requests/s with
 * cache 1 (coalesced UPDATE … RETURNING per batch) and cache 100 (blocks in
 * memory), beside a plain loop of single-row UPDATE … RETURNING statements
 * measured in the same run. Uses wrk (Debian package) against every instance
 * at once.
 *
 *   npm run bench:postgres            # 3 instances, 10 s per run
 *   INSTANCES=2 SECONDS=5 npm run bench:postgres
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { embeddedPostgres } from '../scripts/embedded-postgres.js';

const instances = Number(process.env.INSTANCES ?? 3);
const seconds = Number(process.env.SECONDS ?? 10);
const connections = Number(process.env.CONNECTIONS ?? 64);
const cli = new URL('../dist/cli.js', import.meta.url).pathname;

if (spawnSync('wrk', ['--version']).error !== undefined) {
  console.error('wrk is needed: apt-get install wrk');
  process.exit(1);
}

const { server, dir, url: databaseUrl } = await embeddedPostgres();
const children: ChildProcess[] = [];

async function startInstance(url: string): Promise<string> {
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--host', '127.0.0.1', '--store', url, '--log-level', 'info'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let buffer = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      const match = /"url":"([^"]+)","store"[^\n]*take-a-number ready/.exec(buffer);
      if (match?.[1] !== undefined) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`instance exited (${code}) before it was ready`)));
  });
}

/** Runs wrk against every url at once; returns total requests/s and the worst p99. */
async function load(urls: string[], path: string): Promise<{ rps: number; p99: string }> {
  const runs = urls.map(
    (url) =>
      new Promise<string>((resolve) => {
        const wrk = spawn('wrk', ['-t1', `-c${Math.ceil(connections / urls.length)}`, `-d${seconds}s`, '--latency', '-s', join(dir, 'post.lua'), `${url}${path}`]);
        let out = '';
        wrk.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
        wrk.on('exit', () => resolve(out));
      }),
  );
  const outputs = await Promise.all(runs);
  const rps = outputs.reduce((sum, out) => sum + Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0), 0);
  const p99 = outputs.map((out) => / 99%\s+(\S+)/.exec(out)?.[1] ?? '?').join(' / ');
  const non2xx = outputs.reduce((sum, out) => sum + Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0), 0);
  if (non2xx > 0) console.error(`warning: ${non2xx} non-2xx answers on ${path}`);
  return { rps, p99 };
}

async function plainUpdateLoop(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('CREATE TABLE IF NOT EXISTS bench_counter (id int PRIMARY KEY, value bigint NOT NULL)');
  await client.query('INSERT INTO bench_counter VALUES (1, 0) ON CONFLICT DO NOTHING');
  const until = performance.now() + seconds * 1000;
  let count = 0;
  while (performance.now() < until) {
    await client.query('UPDATE bench_counter SET value = value + 1 WHERE id = 1 RETURNING value');
    count += 1;
  }
  await client.end();
  return count / seconds;
}

try {
  writeFileSync(join(dir, 'post.lua'), 'wrk.method = "POST"\n');
  await server.initialise();
  await server.start();
  await server.createDatabase('bench');
  const url = databaseUrl('bench');
  const urls: string[] = [];
  for (let i = 0; i < instances; i += 1) urls.push(await startInstance(url));
  await fetch(`${urls[0] ?? ''}/sequences/cached`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: '{"cache": 100}',
  });
  await load(urls, '/next/hot'); // warm-up
  const loop = await plainUpdateLoop(url);
  const cache1 = await load(urls, '/next/hot');
  const cache100 = await load(urls, '/next/cached');
  console.log(`# ${instances} instances on one PostgreSQL (${availableParallelism()} cores), wrk ${connections} connections in all, ${seconds} s a row\n`);
  console.log('| what | requests/s | p99 per instance | vs plain loop |\n| --- | ---: | --- | ---: |');
  console.log(`| plain single-row UPDATE … RETURNING loop (one client) | ${loop.toFixed(0)} | | 1.0× |`);
  console.log(`| POST /next/hot, cache 1 | ${cache1.rps.toFixed(0)} | ${cache1.p99} | ${(cache1.rps / loop).toFixed(1)}× |`);
  console.log(`| POST /next/cached, cache 100 | ${cache100.rps.toFixed(0)} | ${cache100.p99} | ${(cache100.rps / loop).toFixed(1)}× |`);
} finally {
  for (const child of children) child.kill('SIGTERM');
  await sleep(500);
  await server.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}
