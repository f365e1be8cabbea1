/**
 * What `npm run bench` starts and how it loads it: a server printing a JSON
 * line with `take-a-number ready` and its url, loaded by wrk (one thread, a
 * warm-up then the measured run), with the server's CPU time per request read
 * from /proc (utime + stime: a figure that other processes on the machine
 * disturb far less than requests/s).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

export const root = new URL('..', import.meta.url).pathname;

export interface Started {
  readonly child: ChildProcess;
  readonly url: string;
  readonly readyMs: number;
  /** A folder of its own (its store, its log), removed by `stop`. */
  readonly dir: string;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}

/**
 * Starts `node args…` on a free port with DATA_DIR set to a fresh folder
 * (`{port}` and `{dir}` in args are replaced by them; PORT and DATA_DIR are
 * also set). Ready when it answers HTTP at all (at `--log-level warn` serve
 * prints no ready line): polled every 10 ms. `env` is added to this process's.
 */
export async function start(args: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<Started> {
  const dir = mkdtempSync(join(tmpdir(), 'takeanumber-bench-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const began = performance.now();
  const child = spawn(process.execPath, args.map((arg) => arg.replaceAll('{dir}', dir).replaceAll('{port}', String(port))), {
    cwd: root,
    env: { ...process.env, ...env, DATA_DIR: dir, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  for (;;) {
    if (exited !== undefined) throw new Error(`${args.join(' ')} exited (${exited}) before it was ready`);
    const answered = await fetch(`${url}/healthz`).then(
      () => true,
      () => false,
    );
    if (answered) return { child, url, readyMs: performance.now() - began, dir };
    await sleep(10);
  }
}

export async function stop(started: { readonly child: ChildProcess; readonly dir: string }): Promise<void> {
  if (started.child.exitCode === null && started.child.signalCode === null) {
    const exited = new Promise((resolve) => started.child.once('exit', resolve));
    started.child.kill('SIGTERM');
    await exited;
  }
  rmSync(started.dir, { recursive: true, force: true });
}

/** `serve` on a fresh SQLite store in the server's own folder. */
export const serveArgs = (store = 'sqlite:{dir}/bench.db'): string[] => [
  join(root, 'dist/cli.js'),
  'serve',
  '--port',
  '{port}',
  '--host',
  '127.0.0.1',
  '--store',
  store,
  '--log-level',
  'warn',
];

export function rssMb(pid: number | undefined): number {
  const status = readFileSync(`/proc/${pid ?? 0}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** User + system CPU time of a process so far, in microseconds (fields 14 and 15 of /proc/PID/stat, in clock ticks of 10 ms). */
export function cpuMicros(pid: number | undefined): number {
  return statCpuMicros(`/proc/${pid ?? 0}/stat`);
}

/** The same of a process or of one of its threads (/proc/PID/task/TID/stat): its stat file's user + system time. */
export function statCpuMicros(statFile: string): number {
  const stat = readFileSync(statFile, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** The median of some measurements (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? Number.NaN) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** One measured run of one row. */
export interface Measure {
  /** Requests (or commands) per second. */
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Socket errors plus non-2xx answers: a run with any does not count. */
  readonly errors: number;
  /** What they were, e.g. "timeout 12, non-2xx 3" (empty without errors). */
  readonly errorKinds: string;
  /** The server's CPU time per request, µs. */
  readonly cpuUs: number;
  readonly rssMb: number;
  /** The load generator's text, for what a script prints in its done(). */
  readonly out: string;
}

/** wrk's latency ("812.00us", "1.20ms", "1.01s") in ms. */
export function milliseconds(text: string | undefined): number {
  const match = /^([\d.]+)(us|ms|s)$/.exec(text ?? '');
  if (match === null) return Number.NaN;
  return Number(match[1]) * { us: 0.001, ms: 1, s: 1000 }[match[2] as 'us' | 'ms' | 's'];
}

export interface LoadOptions {
  readonly connections: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  /** A wrk Lua script (its text). */
  readonly script?: string;
}

function wrk(args: readonly string[]): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn('wrk', args);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.on('exit', () => resolve(out));
  });
}

/** Loads `started` with wrk on `path`: a warm-up, then the measured run. */
export async function load(started: Started, path: string, options: LoadOptions): Promise<Measure> {
  const args = ['-t1', `-c${options.connections}`, '--latency'];
  if (options.script !== undefined) {
    const file = join(started.dir, 'load.lua');
    writeFileSync(file, options.script);
    args.push('-s', file);
  }
  const target = `${started.url}${path}`;
  if (options.warmupSeconds > 0) await wrk([...args, `-d${options.warmupSeconds}s`, target]);
  const pid = started.child.pid;
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 250);
  const cpuBefore = cpuMicros(pid);
  const out = await wrk([...args, `-d${options.seconds}s`, target]);
  const cpu = cpuMicros(pid) - cpuBefore;
  clearInterval(sampler);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)?.slice(1) ?? [];
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const kinds = (['connect', 'read', 'write', 'timeout'] as const).map((kind, i) => [kind, Number(socketErrors[i] ?? 0)] as const);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
    p50Ms: milliseconds(/ 50%\s+(\S+)/.exec(out)?.[1]),
    p99Ms: milliseconds(/ 99%\s+(\S+)/.exec(out)?.[1]),
    errors: non2xx + kinds.reduce((sum, [, n]) => sum + n, 0),
    errorKinds: [...kinds, ['non-2xx', non2xx] as const]
      .filter(([, n]) => n > 0)
      .map(([kind, n]) => `${kind} ${n}`)
      .join(', '),
    cpuUs: requests > 0 ? cpu / requests : Number.NaN,
    rssMb: peak,
    out,
  };
}
