/**
 * `npm run bench`: the real CLI (`serve`, SQLite store in a temporary folder)
 * against a bare node:http floor server, loaded in turn by the same client
 * (wrk) in one run, so the ratio is meaningful on a noisy machine.
 *
 *   npm run bench                       # 10 s per row, 64 connections
 *   SECONDS=3 SEQUENCES=100000 npm run bench
 *   npm run bench -- --save             # also writes bench/results/DATE-bench.md
 *
 * Rows: one hot sequence (POST), reserve + confirm pairs on one gapless
 * sequence (pairs/s), 100,000 random names, count=1000 (numbers/s), and a
 * cold start with SEQUENCES (default 1,000,000) sequences in the store.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { seedEntries } from '../src/core/import-rules.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';

const seconds = Number(process.env.SECONDS ?? 10);
const connections = Number(process.env.CONNECTIONS ?? 64);
const coldSequences = Number(process.env.SEQUENCES ?? 1_000_000);
const save = process.argv.includes('--save');
const root = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'takeanumber-bench-'));

if (spawnSync('wrk', ['--version']).error !== undefined) {
  console.error('npm run bench needs wrk (a load generator that costs little CPU): apt-get install wrk');
  process.exit(1);
}

interface Started {
  readonly child: ChildProcess;
  readonly url: string;
  readonly readyMs: number;
}

/** Starts a server printing a JSON line with `take-a-number ready` and its url; resolves when it does. */
function start(args: string[]): Promise<Started> {
  const began = performance.now();
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let buffer = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      const line = buffer.split('\n').find((l) => l.includes('take-a-number ready'));
      if (line !== undefined) resolve({ child, url: (JSON.parse(line) as { url: string }).url, readyMs: performance.now() - began });
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited (${code}) before it was ready`)));
  });
}

async function stop(started: Started): Promise<void> {
  started.child.kill('SIGTERM');
  await new Promise((resolve) => started.child.once('exit', resolve));
}

function rssMb(pid: number | undefined): number {
  const status = readFileSync(`/proc/${pid ?? 0}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

interface Load {
  /** wrk's text, for what a script prints in its done(). */
  out: string;
  rps: number;
  p50: string;
  p99: string;
  errors: number;
  rssMb: number;
}

async function load(started: Started, path: string, script?: string): Promise<Load> {
  const args = ['-t1', `-c${connections}`, '--latency'];
  if (script !== undefined) {
    const file = join(dir, `${Math.random().toString(36).slice(2)}.lua`);
    writeFileSync(file, script);
    args.push('-s', file);
  }
  const run = (duration: number): Promise<string> =>
    new Promise((resolve) => {
      const wrk = spawn('wrk', [...args, `-d${duration}s`, `${started.url}${path}`]);
      let out = '';
      wrk.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
      wrk.on('exit', () => resolve(out));
    });
  await run(Math.min(2, seconds)); // warm-up
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(started.child.pid))), 250);
  const out = await run(seconds);
  clearInterval(sampler);
  const errors =
    Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0) +
    (/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)?.slice(1).reduce((a, b) => a + Number(b), 0) ?? 0);
  return {
    out,
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
    p50: / 50%\s+(\S+)/.exec(out)?.[1] ?? '?',
    p99: / 99%\s+(\S+)/.exec(out)?.[1] ?? '?',
    errors,
    rssMb: peak,
  };
}

const post = 'wrk.method = "POST"\n';
const random = 'math.randomseed(42)\nrequest = function() return wrk.format("POST", "/next/r-" .. math.random(1, 100000)) end\n';
/**
 * Reserve + confirm pairs on the gapless sequence `gapless`: each answer to
 * /next queues its reservation, and the next request a connection sends
 * confirms the oldest queued one (else reserves). Every request is one
 * durable commit (group-committed). done() prints the pairs confirmed and the
 * run's length, read by `pairsPerSecond`.
 */
const gaplessPairs = `
local pending = {}
confirmed = 0
request = function()
  local id = table.remove(pending, 1)
  if id then return wrk.format("POST", "/sequences/gapless/reservations/" .. id .. "/confirm") end
  return wrk.format("POST", "/next/gapless")
end
response = function(status, headers, body)
  local id = string.match(body, '"reservation":"([A-Za-z0-9_-]+)"')
  if id then table.insert(pending, id) elseif status == 200 then confirmed = confirmed + 1 end
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local pairs = 0
  for _, thread in ipairs(threads) do pairs = pairs + thread:get("confirmed") end
  io.write(string.format("confirmed pairs: %d in %d us\\n", pairs, summary.duration))
end
`;
const pairsPerSecond = (result: Load): number => {
  const match = /confirmed pairs: (\d+) in (\d+) us/.exec(result.out);
  return match === null ? 0 : Number(match[1]) / (Number(match[2]) / 1e6);
};
const serveArgs = (store: string): string[] => [join(root, 'dist/cli.js'), 'serve', '--port', '0', '--host', '127.0.0.1', '--store', store, '--log-level', 'info'];
const rows: string[] = [];
const row = (what: string, result: Load, floor: number, unit = 'requests/s', factor = 1): void => {
  rows.push(
    `| ${what} | ${(result.rps * factor).toFixed(0)} ${unit} | ${result.p50} | ${result.p99} | ${floor > 0 ? `${(result.rps / floor).toFixed(2)}×` : ''} | ${result.rssMb.toFixed(0)} MB | ${result.errors} |`,
  );
};

try {
  const floorServer = await start(['--import', 'tsx', join(root, 'bench/floor.ts')]);
  const floor = await load(floorServer, '/next/bench', post);
  await stop(floorServer);
  row('floor: bare node:http, constant body', floor, floor.rps);

  const hotServer = await start(serveArgs(`sqlite:${join(dir, 'hot.db')}`));
  row('POST /next/hot (one hot sequence)', await load(hotServer, '/next/hot', post), floor.rps);
  const created = await fetch(`${hotServer.url}/sequences/gapless`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"gapless":true}' });
  if (created.status !== 201) throw new Error(`PUT /sequences/gapless answered ${created.status}: ${await created.text()}`);
  const gapless = await load(hotServer, '/', gaplessPairs);
  rows.push(
    `| POST /next/gapless + …/confirm (reserve + confirm pairs, one gapless sequence) | ${pairsPerSecond(gapless).toFixed(0)} pairs/s (${gapless.rps.toFixed(0)} requests/s) | ${gapless.p50} | ${gapless.p99} | ${(gapless.rps / floor.rps).toFixed(2)}× | ${gapless.rssMb.toFixed(0)} MB | ${gapless.errors} |`,
  );
  row('POST /next/r-N (100,000 random names)', await load(hotServer, '/', random), floor.rps);
  const batch = await load(hotServer, '/next/batch?count=1000', post);
  rows.push(
    `| POST /next/batch?count=1000 | ${(batch.rps * 1000).toFixed(0)} numbers/s (${batch.rps.toFixed(0)} requests/s) | ${batch.p50} | ${batch.p99} | ${(batch.rps / floor.rps).toFixed(2)}× | ${batch.rssMb.toFixed(0)} MB | ${batch.errors} |`,
  );
  await stop(hotServer);

  // Cold start with many sequences in the store.
  const coldPath = join(dir, 'cold.db');
  const store = SqliteStore.open(coldPath, { mode: 'write' });
  for (let from = 0; from < coldSequences; from += 100_000) {
    const chunk = new Map<string, bigint>();
    for (let i = from; i < Math.min(coldSequences, from + 100_000); i += 1) chunk.set(`customer-${i}`, BigInt(i + 1));
    await store.importSequences(seedEntries(chunk));
  }
  await store.close();
  const cold = await start(serveArgs(`sqlite:${coldPath}`));
  const t0 = performance.now();
  const first = await fetch(`${cold.url}/next/customer-${Math.floor(coldSequences / 2)}`, { method: 'POST' });
  const firstMs = performance.now() - t0 + cold.readyMs;
  if (first.status !== 200) throw new Error(`cold start: first answer ${first.status}`);
  await sleep(200);
  const coldRss = rssMb(cold.child.pid);
  await stop(cold);

  const header = [
    `# npm run bench (${new Date().toISOString().slice(0, 10)})`,
    '',
    `Machine: ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}. Load: wrk, 1 thread, ${connections} connections, ${seconds} s a row after a warm-up, on loopback. Every number is fsynced (SQLite WAL, synchronous=FULL) before it is answered.`,
    '',
    '| what | throughput | p50 | p99 | vs floor | peak RSS | errors |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const footer = [
    '',
    'The gapless row: each connection reserves (POST /next/gapless) and confirms a reservation in turn; its latencies are per request, a pair is two.',
    '',
    `Cold start with ${coldSequences.toLocaleString('en-US')} sequences in the store: ready (listening) after ${cold.readyMs.toFixed(0)} ms, first answer after ${firstMs.toFixed(0)} ms, RSS ${coldRss.toFixed(0)} MB.`,
  ];
  const report = [...header, ...rows, ...footer].join('\n');
  console.log(report);
  if (save) {
    const file = join(root, 'bench/results', `${new Date().toISOString().slice(0, 10)}-bench.md`);
    writeFileSync(file, `${report}\n\nCommand: \`SECONDS=${seconds} CONNECTIONS=${connections} SEQUENCES=${coldSequences} npm run bench -- --save\`\n`);
    console.log(`\nsaved to ${file}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
