import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { startServer, until, within, type RunningServer } from './helpers/cli.js';
import { startOwnPostgres } from './helpers/postgres.js';

/**
 * A `serve` process on PostgreSQL while the database goes away and comes
 * back: bounded 503 store_unavailable answers and /readyz 503 meanwhile, no
 * crash, recovery by itself, nothing acknowledged lost, nothing repeated.
 */

// Data must survive a stop and start of the server (the plain helper's server deletes it on stop).
const postgres = await startOwnPostgres();

/** What one request got: status, error code, values (exact), and when it ran (client clock). */
interface Outcome {
  readonly name: string;
  readonly status: number;
  readonly code: string | undefined;
  readonly text: string;
  readonly first: bigint | undefined;
  readonly last: bigint | undefined;
  readonly started: number;
  readonly ended: number;
}

async function request(url: string, method: 'GET' | 'POST' | 'PUT', path: string, name = path, body?: unknown): Promise<Outcome> {
  const started = performance.now();
  const response = await fetch(`${url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const ended = performance.now();
  const first = response.status === 200 ? /"next_value":(-?\d+)/.exec(text)?.[1] : undefined;
  const last = response.status === 200 ? (/"last_value":(-?\d+)/.exec(text)?.[1] ?? first) : undefined;
  return {
    name,
    status: response.status,
    code: /"code":"([a-z_]+)"/.exec(text)?.[1],
    text,
    first: first === undefined ? undefined : BigInt(first),
    last: last === undefined ? undefined : BigInt(last),
    started,
    ended,
  };
}

const next = (url: string, name: string, count?: number): Promise<Outcome> =>
  request(url, 'POST', `/next/${encodeURIComponent(name)}${count === undefined ? '' : `?count=${count}`}`, name);

async function takeValue(url: string, name: string): Promise<bigint> {
  const outcome = await next(url, name);
  if (outcome.first === undefined) throw new Error(`POST /next/${name} answered ${outcome.status}: ${outcome.text}`);
  return outcome.first;
}

function valuesOf(outcome: Outcome): bigint[] {
  const values: bigint[] = [];
  if (outcome.first === undefined || outcome.last === undefined) return values;
  for (let value = outcome.first; value <= outcome.last; value += 1n) values.push(value);
  return values;
}

function duplicatesOf(values: readonly bigint[]): bigint[] {
  const seen = new Set<bigint>();
  return values.filter((value) => (seen.has(value) ? true : (seen.add(value), false)));
}

const maxOf = (values: readonly bigint[]): bigint =>
  values.reduce((a, b) => (b > a ? b : a), 0n);

/** Asks until `/next/{name}` answers 200 (bounded); returns how long that took and the answer. */
async function untilServing(url: string, name: string, limitMs: number): Promise<{ afterMs: number; outcome: Outcome }> {
  const since = performance.now();
  for (;;) {
    const outcome = await next(url, name);
    if (outcome.status === 200) return { afterMs: performance.now() - since, outcome };
    assert.equal(outcome.status, 503, outcome.text);
    assert.equal(outcome.code, 'store_unavailable', outcome.text);
    if (performance.now() - since > limitMs) assert.fail(`still 503 ${limitMs} ms after the database came back: ${outcome.text}`);
    await sleep(100);
  }
}

/** The database's last_value of a sequence, read through the server. */
async function storedLastValue(url: string, name: string): Promise<bigint> {
  const outcome = await request(url, 'GET', `/sequences/${encodeURIComponent(name)}`);
  assert.equal(outcome.status, 200, outcome.text);
  const match = /"last_value":(-?\d+)/.exec(outcome.text)?.[1];
  assert.ok(match !== undefined, outcome.text);
  return BigInt(match);
}

/** Stops the database; gives it back even if the body fails, so the next test has one. */
async function withDatabaseDown<T>(body: () => Promise<T>): Promise<T> {
  await postgres.stop();
  try {
    return await body();
  } finally {
    await postgres.start();
  }
}

const startInstance = (store: string): Promise<RunningServer> => startServer({ store, timeoutMs: 15_000 });

test('the database going away while the instance is idle does not crash it: /healthz stays 200', { timeout: 30_000 }, async () => {
  const store = await postgres.newDatabase();
  const server = await startInstance(store);
  const before: bigint[] = [];
  for (let i = 0; i < 3; i += 1) before.push(await takeValue(server.url, 'idle'));
  // Several pooled connections, all idle afterwards.
  const pings = await Promise.all(Array.from({ length: 6 }, () => request(server.url, 'GET', '/readyz')));
  for (const ping of pings) assert.equal(ping.status, 200, ping.text);

  await withDatabaseDown(async () => {
    // The server closes the idle connections: their errors must be handled, not crash the process.
    await until(
      () => server.stderr().includes('idle database connection failed'),
      5000,
      () => `no idle connection error reported within 5 s; stderr: ${server.stderr()}`,
    );
    for (let i = 0; i < 5; i += 1) {
      const health = await request(server.url, 'GET', '/healthz');
      assert.equal(health.status, 200, health.text);
      await sleep(100);
    }
    assert.equal(server.process.exitCode, null, 'still running');
    assert.equal(server.process.signalCode, null, 'still running');
    const refused = await next(server.url, 'idle');
    assert.equal(refused.status, 503, refused.text);
    assert.equal(refused.code, 'store_unavailable');
  });

  const { outcome } = await untilServing(server.url, 'idle', 10_000);
  assert.ok(outcome.first !== undefined && outcome.first > maxOf(before), `after the outage: ${outcome.first}, acknowledged before: ${maxOf(before)}`);
  assert.equal(await server.stop('SIGTERM'), 0, server.stderr());
});

test('database stopped under load: bounded 503 store_unavailable, /readyz 503, then recovery with nothing lost or repeated', { timeout: 30_000 }, async () => {
  const store = await postgres.newDatabase();
  const server = await startInstance(store);
  const created = await request(server.url, 'PUT', '/sequences/cached', 'cached', { cache: 50 });
  assert.equal(created.status, 201, created.text);
  const names = ['plain', 'cached']; // cache 1 and cache 50

  const outcomes: Outcome[] = [];
  const unexpected: string[] = [];
  let stop = false;
  const loops = Array.from({ length: 4 }, async (_, loop) => {
    for (let i = 0; !stop; i += 1) {
      const name = names[(loop + i) % 2] as string;
      let outcome: Outcome;
      try {
        outcome = await next(server.url, name, i % 3 === 2 ? 5 : undefined);
      } catch (error) {
        unexpected.push(`${name}: no answer (${(error as Error).message})`);
        return;
      }
      outcomes.push(outcome);
      if (outcome.status === 200) continue;
      if (outcome.status !== 503 || outcome.code !== 'store_unavailable') unexpected.push(`${name}: ${outcome.status} ${outcome.text}`);
      await sleep(20); // pace the load while the database is away
    }
  });
  const waitForAnswers = async (more: number, what: string): Promise<void> => {
    const target = outcomes.filter((x) => x.status === 200).length + more;
    await until(
      () => outcomes.filter((x) => x.status === 200).length >= target,
      10_000,
      () => `${what}: fewer than ${more} answers within 10 s`,
    );
  };

  let downFrom = 0;
  let downUntil = 0;
  let upAgain = 0;
  let acknowledged = new Map<string, bigint>();
  let recoveredAfterMs = 0;
  const probes: Outcome[] = [];
  try {
    await waitForAnswers(100, 'before the outage');
    const stopping = performance.now();
    acknowledged = new Map(names.map((name) => [name, maxOf(outcomes.filter((x) => x.name === name).flatMap(valuesOf))]));
    await withDatabaseDown(async () => {
      downFrom = performance.now();
      const probe = await next(server.url, 'plain');
      probes.push(probe);
      assert.equal(probe.status, 503, `POST /next/plain with the database down: ${probe.text}`);
      assert.equal(probe.code, 'store_unavailable');
      assert.ok(probe.ended - probe.started < 5000, `answered after ${Math.round(probe.ended - probe.started)} ms`);
      const ready = await request(server.url, 'GET', '/readyz');
      assert.equal(ready.status, 503, `/readyz with the database down: ${ready.text}`);
      assert.equal(ready.code, 'store_unavailable');
      assert.ok(ready.ended - ready.started < 5000, `/readyz answered after ${Math.round(ready.ended - ready.started)} ms`);
      await sleep(500);
      downUntil = performance.now();
      assert.ok(downFrom >= stopping);
    });
    upAgain = performance.now();
    const recovered = await untilServing(server.url, 'plain', 10_000);
    recoveredAfterMs = recovered.afterMs;
    probes.push(recovered.outcome);
    const ready = await request(server.url, 'GET', '/readyz');
    assert.equal(ready.status, 200, `/readyz after the recovery: ${ready.text}`);
    await waitForAnswers(100, 'after the recovery');
  } finally {
    stop = true;
    await within(Promise.all(loops), 10_000, () => 'the load loops did not end');
  }

  assert.deepEqual(unexpected, [], 'every answer is a 200 or a 503 store_unavailable');
  const all = [...outcomes, ...probes];
  const during = all.filter((x) => x.started >= downFrom && x.ended <= downUntil);
  assert.ok(during.length > 0, 'requests were answered during the outage');
  for (const outcome of during.filter((x) => x.name === 'plain')) {
    // cache 1: every value is committed before it is answered, so none while the database is down.
    assert.equal(outcome.status, 503, `plain answered during the outage: ${outcome.text}`);
    assert.ok(outcome.ended - outcome.started < 5000, `a 503 took ${Math.round(outcome.ended - outcome.started)} ms`);
  }
  for (const name of names) {
    const values = all.filter((x) => x.name === name).flatMap(valuesOf);
    assert.deepEqual(duplicatesOf(values), [], `${name}: values handed out twice`);
    const before = acknowledged.get(name) ?? 0n;
    const later = all.filter((x) => x.name === name && x.started >= upAgain).flatMap(valuesOf);
    assert.ok(later.length > 0, `${name}: answered after the recovery`);
    const lowest = later.reduce((a, b) => (b < a ? b : a));
    assert.ok(lowest > before, `${name}: ${lowest} after the outage, but ${before} was acknowledged before it`);
    // Nothing acknowledged was lost: the database holds at least every value answered.
    const stored = await storedLastValue(server.url, name);
    assert.ok(stored >= maxOf(values), `${name}: the database holds ${stored}, below ${maxOf(values)} answered`);
  }
  assert.ok(recoveredAfterMs < 10_000);
  assert.equal(await server.stop('SIGTERM'), 0, server.stderr());
});

/** The PostgreSQL server's processes: the postmaster, then its children (Linux /proc). */
function postgresProcesses(): number[] {
  const pid = postgres.postmasterPid();
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((x) => x !== '');
  return [pid, ...children.map(Number)];
}

/** Freezes the database (SIGSTOP: connections hang, nothing is refused) while `body` runs; always thaws it. */
async function withDatabaseFrozen<T>(body: () => Promise<T>): Promise<T> {
  const frozen: number[] = [];
  try {
    // The postmaster first, so that it forks nothing new; then every backend.
    for (const pid of postgresProcesses()) {
      process.kill(pid, 'SIGSTOP');
      frozen.push(pid);
    }
    return await body();
  } finally {
    for (const pid of frozen.reverse()) process.kill(pid, 'SIGCONT');
  }
}

/**
 * The default statement timeout (2000 ms, bounding connecting too) plus the
 * client's own read timeout slack (500 ms) and a margin: "within about 2
 * seconds", and well below two timeouts back to back (a request queued behind
 * a batch that is itself waiting out the timeout).
 */
const HANG_ANSWER_BOUND_MS = 3500;

test('database hanging (frozen, not refusing): every request answers 503 store_unavailable within about the timeout, no pile-up; then recovery', { skip: process.platform !== 'linux', timeout: 30_000 }, async () => {
  const store = await postgres.newDatabase();
  const server = await startInstance(store);
  const before: bigint[] = [];
  for (let i = 0; i < 3; i += 1) before.push(await takeValue(server.url, 'frozen'));
  // Checked after the database is back, so that the recovery is checked whatever these show.
  const slow: string[] = [];
  await withDatabaseFrozen(async () => {
    const first = next(server.url, 'frozen');
    // Arrives while the first one's statement hangs: a separate batch, queued behind it.
    await sleep(300);
    const second = next(server.url, 'frozen', 5);
    await sleep(300);
    const ready = request(server.url, 'GET', '/readyz');
    const health = await request(server.url, 'GET', '/healthz');
    assert.equal(health.status, 200, `/healthz while the database hangs: ${health.text}`);
    const answers = await within(Promise.all([first, second, ready]), 10_000, () => 'requests still unanswered 10 s into the hang');
    for (const [what, answer] of [
      ['POST /next/frozen', answers[0]],
      ['POST /next/frozen?count=5, sent 300 ms later', answers[1]],
      ['GET /readyz', answers[2]],
    ] as const) {
      assert.equal(answer.status, 503, `${what} while the database hangs: ${answer.text}`);
      assert.equal(answer.code, 'store_unavailable', answer.text);
      const took = Math.round(answer.ended - answer.started);
      if (took >= HANG_ANSWER_BOUND_MS) slow.push(`${what} answered 503 after ${took} ms`);
    }
  });
  const { outcome } = await untilServing(server.url, 'frozen', 10_000);
  assert.ok(outcome.first !== undefined && outcome.first > maxOf(before), `after the hang: ${outcome.first}, acknowledged before: ${maxOf(before)}`);
  assert.equal(await server.stop('SIGTERM'), 0, server.stderr());
  assert.deepEqual(slow, [], `every answer within ${HANG_ANSWER_BOUND_MS} ms of its request while the database hangs`);
});
