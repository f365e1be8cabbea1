/**
 * The row users would pick instead of take-a-number: Redis `INCR` with
 * `appendfsync always` (every command appended to the AOF and fdatasynced
 * before its reply, group-committed per event-loop turn), loaded by
 * redis-benchmark with the same number of connections. Needs the Debian
 * package redis-server (it also brings redis-benchmark).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuMicros, freePort, rssMb, stop, type Measure } from './servers.js';

export const redisInstallHint = 'apt-get install redis-server';

export function hasRedis(): boolean {
  return spawnSync('redis-server', ['--version']).error === undefined && spawnSync('redis-benchmark', ['--help']).error === undefined;
}

interface Benchmark {
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly requests: number;
  readonly out: string;
}

/** One redis-benchmark run of `requests` INCRs; its CSV line is "INCR",rps,avg,min,p50,p95,p99,max. */
function benchmark(port: number, connections: number, requests: number): Promise<Benchmark> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-benchmark', ['-p', String(port), '-c', String(connections), '-n', String(requests), '-t', 'incr', '--csv']);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.on('exit', (code) => {
      const fields = out
        .split('\n')
        .find((line) => line.startsWith('"INCR"'))
        ?.split(',')
        .map((field) => Number(field.replaceAll('"', '')));
      if (code !== 0 || fields === undefined) reject(new Error(`redis-benchmark exited (${code}): ${out}`));
      else resolve({ rps: fields[1] ?? 0, p50Ms: fields[4] ?? Number.NaN, p99Ms: fields[6] ?? Number.NaN, requests, out });
    });
  });
}

/** A fresh redis-server (AOF on, fsync always, no RDB snapshots), a warm-up, then a run of about `seconds`. */
export async function loadRedis(options: { connections: number; seconds: number; warmupSeconds: number }): Promise<Measure> {
  const dir = mkdtempSync(join(tmpdir(), 'takeanumber-bench-redis-'));
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--dir', dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const started = { child, dir };
  try {
    await new Promise<void>((resolve, reject) => {
      let buffer = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        buffer += chunk;
        if (buffer.includes('Ready to accept connections')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`redis-server exited (${code}) before it was ready: ${buffer}`)));
    });
    // redis-benchmark counts requests, not seconds: the warm-up tells how many make `seconds`.
    const warm = await benchmark(port, options.connections, Math.max(1000, Math.round(30_000 * Math.max(options.warmupSeconds, 0.2))));
    const requests = Math.max(1000, Math.round(warm.rps * options.seconds));
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(child.pid))), 250);
    const cpuBefore = cpuMicros(child.pid);
    const run = await benchmark(port, options.connections, requests);
    const cpu = cpuMicros(child.pid) - cpuBefore;
    clearInterval(sampler);
    return { rps: run.rps, p50Ms: run.p50Ms, p99Ms: run.p99Ms, errors: 0, errorKinds: '', cpuUs: cpu / requests, rssMb: peak, out: run.out };
  } finally {
    await stop(started);
  }
}
