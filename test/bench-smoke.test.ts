import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

const hasWrk = spawnSync('wrk', ['--version']).error === undefined;
// On a developer's machine without wrk the test is skipped, saying how to get it; in CI (.ci/run
// installs it) a missing wrk is a failure, so the benchmark can never silently stop being run.
const skip = hasWrk || process.env.CI === 'true' ? false : 'wrk is not installed (Debian: apt-get install wrk)';

// A tiny run of `npm run bench`: the script starts both servers, loads them and prints its table.
// Timings are not asserted here; they belong to the benchmark.
test('the benchmark script runs end to end (tiny smoke run)', { skip }, () => {
  assert.ok(hasWrk, 'wrk is not installed: .ci/run installs it (apt-get install wrk)');
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts'], {
    env: { ...process.env, SECONDS: '1', CONNECTIONS: '8', SEQUENCES: '2000' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(result.status, 0, result.stderr);
  for (const row of ['floor: bare node:http', 'POST /next/hot', 'reserve + confirm pairs', '100,000 random names', 'count=1000', 'Cold start with 2,000 sequences']) {
    assert.ok(result.stdout.includes(row), `the report has a row for ${row}`);
  }
  assert.match(result.stdout, /\| POST \/next\/hot \(one hot sequence\) \| [1-9]\d* requests\/s .*\| 0 \|/, 'the hot row served requests without errors');
  // Reservations were confirmed (the script read their ids from the answers), none refused.
  assert.match(result.stdout, /\| POST \/next\/gapless \+ …\/confirm .*\| [1-9]\d* pairs\/s \([1-9]\d* requests\/s\) .*\| 0 \|/, 'the gapless row confirmed pairs without errors');
});
