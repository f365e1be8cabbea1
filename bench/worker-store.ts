/**
 * Would the SQLite store on a thread of its own serve 100,000 random names
 * faster (issue 17)? Rounds alternate, each on a fresh store, under wrk -t1
 * at CONNECTIONS (64) with the random-names script of `npm run bench`:
 *
 * - the durable floor (bench/floor-durable.ts), the yardstick;
 * - `serve`, the service as it is;
 * - bare node:http with the store on the main thread (worker-store-server.ts, MODE=main);
 * - the same with the store in a worker thread (MODE=worker);
 * - the worker handed every CHUNK (16) requests as parsed, so parsing and commits overlap.
 *
 * Reported per row, medians of RUNS (3) rounds: requests/s and its ratio to
 * the durable floor, p99, and the CPU time per request of each thread of the
 * server that used at least 1 µs a request (from /proc/PID/task).
 *
 *   node --import tsx bench/worker-store.ts
 *   RUNS=5 CONNECTIONS=256 node --import tsx bench/worker-store.ts
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomNames } from './rows.js';
import { load, median, root, serveArgs, start, statCpuMicros, stop } from './servers.js';

const runs = Number(process.env.RUNS ?? 3);
const connections = Number(process.env.CONNECTIONS ?? 64);
const seconds = Number(process.env.SECONDS ?? 5);
const chunk = Number(process.env.CHUNK ?? 16);

interface Layout {
  readonly what: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

const prototype = ['--import', 'tsx', join(root, 'bench/worker-store-server.ts')];
const layouts: readonly Layout[] = [
  { what: 'durable floor', args: ['--import', 'tsx', join(root, 'bench/floor-durable.ts')] },
  { what: 'serve (the service)', args: serveArgs() },
  { what: 'bare http, store on the main thread', args: prototype, env: { MODE: 'main' } },
  { what: 'bare http, store in a worker', args: prototype, env: { MODE: 'worker' } },
  { what: `bare http, store in a worker, handed every ${chunk}`, args: prototype, env: { MODE: 'worker', CHUNK: String(chunk) } },
];

/** CPU time (µs) of each thread of `pid` so far, by thread id. */
function threadCpu(pid: number): Map<string, number> {
  const threads = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      threads.set(tid, statCpuMicros(`/proc/${pid}/task/${tid}/stat`));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return threads;
}

interface Round {
  readonly rps: number;
  readonly p99Ms: number;
  readonly errors: number;
  /** CPU µs per request of the threads that used at least 1 µs a request, busiest first: the main thread, then the worker. */
  readonly threads: readonly number[];
  readonly totalUs: number;
}

async function measure(layout: Layout): Promise<Round> {
  const server = await start(layout.args, layout.env);
  try {
    await load(server, '/', { connections, seconds: 2, warmupSeconds: 0, script: randomNames });
    const pid = server.child.pid ?? 0;
    const before = threadCpu(pid);
    const measured = await load(server, '/', { connections, seconds, warmupSeconds: 0, script: randomNames });
    const after = threadCpu(pid);
    const requests = measured.rps * seconds;
    const perThread = [...after].map(([tid, micros]) => (micros - (before.get(tid) ?? 0)) / requests);
    return {
      rps: measured.rps,
      p99Ms: measured.p99Ms,
      errors: measured.errors,
      threads: perThread.filter((us) => us >= 1).sort((a, b) => b - a),
      totalUs: measured.cpuUs,
    };
  } finally {
    await stop(server);
  }
}

const rounds = new Map<string, Round[]>();
for (let round = 0; round < runs; round += 1) {
  for (const layout of layouts) {
    const result = await measure(layout);
    console.error(`round ${round + 1}/${runs}: ${layout.what}: ${Math.round(result.rps)} requests/s, ${result.errors} errors`);
    rounds.set(layout.what, [...(rounds.get(layout.what) ?? []), result]);
  }
}

const floor = rounds.get('durable floor') ?? [];
console.log(`100,000 random names, wrk -t1 -c${connections}, ${seconds} s after 2 s of warm-up, medians of ${runs} rounds (ratio: median of per-round ratios)\n`);
console.log('| layout | requests/s | vs durable floor | p99 | CPU µs a request: all threads | busiest threads |');
console.log('| --- | ---: | ---: | ---: | ---: | --- |');
for (const layout of layouts) {
  const results = rounds.get(layout.what) ?? [];
  const ratios = results.map((result, index) => result.rps / (floor[index]?.rps ?? Number.NaN));
  const threads = [0, 1].map((index) => median(results.map((result) => result.threads[index] ?? 0)));
  const errors = results.reduce((sum, result) => sum + result.errors, 0);
  console.log(
    `| ${layout.what} | ${Math.round(median(results.map((result) => result.rps))).toLocaleString('en-US')}${errors > 0 ? ` (${errors} errors)` : ''} | ` +
      `${median(ratios).toFixed(2)}× | ${median(results.map((result) => result.p99Ms)).toFixed(1)} ms | ` +
      `${median(results.map((result) => result.totalUs)).toFixed(1)} | ${threads.filter((us) => us > 0).map((us) => us.toFixed(1)).join(' + ')} |`,
  );
}
