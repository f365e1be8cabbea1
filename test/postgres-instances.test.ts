import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import pg from 'pg';
import { runCli, startServer, until, within, type RunningServer } from './helpers/cli.js';
import { startPostgres } from './helpers/postgres.js';

/**
 * Several real `serve` processes on one PostgreSQL database, as behind a load
 * balancer: unique numbers whatever runs where, cache 1 linearizable and
 * gapless, cache N unique and increasing per instance, kill -9, admin changes
 * seen by every instance, export beside running instances.
 */

// One PostgreSQL for the file (top level: it lives until the file ends), a database per scenario.
const postgres = await startPostgres();

/** One answered request: where it went, what it got, and when (client clock) it started and ended. */
interface Answer {
  readonly instance: number;
  readonly name: string;
  readonly first: bigint;
  readonly last: bigint;
  readonly started: number;
  readonly ended: number;
}

interface Taken {
  readonly status: number;
  readonly text: string;
  readonly first: bigint | undefined;
  readonly last: bigint | undefined;
  readonly started: number;
  readonly ended: number;
}

/** `POST /next/{name}[?count=N]`, values read exactly from the body. */
async function take(url: string, name: string, count?: number): Promise<Taken> {
  const started = performance.now();
  const query = count === undefined ? '' : `?count=${count}`;
  const response = await fetch(`${url}/next/${encodeURIComponent(name)}${query}`, { method: 'POST' });
  const text = await response.text();
  const ended = performance.now();
  const first = /"next_value":(-?\d+)/.exec(text)?.[1];
  const last = count === undefined ? first : /"last_value":(-?\d+)/.exec(text)?.[1];
  const ok = response.status === 200 && first !== undefined && last !== undefined;
  return {
    status: response.status,
    text,
    first: ok ? BigInt(first) : undefined,
    last: ok ? BigInt(last) : undefined,
    started,
    ended,
  };
}

/** `take` that insists on a 200 and returns the (first) value. */
async function takeValue(url: string, name: string): Promise<bigint> {
  const taken = await take(url, name);
  if (taken.status !== 200 || taken.first === undefined) throw new Error(`POST /next/${name} answered ${taken.status}: ${taken.text}`);
  return taken.first;
}

async function send(url: string, method: 'PUT' | 'POST' | 'DELETE' | 'GET', path: string, body?: unknown) {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, text };
}

/** The sequence's `last_value` as the database holds it (with cache > 1: the end of the last reserved block). */
async function storedLastValue(url: string, name: string): Promise<bigint | undefined> {
  const { status, text } = await send(url, 'GET', `/sequences/${encodeURIComponent(name)}`);
  assert.equal(status, 200, text);
  const match = /"last_value":(-?\d+|null)/.exec(text)?.[1];
  return match === undefined || match === 'null' ? undefined : BigInt(match);
}

/** Every value an answer handed out (all sequences here have increment 1). */
function valuesOf(answer: { first: bigint; last: bigint }): bigint[] {
  const values: bigint[] = [];
  for (let value = answer.first; value <= answer.last; value += 1n) values.push(value);
  return values;
}

function duplicatesOf(values: readonly bigint[]): bigint[] {
  const seen = new Set<bigint>();
  return values.filter((value) => (seen.has(value) ? true : (seen.add(value), false)));
}

const sortBigints = (values: readonly bigint[]): bigint[] => [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
const maxOf = (values: readonly bigint[]): bigint | undefined =>
  values.reduce<bigint | undefined>((a, b) => (a === undefined || b > a ? b : a), undefined);

/**
 * Real-time order: whenever one answer ended before another request started
 * (client clock: the server's work lies within these bounds), the later one's
 * values are all above the earlier one's. Returns the violations found.
 */
function realTimeViolations(answers: readonly Answer[]): string[] {
  const byEnd = [...answers].sort((a, b) => a.ended - b.ended);
  const byStart = [...answers].sort((a, b) => a.started - b.started);
  const violations: string[] = [];
  let done = 0;
  let highest: Answer | undefined;
  for (const answer of byStart) {
    for (let earlier = byEnd[done]; earlier !== undefined && earlier.ended < answer.started; earlier = byEnd[++done]) {
      if (highest === undefined || earlier.last > highest.last) highest = earlier;
    }
    if (highest !== undefined && highest.last >= answer.first) {
      violations.push(
        `${answer.name}: instance ${answer.instance} answered ${answer.first} after instance ${highest.instance} had answered ${highest.last}`,
      );
    }
  }
  return violations;
}

const startInstance = (store: string): Promise<RunningServer> => startServer({ store, timeoutMs: 15_000 });

interface LoadOptions {
  readonly servers: readonly RunningServer[];
  readonly names: readonly string[];
  readonly loops: number;
  readonly requestsPerLoop: number;
  /** Which instance request `j` of loop `i` goes to. */
  readonly route: (loop: number, request: number) => number;
}

/** Concurrent fetch loops over the instances: every third request a `?count=5` batch. Non-200 answers are collected. */
async function runLoad(options: LoadOptions): Promise<{ answers: Answer[]; unexpected: string[]; perLoop: Answer[][] }> {
  const answers: Answer[] = [];
  const unexpected: string[] = [];
  const perLoop = await Promise.all(
    Array.from({ length: options.loops }, async (_, loop) => {
      const mine: Answer[] = [];
      for (let request = 0; request < options.requestsPerLoop; request += 1) {
        const instance = options.route(loop, request);
        const server = options.servers[instance] as RunningServer;
        const name = options.names[(loop + request) % options.names.length] as string;
        const count = request % 3 === 2 ? 5 : undefined;
        const taken = await take(server.url, name, count);
        if (taken.first === undefined || taken.last === undefined) {
          unexpected.push(`${name} on instance ${instance}: ${taken.status} ${taken.text}`);
          continue;
        }
        const answer: Answer = { instance, name, first: taken.first, last: taken.last, started: taken.started, ended: taken.ended };
        if (count !== undefined) assert.equal(answer.last - answer.first, 4n, `a batch of 5 is contiguous: ${taken.text}`);
        answers.push(answer);
        mine.push(answer);
      }
      return mine;
    }),
  );
  return { answers, unexpected, perLoop };
}

/** Each loop's requests are sequential: per sequence, each loop sees strictly increasing values. */
function loopOrderViolations(perLoop: readonly (readonly Answer[])[]): string[] {
  const violations: string[] = [];
  perLoop.forEach((answers, loop) => {
    const lastSeen = new Map<string, bigint>();
    for (const answer of answers) {
      const before = lastSeen.get(answer.name);
      if (before !== undefined && answer.first <= before) {
        violations.push(`loop ${loop}, ${answer.name}: ${answer.first} (instance ${answer.instance}) after ${before}`);
      }
      lastSeen.set(answer.name, answer.last);
    }
  });
  return violations;
}

function valuesByName(answers: readonly Answer[]): Map<string, bigint[]> {
  const byName = new Map<string, bigint[]>();
  for (const answer of answers) {
    const values = byName.get(answer.name) ?? [];
    values.push(...valuesOf(answer));
    byName.set(answer.name, values);
  }
  return byName;
}

describe('three instances on one PostgreSQL database', { timeout: 60_000 }, async () => {
  const store = await postgres.newDatabase();
  // Started one after the other at the top of the suite; shared by its tests, each on its own sequences.
  const servers: RunningServer[] = [];
  for (let i = 0; i < 3; i += 1) servers.push(await startInstance(store));
  const [a, b, c] = servers as [RunningServer, RunningServer, RunningServer];

  test('cache 1 under concurrent load: every number once, no gaps, and real-time order across instances', { timeout: 30_000 }, async () => {
    const names = ['alpha', 'beta', 'gamma'];
    const { answers, unexpected, perLoop } = await runLoad({
      servers,
      names,
      loops: 24,
      requestsPerLoop: 30,
      // Each loop moves from instance to instance, so its own order is checked across them too.
      route: (loop, request) => (loop + request) % 3,
    });
    assert.deepEqual(unexpected, [], 'every answer is a 200');
    assert.equal(answers.length, 24 * 30);
    const byName = valuesByName(answers);
    for (const name of names) {
      const values = byName.get(name) ?? [];
      assert.deepEqual(duplicatesOf(values), [], `${name}: values handed out twice`);
      const expected = Array.from({ length: values.length }, (_, i) => BigInt(i + 1));
      assert.deepEqual(sortBigints(values), expected, `${name}: the values handed out are exactly 1..${values.length}`);
      assert.equal(await storedLastValue(a.url, name), BigInt(values.length), `${name}: the database holds the last value answered`);
    }
    assert.deepEqual(loopOrderViolations(perLoop), []);
    for (const name of names) {
      assert.deepEqual(realTimeViolations(answers.filter((answer) => answer.name === name)), [], `${name}: linearizable`);
    }
  });

  test('cache 1: sequential requests alternating between instances get strictly increasing values, beside other load', { timeout: 30_000 }, async () => {
    const name = 'spot';
    let stop = false;
    // Background load on the same sequence from every instance.
    const background = Array.from({ length: 6 }, async (_, loop) => {
      for (let request = 0; !stop; request += 1) {
        await takeValue((servers[(loop + request) % 3] as RunningServer).url, name);
      }
    });
    const seen: { instance: number; value: bigint }[] = [];
    try {
      for (let i = 0; i < 60; i += 1) {
        const instance = i % 3;
        seen.push({ instance, value: await takeValue((servers[instance] as RunningServer).url, name) });
      }
    } finally {
      stop = true;
      await Promise.all(background);
    }
    for (let i = 1; i < seen.length; i += 1) {
      const before = seen[i - 1] as { instance: number; value: bigint };
      const now = seen[i] as { instance: number; value: bigint };
      assert.ok(
        now.value > before.value,
        `request ${i} on instance ${now.instance} got ${now.value}, not above ${before.value} answered before by instance ${before.instance}`,
      );
    }
  });

  test('cache 100 under load: unique across instances, increasing per instance, within the reserved blocks', { timeout: 30_000 }, async () => {
    const name = 'hundred';
    const created = await send(a.url, 'PUT', `/sequences/${name}`, { cache: 100 });
    assert.equal(created.status, 201, created.text);
    const { answers, unexpected, perLoop } = await runLoad({
      servers,
      names: [name],
      loops: 24,
      requestsPerLoop: 40,
      // Each loop stays on one instance: its answers are that instance's order.
      route: (loop) => loop % 3,
    });
    assert.deepEqual(unexpected, [], 'every answer is a 200');
    const values = answers.flatMap(valuesOf);
    assert.deepEqual(duplicatesOf(values), [], 'values handed out twice');
    assert.deepEqual(loopOrderViolations(perLoop), []);
    for (let instance = 0; instance < 3; instance += 1) {
      const own = answers.filter((answer) => answer.instance === instance);
      assert.ok(own.length > 0);
      assert.deepEqual(realTimeViolations(own), [], `instance ${instance}: increasing`);
    }
    // Every value handed out was reserved in the database first; what is not handed out is
    // at most the blocks each instance still holds (current and prefetched) and the ends of
    // blocks too short for a batch of 5.
    const reserved = (await storedLastValue(b.url, name)) ?? 0n;
    const highest = maxOf(values) ?? 0n;
    assert.ok(highest <= reserved, `handed out ${highest}, but the database has reserved only up to ${reserved}`);
    const batches = answers.filter((answer) => answer.last > answer.first).length;
    const unused = reserved - BigInt(values.length);
    assert.ok(unused <= 3n * 2n * 100n + 4n * BigInt(batches), `${unused} reserved values not handed out`);
  });

  test('a reset or delete on one instance is seen by the others (cache 1: at once)', { timeout: 30_000 }, async () => {
    const name = 'reset-one';
    for (const server of servers) await takeValue(server.url, name);
    assert.equal(await takeValue(a.url, name), 4n);
    const reset = await send(b.url, 'POST', `/sequences/${name}/reset`, { next_value: 1000 });
    assert.equal(reset.status, 200, reset.text);
    assert.equal(await takeValue(a.url, name), 1000n, 'the first answer after the reset, from another instance, follows it');
    assert.equal(await takeValue(c.url, name), 1001n);
    assert.equal(await takeValue(b.url, name), 1002n);

    // Backwards needs force; then every instance follows it too.
    const back = await send(c.url, 'POST', `/sequences/${name}/reset`, { next_value: 10, force: true });
    assert.equal(back.status, 200, back.text);
    assert.equal(await takeValue(a.url, name), 10n);
    assert.equal(await takeValue(b.url, name), 11n);

    const deleted = await send(c.url, 'DELETE', `/sequences/${name}`);
    assert.equal(deleted.status, 204, deleted.text);
    assert.equal((await send(a.url, 'GET', `/sequences/${name}`)).status, 404, 'deleted for every instance');
    // Used again, the name gets its defaults and continues after every value it handed out since the
    // forced reset (which forgot the earlier ones), whichever instance serves it.
    assert.equal(await takeValue(b.url, name), 12n);
    assert.equal(await takeValue(a.url, name), 13n);
  });

  test('cache 50: after a reset elsewhere an instance hands out at most the blocks it held, then follows the reset', { timeout: 30_000 }, async () => {
    // The rule (PostgresStore): each instance checks the row's version when it
    // refills a block. A reset, an option change or a delete bumps the version
    // (or removes the row), so the first refill after it drops what the
    // instance holds. Until then it may still hand out its current block and
    // the one it prefetched: at most 2 × cache values reserved before the reset.
    const name = 'reset-fifty';
    const cache = 50n;
    const resetTo = 10_000n;
    const created = await send(a.url, 'PUT', `/sequences/${name}`, { cache: Number(cache) });
    assert.equal(created.status, 201, created.text);
    const before: bigint[] = [];
    // a past half of its block (so it prefetches the next one), b and c one block each.
    for (let i = 0; i < 30; i += 1) before.push(await takeValue(a.url, name));
    before.push(await takeValue(b.url, name), await takeValue(c.url, name));
    assert.deepEqual(duplicatesOf(before), []);

    const reset = await send(b.url, 'POST', `/sequences/${name}/reset`, { next_value: Number(resetTo) });
    assert.equal(reset.status, 200, reset.text);

    // The instance that reset follows it at once: its own blocks were dropped.
    const fromB = await takeValue(b.url, name);
    assert.ok(fromB >= resetTo, `b answered ${fromB} right after its own reset to ${resetTo}`);

    const after: { instance: string; value: bigint }[] = [{ instance: 'b', value: fromB }];
    const stale: Record<string, bigint[]> = { a: [], c: [] };
    const followed: Record<string, boolean> = { a: false, c: false };
    for (let i = 0; i < 3 * Number(cache); i += 1) {
      for (const [label, server] of [
        ['a', a],
        ['c', c],
      ] as const) {
        const value = await takeValue(server.url, name);
        after.push({ instance: label, value });
        if (value >= resetTo) {
          followed[label] = true;
        } else {
          assert.equal(followed[label], false, `${label} answered ${value}, below the reset, after it had followed the reset`);
          stale[label]?.push(value);
        }
      }
    }
    for (const label of ['a', 'c'] as const) {
      assert.equal(followed[label], true, `${label} follows the reset after its held blocks`);
      const held = stale[label] ?? [];
      assert.ok(BigInt(held.length) <= 2n * cache, `${label} handed out ${held.length} values of blocks held from before the reset`);
    }
    const afterValues = after.map((entry) => entry.value);
    assert.deepEqual(duplicatesOf([...before, ...afterValues]), [], 'never a value twice, before or after the reset');

    // A delete elsewhere: the same rule for held blocks; the name, used again, is a cache 1 sequence
    // (defaults) that continues after every value reserved before the delete, on every instance.
    const deleted = await send(a.url, 'DELETE', `/sequences/${name}`);
    assert.equal(deleted.status, 204, deleted.text);
    const recreated = await takeValue(a.url, name);
    const reservedBefore = [...before, ...afterValues].reduce((m, v) => (v > m ? v : m), 0n);
    assert.ok(recreated > reservedBefore, `the deleting instance continues after the marks at once: ${recreated} after ${reservedBefore}`);
    const afterDelete: bigint[] = [recreated];
    let previous = recreated;
    for (const [label, server] of [
      ['c', c],
      ['b', b],
      ['a', a],
    ] as const) {
      let fresh: bigint | undefined;
      let held = 0;
      for (let i = 0; i <= 2 * Number(cache) && fresh === undefined; i += 1) {
        const value = await takeValue(server.url, name);
        afterDelete.push(value);
        if (value < recreated) held += 1;
        else fresh = value;
      }
      assert.ok(BigInt(held) <= 2n * cache, `${label} handed out ${held} values held from before the delete`);
      // The re-created sequence has cache 1 (defaults): shared at once, in real-time order.
      assert.ok(fresh !== undefined && fresh > previous, `${label} follows the re-created sequence: ${fresh} after ${previous}`);
      previous = fresh;
    }
    assert.deepEqual(duplicatesOf([...before, ...afterValues, ...afterDelete]), [], 'never a value twice, across the delete either');
  });

  test('export (seed format) through the CLI beside running instances under load', { timeout: 30_000 }, async () => {
    const names = ['exp-one', 'exp-two'];
    const cached = 'exp-cached';
    const unused = 'exp-unused';
    assert.equal((await send(a.url, 'PUT', `/sequences/${cached}`, { cache: 20 })).status, 201);
    assert.equal((await send(a.url, 'PUT', `/sequences/${unused}`, {})).status, 201);
    for (const name of [...names, cached]) await takeValue(c.url, name);

    let stop = false;
    const answered: Answer[] = [];
    const load = Array.from({ length: 6 }, async (_, loop) => {
      for (let request = 0; !stop; request += 1) {
        const instance = (loop + request) % 3;
        const name = [...names, cached][request % 3] as string;
        const taken = await take((servers[instance] as RunningServer).url, name);
        assert.equal(taken.status, 200, taken.text);
        answered.push({ instance, name, first: taken.first ?? 0n, last: taken.last ?? 0n, started: taken.started, ended: taken.ended });
      }
    });
    let result;
    let acknowledged: Map<string, bigint>;
    try {
      await sleep(100);
      acknowledged = new Map(names.map((name) => [name, maxOf(answered.filter((x) => x.name === name).map((x) => x.last)) ?? 0n]));
      result = await runCli(['export', '--store', store], { timeoutMs: 10_000 });
    } finally {
      stop = true;
      await Promise.all(load);
    }
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^\{\n {2}"/, 'the seed format: one JSON object of names');
    const exported = new Map(
      Object.entries(JSON.parse(result.stdout) as Record<string, unknown>).map(([name, value]) => {
        assert.equal(typeof value, 'number', `${name}: a plain number`);
        return [name, BigInt(value as number)];
      }),
    );
    for (const name of names) {
      const value = exported.get(name);
      const all = answered.filter((x) => x.name === name).map((x) => x.last);
      assert.ok(value !== undefined, `${name} exported`);
      assert.ok(value >= (acknowledged.get(name) ?? 0n), `${name}: exported ${value}, below ${acknowledged.get(name)} acknowledged before the export`);
      assert.ok(value <= (maxOf(all) ?? 0n), `${name}: exported ${value}, above anything handed out`);
    }
    assert.ok((exported.get(cached) ?? 0n) >= 1n, 'a cached sequence exports what it has reserved');
    assert.equal(exported.get(unused), 0n, 'a sequence never used exports 0 (nothing issued)');

    // Quiet now: cache 1 exports exactly the last value answered; cache 20 at least it (reserved).
    const quiet = await runCli(['export', '--store', store], { timeoutMs: 10_000 });
    assert.equal(quiet.code, 0, quiet.stderr);
    const final = JSON.parse(quiet.stdout) as Record<string, number>;
    for (const name of names) {
      assert.equal(BigInt(final[name] ?? -1), maxOf(answered.filter((x) => x.name === name).map((x) => x.last)), name);
    }
    const cachedMax = maxOf(answered.filter((x) => x.name === cached).map((x) => x.last)) ?? 0n;
    assert.ok(BigInt(final[cached] ?? -1) >= cachedMax, `${cached}: exported ${final[cached]}, below ${cachedMax} handed out`);
  });

  test('the instances stop cleanly (SIGTERM)', { timeout: 30_000 }, async () => {
    for (const server of servers) assert.equal(await server.stop('SIGTERM'), 0, server.stderr());
  });
});

test('three instances starting together on a fresh database: migrations run once, all become ready and serve', { timeout: 30_000 }, async () => {
  const store = await postgres.newDatabase();
  const servers = await Promise.all([0, 1, 2].map(() => startInstance(store)));
  const values = await Promise.all(servers.map((server) => takeValue(server.url, 'race')));
  assert.deepEqual(sortBigints(values), [1n, 2n, 3n]);
  for (const server of servers) assert.equal((await send(server.url, 'GET', '/readyz')).status, 200);

  const client = new pg.Client({ connectionString: store });
  await client.connect();
  try {
    const { rows } = await client.query<{ version: number; n: string }>(
      'SELECT version, count(*) AS n FROM takeanumber_schema_migrations GROUP BY version ORDER BY version',
    );
    assert.ok(rows.length > 0);
    for (const row of rows) assert.equal(row.n, '1', `migration ${row.version} recorded once`);
  } finally {
    await client.end();
  }
  for (const server of servers) assert.equal(await server.stop('SIGTERM'), 0, server.stderr());
});

test('kill -9 of instances under load (cache 1 and cache 50): no value handed out twice', { timeout: 30_000 }, async () => {
  const store = await postgres.newDatabase();
  const slots: (RunningServer | undefined)[] = [];
  for (let i = 0; i < 3; i += 1) slots.push(await startInstance(store));
  const first = slots[0] as RunningServer;
  assert.equal((await send(first.url, 'PUT', '/sequences/k50', { cache: 50 })).status, 201);
  assert.equal((await send(first.url, 'PUT', '/sequences/k1', {})).status, 201);
  const names = ['k1', 'k50'];

  /** Answers tagged with the process that gave them (a restarted slot is a new process). */
  const answers: (Answer & { process: number })[] = [];
  const unexpected: string[] = [];
  let processes = 3;
  const processOf = slots.map((_, i) => i);
  let stop = false;
  const loops = Array.from({ length: 12 }, async (_, loop) => {
    for (let request = 0; !stop; request += 1) {
      const slot = (loop + request) % 3;
      const server = slots[slot];
      if (server === undefined) {
        await sleep(5);
        continue;
      }
      const generation = processOf[slot] as number;
      const name = names[request % 2] as string;
      const count = request % 4 === 3 ? 5 : undefined;
      let taken: Taken;
      try {
        taken = await take(server.url, name, count);
      } catch {
        continue; // the connection died with a killed instance: no answer, outcome unknown
      }
      if (taken.first === undefined || taken.last === undefined) {
        unexpected.push(`${name} on slot ${slot}: ${taken.status} ${taken.text}`);
        continue;
      }
      answers.push({ instance: slot, process: generation, name, first: taken.first, last: taken.last, started: taken.started, ended: taken.ended });
    }
  });

  const waitForAnswers = async (more: number, what: string): Promise<void> => {
    const target = answers.length + more;
    await until(
      () => answers.length >= target,
      10_000,
      () => `${what}: fewer than ${more} answers within 10 s (unexpected: ${unexpected.join('; ')})`,
    );
  };

  /** Per restarted process: the highest value of each sequence acknowledged anywhere before it started. */
  const restarts: { process: number; acknowledged: Map<string, bigint> }[] = [];
  try {
    for (let round = 0; round < 2; round += 1) {
      await waitForAnswers(60, `round ${round}`);
      await sleep(Math.floor(Math.random() * 150));
      const victim = Math.floor(Math.random() * 3);
      const server = slots[victim] as RunningServer;
      slots[victim] = undefined;
      assert.equal(await server.stop('SIGKILL', 5000), null);
      assert.equal(server.process.signalCode, 'SIGKILL');
      await waitForAnswers(20, `round ${round}, after the kill`);
      const acknowledged = new Map(names.map((name) => [name, maxOf(answers.filter((x) => x.name === name).map((x) => x.last)) ?? 0n]));
      const restarted = await startInstance(store);
      const generation = processes++;
      restarts.push({ process: generation, acknowledged });
      processOf[victim] = generation;
      slots[victim] = restarted;
    }
    await waitForAnswers(60, 'after the last restart');
  } finally {
    stop = true;
    await within(Promise.all(loops), 10_000, () => 'the load loops did not end');
  }

  assert.deepEqual(unexpected, [], 'every answer from a live instance is a 200');
  const byName = valuesByName(answers);
  for (const name of names) {
    const values = byName.get(name) ?? [];
    assert.ok(values.length > 0, name);
    assert.deepEqual(duplicatesOf(values), [], `${name}: values handed out twice`);
  }
  assert.deepEqual(realTimeViolations(answers.filter((x) => x.name === 'k1')), [], 'k1 (cache 1): linearizable across kills');
  for (const { process, acknowledged } of restarts) {
    for (const name of names) {
      const own = answers.filter((x) => x.process === process && x.name === name).map((x) => x.first);
      const lowest = own.reduce<bigint | undefined>((low, value) => (low === undefined || value < low ? value : low), undefined);
      const before = acknowledged.get(name) ?? 0n;
      if (lowest !== undefined) assert.ok(lowest > before, `${name}: restarted process answered ${lowest}, but ${before} was acknowledged before it started`);
    }
  }
  for (const server of slots) if (server !== undefined) assert.equal(await server.stop('SIGTERM'), 0, server.stderr());
});
