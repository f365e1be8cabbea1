/**
 * `npm run bench`: the service beside its yardsticks, in one run, on one
 * machine: the bare node:http floor, the durable floor (the same with one
 * append + fdatasync per event-loop turn, every answer after its sync) and
 * Redis `INCR` with `appendfsync always`; then the real `serve` (SQLite store,
 * a fresh one per row): one hot sequence, 100,000 random names, count=1000,
 * gapless reserve + confirm; the SDK's rows (bench/sdk.ts);
 * and a cold start with SEQUENCES sequences.
 *
 * Conditions (as ../shared/bench/suite.sh): wrk -t1, WARMUP s (2) then
 * SECONDS s (5) a run, --log-level warn, RUNS (3) rounds with the rows
 * alternated (floor, durable, Redis, service…, floor, durable, …), the median
 * of the rounds reported, ratios to the durable floor at the same number of
 * connections. A row with socket errors or non-2xx answers does not count.
 *
 *   npm run bench                          # 64 and 256 connections
 *   CONNECTIONS=64 RUNS=1 SECONDS=3 npm run bench
 *   npm run bench -- --save                # also writes bench/results/DATE-bench.md
 *   ROWS=floor,hot,random npm run bench    # only the rows whose name contains one of these words
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { coldStart } from './cold-start.js';
import { hasRedis, redisInstallHint } from './redis.js';
import { DURABLE_FLOOR, FLOOR, rows, type Row } from './rows.js';
import { median, root, type Measure } from './servers.js';

const seconds = Number(process.env.SECONDS ?? 5);
const warmupSeconds = Number(process.env.WARMUP ?? 2);
const runs = Number(process.env.RUNS ?? 3);
const connectionCounts = (process.env.CONNECTIONS ?? '64,256').split(',').map(Number);
const coldSequences = Number(process.env.SEQUENCES ?? 1_000_000);
const save = process.argv.includes('--save');
/** How busy the machine was (1-minute load average) when the run began: other processes share the cores with wrk and the servers. */
const loadBefore = loadavg()[0] ?? 0;

if (spawnSync('wrk', ['--version']).error !== undefined) {
  console.error('npm run bench needs wrk (a load generator that costs little CPU): apt-get install wrk');
  process.exit(1);
}

/** ROWS=word,word keeps the rows whose name contains one of the words (both floors are always kept: the ratios are to them). */
const rowFilter = (process.env.ROWS ?? '').split(',').filter((word) => word !== '');
const table = rows(hasRedis() ? undefined : `redis-server is not installed: ${redisInstallHint}`).filter(
  (row) => rowFilter.length === 0 || row.what === DURABLE_FLOOR || row.what === FLOOR || rowFilter.some((word) => row.what.includes(word)),
);
const measured = new Map<string, Measure[]>();
const key = (row: Row, connections: number): string => `${row.what}@${connections}`;

for (const connections of connectionCounts) {
  for (let round = 0; round < runs; round += 1) {
    for (const row of table) {
      if (row.missing !== undefined || (row.firstConnectionsOnly === true && connections !== connectionCounts[0])) continue;
      const measure = await row.measure({ connections, seconds, warmupSeconds });
      // Progress on stderr (the report is stdout): a run takes SECONDS + WARMUP, a full bench some minutes.
      console.error(`round ${round + 1}/${runs}, ${connections} connections: ${row.what}: ${Math.round(measure.rps)} requests/s, ${measure.errors} errors`);
      measured.set(key(row, connections), [...(measured.get(key(row, connections)) ?? []), measure]);
    }
  }
}

const ms = (value: number): string => (Number.isNaN(value) ? '?' : `${value.toFixed(2)} ms`);
const whole = (value: number): string => Math.round(value).toLocaleString('en-US');

interface Summary {
  readonly throughput: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly cpuUs: number;
  readonly rssMb: number;
  readonly errors: number;
  readonly errorKinds: string;
}

function summary(row: Row, connections: number): Summary | undefined {
  const all = measured.get(key(row, connections));
  if (all === undefined) return undefined;
  const of = (field: (measure: Measure) => number): number => median(all.map(field));
  return {
    throughput: of(row.throughput),
    rps: of((m) => m.rps),
    p50Ms: of((m) => m.p50Ms),
    p99Ms: of((m) => m.p99Ms),
    cpuUs: of((m) => m.cpuUs),
    rssMb: Math.max(...all.map((m) => m.rssMb)),
    errors: all.reduce((sum, m) => sum + m.errors, 0),
    errorKinds: all
      .map((m) => m.errorKinds)
      .filter((kinds) => kinds !== '')
      .join('; '),
  };
}

/**
 * The row's requests/s over the durable floor's in each round (the two run
 * within a minute of each other): the machine's speed drifts over minutes,
 * which a ratio of medians taken over the whole run does not cancel.
 */
function roundRatios(row: Row, connections: number): number[] {
  const runs = measured.get(key(row, connections)) ?? [];
  const durable = table.find((r) => r.what === DURABLE_FLOOR);
  const floors = durable === undefined ? [] : (measured.get(key(durable, connections)) ?? []);
  return runs.flatMap((run, round) => {
    const floorRun = floors[round];
    return floorRun === undefined || floorRun.rps === 0 ? [] : [run.rps / floorRun.rps];
  });
}

const lines: string[] = [];
for (const connections of connectionCounts) {
  const byName = (what: string): Summary | undefined => {
    const row = table.find((r) => r.what === what);
    return row === undefined ? undefined : summary(row, connections);
  };
  const durable = byName(DURABLE_FLOOR);
  const floor = byName(FLOOR);
  for (const row of table) {
    if (row.firstConnectionsOnly === true && connections !== connectionCounts[0]) continue;
    if (row.missing !== undefined) {
      lines.push(`| ${row.what} | ${connections} | not run: ${row.missing} | | | | | | | | |`);
      continue;
    }
    const s = summary(row, connections);
    if (s === undefined || durable === undefined || floor === undefined) continue;
    const requests = row.unit === 'requests/s' || row.unit === 'commands/s' ? '' : ` (${whole(s.rps)} requests/s)`;
    const counts = s.errors === 0;
    const ratio = (of: Summary): string => (counts ? `${(s.rps / of.rps).toFixed(2)}×` : 'does not count');
    const perRound = roundRatios(row, connections);
    const rounds = counts && perRound.length > 0 ? `${median(perRound).toFixed(2)}× (${perRound.map((r) => r.toFixed(2)).join(', ')})` : '';
    lines.push(
      `| ${row.what} | ${connections} | ${whole(s.throughput)} ${row.unit}${requests} | ${ms(s.p50Ms)} | ${ms(s.p99Ms)} (${(s.p99Ms / durable.p99Ms).toFixed(1)}× durable's ${ms(durable.p99Ms)}) | ${ratio(durable)} | ${rounds} | ${ratio(floor)} | ${s.cpuUs.toFixed(1)} µs | ${s.rssMb.toFixed(0)} MB | ${counts ? '0' : `${s.errors} (${s.errorKinds}): does not count`} |`,
    );
  }
}

// The SDK's rows: bench/sdk.ts starts its own server and prints one line per figure
// (CALLERS concurrent callers: the first connection count).
// With ROWS set, they run only when it names them ('sdk', 'cold').
const wanted = (word: string): boolean => rowFilter.length === 0 || rowFilter.includes(word);
const sdkLines: string[] = [];
if (wanted('sdk')) {
  const sdk = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bench/sdk.ts')], {
    cwd: root,
    env: { ...process.env, SECONDS: String(seconds), CALLERS: String(connectionCounts[0]) },
    encoding: 'utf8',
  });
  if (sdk.status !== 0) throw new Error(`bench/sdk.ts exited (${sdk.status}): ${sdk.stderr}`);
  sdkLines.push('', 'SDK (bench/sdk.ts):', '', ...sdk.stdout.split('\n').filter((line) => line.trim() !== '').map((line) => `- ${line.trim()}`));
}

const cold = wanted('cold') ? await coldStart(coldSequences) : undefined;
const date = new Date().toISOString().slice(0, 10);
const command = `${rowFilter.length === 0 ? '' : `ROWS=${rowFilter.join(',')} `}SECONDS=${seconds} WARMUP=${warmupSeconds} RUNS=${runs} CONNECTIONS=${connectionCounts.join(',')} SEQUENCES=${coldSequences} npm run bench${save ? ' -- --save' : ''}`;
const report = [
  `# npm run bench (${date})`,
  '',
  `Machine: ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}. Load: wrk -t1 (Redis: redis-benchmark), on loopback, sharing the machine with the servers; ${warmupSeconds} s warm-up then ${seconds} s a run; the median of ${runs} runs, the rows alternated within each round; a fresh store (and a fresh server) for each run. Every number the service answers is fsynced (SQLite WAL, synchronous=FULL) before it is answered. Load average (1 min) when the run began: ${loadBefore.toFixed(1)}, at its end: ${(loadavg()[0] ?? 0).toFixed(1)} (the bench's own processes count about 1-2 of it; more means other processes shared the cores).`,
  '',
  '| what | connections | throughput | p50 | p99 | vs durable floor | vs durable floor, median of the rounds (each round) | vs floor | server CPU / request | peak RSS | errors |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...lines,
  ...sdkLines,
  '',
  'The gapless row: each connection reserves (POST /next/gapless) and confirms a reservation in turn; its latencies are per request, a pair is two. Server CPU / request: user + system time of the server process (/proc/PID/stat) over the measured run, divided by the requests answered.',
  '',
  ...(cold === undefined
    ? []
    : [
        `Cold start with ${coldSequences.toLocaleString('en-US')} sequences in the store: ready (listening) after ${cold.readyMs.toFixed(0)} ms, first answer after ${cold.firstAnswerMs.toFixed(0)} ms, RSS ${cold.rssMb.toFixed(0)} MB.`,
        '',
      ]),
  `Command: \`${command}\``,
].join('\n');
console.log(report);
if (save) {
  const file = join(root, 'bench/results', `${date}-bench.md`);
  writeFileSync(file, `${report}\n`);
  console.log(`\nsaved to ${file}`);
}
