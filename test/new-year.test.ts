import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseJsonLossless } from '../src/json.js';
import { startServer, type RunningServer } from './helpers/cli.js';
import { tempDir } from './helpers/temp.js';

const hasFaketime = spawnSync('faketime', ['-f', '+0', 'true']).error === undefined;
// On a developer's machine without faketime the test is skipped, saying how to get it; in CI (.ci/run
// installs it) a missing faketime is a failure, so New Year can never silently stop being tested.
const skip = hasFaketime || process.env.CI === 'true' ? false : 'faketime is not installed (Debian: apt-get install faketime)';

/**
 * A real server whose clock starts at `at` (UTC) and then runs on (libfaketime,
 * `faketime -f '@…'`). The monotonic clock stays real: timers and timeouts
 * keep their meaning. A slow start-up only uses up some of the margin each
 * case leaves before the boundary.
 */
function serveAt(at: string, store: string): Promise<RunningServer> {
  return startServer({
    store: `sqlite:${store}`,
    launcher: ['faketime', '-f', `@${at}`],
    env: { TZ: 'UTC', FAKETIME_DONT_FAKE_MONOTONIC: '1' },
    timeoutMs: 30_000,
  });
}

/**
 * Stops the server: `faketime` runs node as its child and does not pass
 * signals on, so SIGTERM goes to node itself (faketime then exits with its
 * status). Resolves node's exit code.
 */
async function stop(server: RunningServer): Promise<number | null> {
  const wrapper = server.process.pid;
  if (wrapper === undefined || server.process.exitCode !== null) return server.process.exitCode;
  const children = readFileSync(`/proc/${wrapper}/task/${wrapper}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  assert.equal(children.length, 1, `faketime runs one child, not ${children.join(', ')}`);
  const node = children[0] as number;
  process.kill(node, 'SIGTERM');
  try {
    return (await server.waitForExit(15_000)).code;
  } catch (error) {
    process.kill(node, 'SIGKILL');
    throw error;
  }
}

interface Answer {
  readonly next_value: bigint;
  readonly period: string;
  readonly formatted: string;
  /** The server's clock at the answer (its Date header). */
  readonly date: string;
}

async function take(server: RunningServer, name: string): Promise<Answer> {
  const response = await fetch(`${server.url}/next/${name}`, { method: 'POST' });
  const text = await response.text();
  assert.equal(response.status, 200, text);
  return { ...(parseJsonLossless(text) as Omit<Answer, 'date'>), date: response.headers.get('date') ?? '' };
}

async function define(server: RunningServer, name: string): Promise<void> {
  const response = await fetch(`${server.url}/sequences/${name}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ restart: 'yearly', format: 'INV-{yyyy}-{value:6}', start: 100 }),
  });
  assert.equal(response.status, 201, await response.text());
}

async function periodOf(server: RunningServer, name: string): Promise<unknown> {
  const response = await fetch(`${server.url}/sequences/${name}`);
  return (parseJsonLossless(await response.text()) as { period: unknown }).period;
}

describe('New Year on a real server (faketime)', { skip }, () => {
  it('hands out the last number of 2026, then the first of 2027 at start', async () => {
    assert.ok(hasFaketime, 'faketime is not installed: .ci/run installs it (apt-get install faketime)');
    const server = await serveAt('2026-12-31 23:59:45', join(tempDir(), 'new-year.db'));
    try {
      await define(server, 'invoices');
      const answers: Answer[] = [await take(server, 'invoices')];
      assert.equal(answers[0]?.period, '2026', `started too late for the margin: the server's clock said ${answers[0]?.date}`);
      // A number every 200 ms until the server's clock has crossed midnight (about 15 s after its start; bounded).
      const deadline = Date.now() + 45_000;
      while (answers.at(-1)?.period !== '2027') {
        assert.ok(Date.now() < deadline, `New Year never came: the server's clock said ${answers.at(-1)?.date}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
        answers.push(await take(server, 'invoices'));
      }
      const first2027 = answers.length - 1;
      const last2026 = answers[first2027 - 1];
      assert.ok(last2026 !== undefined);
      // Every 2026 answer consecutive from start, the last one the 2026 number just before midnight.
      answers.slice(0, first2027).forEach((answer, i) => {
        assert.deepEqual([answer.next_value, answer.period, answer.formatted], [100n + BigInt(i), '2026', `INV-2026-${String(100 + i).padStart(6, '0')}`]);
      });
      assert.match(last2026.date, /31 Dec 2026 23:59:5\d GMT/);
      const first = answers[first2027];
      assert.deepEqual([first?.next_value, first?.period, first?.formatted], [100n, '2027', 'INV-2027-000100']);
      assert.match(String(first?.date), /01 Jan 2027 00:00:0\d GMT/);
      const second = await take(server, 'invoices');
      assert.deepEqual([second.next_value, second.period, second.formatted], [101n, '2027', 'INV-2027-000101']);
      assert.equal(await periodOf(server, 'invoices'), '2027');
    } finally {
      await stop(server);
    }
  });

  it('after a restart across the boundary: 2027 at start, and a clock set back stays in 2027', async () => {
    const store = join(tempDir(), 'restart.db');
    const before = await serveAt('2026-12-31 23:59:30', store);
    try {
      await define(before, 'invoices');
      assert.deepEqual([(await take(before, 'invoices')).formatted, (await take(before, 'invoices')).formatted], ['INV-2026-000100', 'INV-2026-000101']);
    } finally {
      assert.equal(await stop(before), 0);
    }
    const after = await serveAt('2027-01-01 00:00:05', store);
    try {
      assert.equal(await periodOf(after, 'invoices'), '2026');
      const first = await take(after, 'invoices');
      assert.deepEqual([first.next_value, first.period, first.formatted], [100n, '2027', 'INV-2027-000100']);
    } finally {
      assert.equal(await stop(after), 0);
    }
    // A server whose clock is behind (set back, or another machine's): the period never goes back.
    const behind = await serveAt('2026-12-31 23:00:00', store);
    try {
      const next = await take(behind, 'invoices');
      assert.deepEqual([next.next_value, next.period, next.formatted], [101n, '2027', 'INV-2027-000101']);
    } finally {
      assert.equal(await stop(behind), 0);
    }
  });
});
