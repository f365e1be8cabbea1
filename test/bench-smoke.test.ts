import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { hasRedis } from '../bench/redis.js';

const hasWrk = spawnSync('wrk', ['--version']).error === undefined;
// On a developer's machine without wrk the test is skipped, saying how to get it; in CI (.ci/run
// installs it) a missing wrk is a failure, so the benchmark can never silently stop being run.
const skip = hasWrk || process.env.CI === 'true' ? false : 'wrk is not installed (Debian: apt-get install wrk)';

// A tiny run of `npm run bench` (one round of 1 s runs, 8 connections): the script starts every server,
// loads it and prints its table. Timings are not asserted here; they belong to the benchmark. Without
// redis-server the Redis row says how to install it instead of a figure.
test('the benchmark script runs end to end (tiny smoke run)', { skip }, () => {
  assert.ok(hasWrk, 'wrk is not installed: .ci/run installs it (apt-get install wrk)');
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts'], {
    env: { ...process.env, SECONDS: '1', WARMUP: '0', RUNS: '1', CONNECTIONS: '8', SEQUENCES: '2000' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(result.status, 0, result.stderr);
  const rows = ['floor: bare node:http', 'durable floor: bare node:http', 'Redis INCR', 'POST /next/hot', 'reserve + confirm pairs', '100,000 random names', 'count=1000'];
  for (const row of [...rows, 'Cold start with 2,000 sequences']) {
    assert.ok(result.stdout.includes(row), `the report has a row for ${row}`);
  }
  const figure = '[1-9][\\d,]*';
  for (const row of ['durable floor: bare node:http', 'POST /next/hot \\(one hot sequence\\)', 'POST /next/r-N']) {
    // Served without errors, with a ratio to the durable floor.
    assert.match(result.stdout, new RegExp(`\\| ${row}[^|]* \\| 8 \\| ${figure} requests/s \\|.*\\| \\d+\\.\\d\\d× \\|.*\\| 0 \\|`), `the row ${row} served requests without errors`);
  }
  // Reservations were confirmed (the script read their ids from the answers), none refused.
  assert.match(result.stdout, new RegExp(`\\| POST /next/gapless \\+ …/confirm .*\\| ${figure} pairs/s \\(${figure} requests/s\\) .*\\| 0 \\|`), 'the gapless row confirmed pairs without errors');
  assert.match(result.stdout, new RegExp(`\\| POST /next/batch\\?count=1000 \\| 8 \\| ${figure} numbers/s`), 'the count=1000 row counts numbers');
  // The SDK's figures (bench/sdk.ts) come in the same report.
  assert.match(result.stdout, /SDK \(bench\/sdk\.ts\):\n\n- sdk tan\.next\(\) .*calls\/s/, 'the SDK rows are in the report');
  if (hasRedis()) assert.match(result.stdout, new RegExp(`\\| Redis INCR[^|]* \\| 8 \\| ${figure} commands/s`), 'the Redis row ran');
  else assert.match(result.stdout, /\| Redis INCR[^|]* \| 8 \| not run: redis-server is not installed: apt-get install redis-server/, 'the Redis row says how to install it');
});
