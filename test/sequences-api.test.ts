import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp, type AppOptions } from '../src/app.js';
import { seedEntries } from '../src/core/import-rules.js';
import { INT64_MAX, INT64_MIN } from '../src/core/int64.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { assertError, body, testApp, type Json, type TestApp } from './helpers/app.js';
import { tempDir } from './helpers/temp.js';

const path = (name: string): string => encodeURIComponent(name);

function put(app: FastifyInstance, name: string, payload: string | Json = {}): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'PUT',
    url: `/sequences/${path(name)}`,
    headers: { 'content-type': 'application/json' },
    payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });
}

function get(app: FastifyInstance, name: string): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'GET', url: `/sequences/${path(name)}` });
}

function reset(app: FastifyInstance, name: string, payload: string | Json): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST',
    url: `/sequences/${path(name)}/reset`,
    headers: { 'content-type': 'application/json' },
    payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });
}

function remove(app: FastifyInstance, name: string): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'DELETE', url: `/sequences/${path(name)}` });
}

/** POST /next/{name}: the value handed out (insists on a 200). */
async function take(app: FastifyInstance, name: string): Promise<bigint> {
  const response = await app.inject({ method: 'POST', url: `/next/${path(name)}` });
  assert.equal(response.statusCode, 200, response.body);
  const value = body(response).next_value;
  assert.equal(typeof value, 'bigint');
  return value as bigint;
}

/** GET /sequences/{name}, insisting on a 200. */
async function view(app: FastifyInstance, name: string): Promise<Json> {
  const response = await get(app, name);
  assert.equal(response.statusCode, 200, response.body);
  return body(response);
}

interface Page {
  readonly names: string[];
  readonly nextCursor: string | null;
}

async function list(app: FastifyInstance, query: Record<string, string>): Promise<Page> {
  const response = await app.inject({ method: 'GET', url: '/sequences', query });
  assert.equal(response.statusCode, 200, response.body);
  const parsed = body(response);
  assert.deepEqual(Object.keys(parsed).sort(), ['next_cursor', 'sequences']);
  assert.ok(Array.isArray(parsed.sequences));
  const cursor = parsed.next_cursor;
  assert.ok(cursor === null || typeof cursor === 'string');
  return { names: (parsed.sequences as Json[]).map((sequence) => sequence.name as string), nextCursor: cursor };
}

/** Every page of a listing, following next_cursor; `between` runs after each page. */
async function walk(app: FastifyInstance, query: Record<string, string>, between?: (page: number) => Promise<void>): Promise<string[]> {
  const names: string[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 1000; page += 1) {
    const { names: shown, nextCursor }: Page = await list(app, cursor === null ? query : { ...query, cursor });
    names.push(...shown);
    if (nextCursor === null) return names;
    cursor = nextCursor;
    await between?.(page);
  }
  assert.fail('the listing did not end');
}

/** Creates default sequences with these names in one transaction. */
async function seed(t: TestApp, names: readonly string[]): Promise<void> {
  await t.store.importSequences(seedEntries(new Map(names.map((name) => [name, 0n]))));
}

/** UTF-8 byte order, which the listing follows. */
const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

const SEQUENCE_KEYS = [
  'cache',
  'created_at',
  'cycle',
  'format',
  'gapless',
  'increment',
  'last_value',
  'lease_seconds',
  'max_value',
  'min_value',
  'name',
  'next_value',
  'period',
  'restart',
  'start',
  'time_zone',
  'updated_at',
];

function assertIsoTimestamp(value: unknown): void {
  assert.equal(typeof value, 'string');
  assert.equal(new Date(value as string).toISOString(), value);
}

/** An app built with buildApp options on a fresh SQLite store. */
async function appWith(options: Omit<AppOptions, 'store'>): Promise<{ app: FastifyInstance; close: () => Promise<void> }> {
  const store = SqliteStore.open(join(tempDir(), 'options.db'), { mode: 'write' });
  const app = await buildApp({ ...options, store });
  await app.ready();
  return {
    app,
    close: async () => {
      await app.close();
      await store.close();
    },
  };
}

describe('PUT /sequences/{name}', () => {
  it('creates a sequence (201) with PostgreSQL defaults, answering the GET shape', async () => {
    const t = await testApp();
    const created = await put(t.app, 'orders');
    assert.equal(created.statusCode, 201, created.body);
    assert.match(String(created.headers['content-type']), /^application\/json/);
    const shown = body(created);
    assert.deepEqual(Object.keys(shown).sort(), SEQUENCE_KEYS);
    const { created_at: createdAt, updated_at: updatedAt, ...rest } = shown;
    assert.deepEqual(rest, {
      name: 'orders',
      last_value: null,
      next_value: 1n,
      start: 1n,
      increment: 1n,
      min_value: 1n,
      max_value: INT64_MAX,
      cycle: false,
      cache: 1n,
      gapless: false,
      lease_seconds: 300n,
      restart: 'never',
      time_zone: 'UTC',
      format: null,
      period: null,
    });
    assertIsoTimestamp(createdAt);
    assertIsoTimestamp(updatedAt);
    assert.deepEqual(await view(t.app, 'orders'), shown);
    // The first value makes last_value what was handed out.
    assert.equal(await take(t.app, 'orders'), 1n);
    const after = await view(t.app, 'orders');
    assert.equal(after.last_value, 1n);
    assert.equal(after.next_value, 2n);
    assert.equal(after.created_at, createdAt);
    await t.close();
  });

  it('creates a descending sequence with the defaults on the negative side', async () => {
    const t = await testApp();
    const created = await put(t.app, 'down', { increment: -2, cycle: true, cache: 5 });
    assert.equal(created.statusCode, 201, created.body);
    const shown = body(created);
    assert.equal(shown.start, -1n);
    assert.equal(shown.increment, -2n);
    assert.equal(shown.min_value, INT64_MIN);
    assert.equal(shown.max_value, -1n);
    assert.equal(shown.cycle, true);
    assert.equal(shown.cache, 5n);
    assert.equal(shown.next_value, -1n);
    assert.equal(await take(t.app, 'down'), -1n);
    assert.equal(await take(t.app, 'down'), -3n);
    await t.close();
  });

  it('changes a sequence (200), keeping the options not given', async () => {
    const t = await testApp();
    const created = body(await put(t.app, 'c', { min_value: -10, max_value: 1000, start: 0, increment: 3, cycle: true, cache: 2 }));
    const changed = await put(t.app, 'c', { max_value: 500 });
    assert.equal(changed.statusCode, 200, changed.body);
    const shown = body(changed);
    assert.deepEqual(Object.keys(shown).sort(), SEQUENCE_KEYS);
    assert.deepEqual(
      { ...shown, updated_at: created.updated_at },
      { ...created, max_value: 500n },
    );
    assert.ok(Date.parse(shown.updated_at as string) >= Date.parse(created.updated_at as string));
    assert.deepEqual(await view(t.app, 'c'), shown);
    // An empty change is a change of nothing.
    const same = await put(t.app, 'c');
    assert.equal(same.statusCode, 200);
    assert.deepEqual({ ...body(same), updated_at: null }, { ...shown, updated_at: null });
    await t.close();
  });

  it('does not move the counter when start changes (reset does)', async () => {
    const t = await testApp();
    await put(t.app, 's');
    assert.equal(await take(t.app, 's'), 1n);
    assert.equal(await take(t.app, 's'), 2n);
    const changed = body(await put(t.app, 's', { start: 100 }));
    assert.equal(changed.start, 100n);
    assert.equal(changed.last_value, 2n);
    assert.equal(changed.next_value, 3n);
    assert.equal(await take(t.app, 's'), 3n);

    // Also before the first value.
    await put(t.app, 'unused');
    const unused = body(await put(t.app, 'unused', { start: 50 }));
    assert.equal(unused.start, 50n);
    assert.equal(unused.next_value, 1n);
    assert.equal(await take(t.app, 'unused'), 1n);
    await t.close();
  });

  it('allows reversing the direction before any value is handed out', async () => {
    const t = await testApp();
    await put(t.app, 'r', { min_value: -100, max_value: 100, start: 0 });
    const changed = await put(t.app, 'r', { increment: -1 });
    assert.equal(changed.statusCode, 200, changed.body);
    assert.equal(await take(t.app, 'r'), 0n);
    assert.equal(await take(t.app, 'r'), -1n);
    await t.close();
  });

  it('answers 409 options_conflict and changes nothing when issued values would come again or the position leaves the bounds', async () => {
    const t = await testApp();
    await put(t.app, 'k');
    for (let i = 0; i < 5; i += 1) await take(t.app, 'k');
    const before = await view(t.app, 'k');
    for (const change of [{ increment: -1 }, { max_value: 3 }, { min_value: 7, start: 7 }, { increment: -1, min_value: -10, max_value: 10 }]) {
      assertError(await put(t.app, 'k', change), 409, 'options_conflict');
      assert.deepEqual(await view(t.app, 'k'), before, JSON.stringify(change));
    }
    assert.equal(await take(t.app, 'k'), 6n);

    // Before the first value, the next value itself must stay within the new bounds.
    await put(t.app, 'fresh', { max_value: 100 });
    const unused = await view(t.app, 'fresh');
    assertError(await put(t.app, 'fresh', { min_value: 10, start: 10 }), 409, 'options_conflict');
    assert.deepEqual(await view(t.app, 'fresh'), unused);
    assert.equal(await take(t.app, 'fresh'), 1n);
    await t.close();
  });

  it('answers 400 invalid_options naming the field, creating and changing nothing', async () => {
    const t = await testApp();
    const cases: [payload: string, field: string][] = [
      ['{"start": "1e3"}', 'start'],
      ['{"start": 1e3}', 'start'],
      ['{"increment": 1.5}', 'increment'],
      ['{"increment": 1.0}', 'increment'],
      ['{"cache": true}', 'cache'],
      ['{"min_value": "abc"}', 'min_value'],
      ['{"min_value": ""}', 'min_value'],
      ['{"min_value": " 1"}', 'min_value'],
      ['{"start": null}', 'start'],
      ['{"start": [1]}', 'start'],
      ['{"max_value": "9223372036854775808"}', 'max_value'],
      ['{"max_value": 9223372036854775808}', 'max_value'],
      ['{"min_value": -9223372036854775809}', 'min_value'],
      ['{"min_value": "-9223372036854775809"}', 'min_value'],
      ['{"cycle": "true"}', 'cycle'],
      ['{"cycle": 1}', 'cycle'],
      ['{"colour": 1}', 'colour'],
      ['{"increment": 0}', 'increment'],
      ['{"increment": "0"}', 'increment'],
      ['{"start": 0}', 'start'],
      ['{"max_value": 10, "start": 11}', 'start'],
      ['{"increment": -1, "start": 0}', 'start'],
      ['{"min_value": 5, "max_value": 5}', 'min_value'],
      ['{"max_value": 0}', 'max_value'],
      ['{"cache": 0}', 'cache'],
      ['{"cache": 1000001}', 'cache'],
    ];
    for (const [payload, field] of cases) {
      assertError(await put(t.app, 'bad', payload), 400, 'invalid_options', field);
      assertError(await get(t.app, 'bad'), 404, 'sequence_not_found');
    }
    await put(t.app, 'kept', { max_value: 100 });
    const before = await view(t.app, 'kept');
    for (const [payload, field] of cases) {
      assertError(await put(t.app, 'kept', payload), 400, 'invalid_options', field);
      assert.deepEqual(await view(t.app, 'kept'), before, payload);
    }
    // A body that is not an object is no set of options.
    for (const payload of ['[]', '"start"', '5', '{"start":']) {
      assertError(await put(t.app, 'bad', payload), 400, 'invalid_body');
    }
    assertError(await get(t.app, 'bad'), 404, 'sequence_not_found');
    await t.close();
  });

  it('answers 400 invalid_options for unknown fields named like Object.prototype members', async () => {
    const t = await testApp();
    for (const field of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf']) {
      assertError(await put(t.app, 'proto', `{"${field}": 5}`), 400, 'invalid_options', field);
      assertError(await get(t.app, 'proto'), 404, 'sequence_not_found');
    }
    await t.close();
  });

  it('keeps 64-bit options exact, as JSON integers above 2^53 and as digit strings', async () => {
    const t = await testApp();
    const payload =
      '{"min_value": -9223372036854775808, "max_value": "9223372036854775807", ' +
      '"start": 9007199254740993, "increment": "4611686018427387904", "cache": "1"}';
    const created = await put(t.app, 'big', payload);
    assert.equal(created.statusCode, 201, created.body);
    assert.ok(created.body.includes('"min_value":-9223372036854775808'), created.body);
    assert.ok(created.body.includes('"max_value":9223372036854775807'), created.body);
    assert.ok(created.body.includes('"start":9007199254740993'), created.body);
    assert.ok(created.body.includes('"increment":4611686018427387904'), created.body);
    assert.ok(created.body.includes('"next_value":9007199254740993'), created.body);
    const shown = body(created);
    assert.equal(shown.min_value, INT64_MIN);
    assert.equal(shown.max_value, INT64_MAX);
    assert.equal(shown.start, 9007199254740993n);
    assert.equal(shown.increment, 2n ** 62n);
    assert.equal(await take(t.app, 'big'), 9007199254740993n);
    assert.equal(await take(t.app, 'big'), 9007199254740993n + 2n ** 62n);
    // One more step would pass 2^63-1.
    const exhausted = await t.app.inject({ method: 'POST', url: '/next/big' });
    assertError(exhausted, 409, 'sequence_exhausted');
    const after = await view(t.app, 'big');
    assert.equal(after.last_value, 9007199254740993n + 2n ** 62n);
    assert.equal(after.next_value, null);
    await t.close();
  });

  it('refuses an invalid sequence name with 400 invalid_sequence_name', async () => {
    const t = await testApp();
    assertError(await put(t.app, 'n'.repeat(256)), 400, 'invalid_sequence_name');
    assertError(await t.app.inject({ method: 'GET', url: '/sequences/a%0Ab' }), 400, 'invalid_sequence_name');
    await t.close();
  });
});

describe('GET /sequences/{name}', () => {
  it('answers 404 sequence_not_found for an unknown name', async () => {
    const t = await testApp();
    assertError(await get(t.app, 'nobody'), 404, 'sequence_not_found');
    await t.close();
  });

  it('shows a sequence created by /next', async () => {
    const t = await testApp();
    await take(t.app, 'auto');
    const shown = await view(t.app, 'auto');
    assert.equal(shown.last_value, 1n);
    assert.equal(shown.next_value, 2n);
    assert.equal(shown.cache, 1n);
    await t.close();
  });
});

describe('GET /sequences', () => {
  const NAMES = ['B', 'a', 'ab', 'abc', 'abcd', 'abd', 'é', 'éa', 'ü', '\uFFFD', '😀', '😀x', 'z'];

  it('lists by name in UTF-8 byte order, each in the GET shape', async () => {
    const t = await testApp();
    await seed(t, [...NAMES].reverse());
    const response = await t.app.inject({ method: 'GET', url: '/sequences' });
    assert.equal(response.statusCode, 200);
    const parsed = body(response);
    const sequences = parsed.sequences as Json[];
    assert.deepEqual(
      sequences.map((sequence) => sequence.name),
      [...NAMES].sort(byteOrder),
    );
    // Byte order, not JavaScript's UTF-16 order (which puts U+1F600 before U+FFFD).
    assert.notDeepEqual([...NAMES].sort(), [...NAMES].sort(byteOrder));
    assert.equal(parsed.next_cursor, null);
    for (const sequence of sequences) {
      assert.deepEqual(Object.keys(sequence).sort(), SEQUENCE_KEYS);
      assert.deepEqual(sequence, await view(t.app, sequence.name as string));
    }
    await t.close();
  });

  it('filters by prefix, including non-ASCII prefixes and a prefix that is a full name', async () => {
    const t = await testApp();
    await seed(t, NAMES);
    const names = async (prefix: string): Promise<string[]> => (await list(t.app, { prefix })).names;
    assert.deepEqual(await names('ab'), ['ab', 'abc', 'abcd', 'abd']);
    assert.deepEqual(await names('abc'), ['abc', 'abcd']);
    assert.deepEqual(await names('abcd'), ['abcd']);
    assert.deepEqual(await names('é'), ['é', 'éa']);
    assert.deepEqual(await names('😀'), ['😀', '😀x']);
    assert.deepEqual(await names('\uFFFD'), ['\uFFFD']);
    assert.deepEqual(await names('B'), ['B']);
    assert.deepEqual(await names('b'), []);
    assert.deepEqual(await names('zz'), []);
    assert.deepEqual(await names(''), [...NAMES].sort(byteOrder));
    // Paging within a prefix.
    assert.deepEqual(await walk(t.app, { prefix: 'ab', limit: '1' }), ['ab', 'abc', 'abcd', 'abd']);
    assert.deepEqual(await walk(t.app, { prefix: 'é', limit: '1' }), ['é', 'éa']);
    await t.close();
  });

  it('pages through 250 sequences with the cursor, visiting every name once, in order', async () => {
    const t = await testApp();
    const names = Array.from({ length: 250 }, (_, i) => `seq-${String(i).padStart(3, '0')}`);
    await seed(t, [...names].reverse());
    // Default limit: 100.
    const first = await list(t.app, {});
    assert.equal(first.names.length, 100);
    assert.deepEqual(first.names, names.slice(0, 100));
    assert.equal(typeof first.nextCursor, 'string');
    for (const limit of [1, 7, 60, 100, 249, 250, 1000]) {
      assert.deepEqual(await walk(t.app, { limit: String(limit) }), names, `limit ${limit}`);
    }
    const exact = await list(t.app, { limit: '250' });
    assert.equal(exact.names.length, 250);
    assert.equal(exact.nextCursor, null);
    await t.close();
  });

  it('stays stable when names are inserted between pages', async () => {
    const t = await testApp();
    const names = Array.from({ length: 250 }, (_, i) => `seq-${String(i).padStart(3, '0')}`);
    await seed(t, names);
    const inserted: string[] = [];
    const passed: string[] = [];
    const visited = await walk(t.app, { limit: '60' }, async (page) => {
      // One name behind the cursor (already passed) and one ahead of it.
      const behind = `seq-${String(page * 60).padStart(3, '0')}a`;
      const ahead = `seq-${String(page * 60 + 100).padStart(3, '0')}a`;
      for (const name of [behind, ahead]) assert.equal((await put(t.app, name)).statusCode, 201);
      inserted.push(ahead);
      passed.push(behind);
    });
    assert.deepEqual(visited, [...visited].sort(byteOrder), 'in order');
    assert.equal(new Set(visited).size, visited.length, 'no name twice');
    for (const name of names) assert.ok(visited.includes(name), `${name} was skipped`);
    assert.ok(inserted.length >= 4);
    for (const name of inserted) assert.ok(visited.includes(name), `${name}, inserted ahead of the cursor, was not listed`);
    // A name inserted behind the cursor has been passed: it is not listed (it would come out of order).
    for (const name of passed) assert.ok(!visited.includes(name), `${name}, inserted behind the cursor, was listed`);
    await t.close();
  });

  it('answers 400 for a limit outside 1..1000 or not a whole number', async () => {
    const t = await testApp();
    await seed(t, ['a', 'b']);
    for (const limit of ['0', '1001', 'x', '-1', '1.5', '', '10000']) {
      assertError(await t.app.inject({ method: 'GET', url: '/sequences', query: { limit } }), 400, 'bad_request');
    }
    assertError(await t.app.inject({ method: 'GET', url: '/sequences?limit=1&limit=2' }), 400, 'bad_request');
    assert.deepEqual((await list(t.app, { limit: '1' })).names, ['a']);
    assert.deepEqual((await list(t.app, { limit: '1000' })).names, ['a', 'b']);
    await t.close();
  });

  it('answers 400 invalid_cursor for a cursor it did not hand out', async () => {
    const t = await testApp();
    await seed(t, ['ab', 'abc']);
    const { nextCursor } = await list(t.app, { limit: '1' });
    assert.equal(typeof nextCursor, 'string');
    // "YWJ" decodes to "ab" but is not how the server encodes it ("YWI"); padding is not base64url.
    for (const cursor of ['!!', 'not a cursor', 'YWJ', 'YWI=', 'x'.repeat(401), '%%']) {
      assertError(await t.app.inject({ method: 'GET', url: '/sequences', query: { cursor } }), 400, 'invalid_cursor');
    }
    await t.close();
  });
});

describe('POST /sequences/{name}/reset', () => {
  it('sets the next value and answers the GET shape', async () => {
    const t = await testApp();
    for (let i = 0; i < 3; i += 1) await take(t.app, 'r');
    const response = await reset(t.app, 'r', { next_value: 10 });
    assert.equal(response.statusCode, 200, response.body);
    const shown = body(response);
    assert.deepEqual(Object.keys(shown).sort(), SEQUENCE_KEYS);
    assert.equal(shown.last_value, null);
    assert.equal(shown.next_value, 10n);
    assert.deepEqual(await view(t.app, 'r'), shown);
    assert.equal(await take(t.app, 'r'), 10n);
    // To the next value itself: no values are re-issued, no force needed.
    assert.equal((await reset(t.app, 'r', { next_value: '11' })).statusCode, 200);
    assert.equal(await take(t.app, 'r'), 11n);
    // Exact above 2^53.
    const big = await reset(t.app, 'r', { next_value: '9223372036854775806' });
    assert.equal(big.statusCode, 200);
    assert.ok(big.body.includes('"next_value":9223372036854775806'), big.body);
    assert.equal(await take(t.app, 'r'), 9223372036854775806n);
    await t.close();
  });

  it('answers 404 sequence_not_found for an unknown name, creating nothing', async () => {
    const t = await testApp();
    assertError(await reset(t.app, 'ghost', { next_value: 5 }), 404, 'sequence_not_found');
    assertError(await reset(t.app, 'ghost', { next_value: 5, force: true }), 404, 'sequence_not_found');
    assertError(await get(t.app, 'ghost'), 404, 'sequence_not_found');
    await t.close();
  });

  it('refuses to move back over issued values without force (409 would_reissue), and does it with force', async () => {
    const t = await testApp();
    for (let i = 0; i < 5; i += 1) await take(t.app, 'up');
    const before = await view(t.app, 'up');
    for (const next of [5, 1, '3']) {
      assertError(await reset(t.app, 'up', { next_value: next }), 409, 'would_reissue');
      assertError(await reset(t.app, 'up', { next_value: next, force: false }), 409, 'would_reissue');
      assert.deepEqual(await view(t.app, 'up'), before);
    }
    assert.equal(await take(t.app, 'up'), 6n);
    const forced = await reset(t.app, 'up', { next_value: 2, force: true });
    assert.equal(forced.statusCode, 200, forced.body);
    assert.equal(body(forced).next_value, 2n);
    assert.equal(await take(t.app, 'up'), 2n);

    // Descending: back is higher.
    await put(t.app, 'down', { increment: -1 });
    await take(t.app, 'down');
    await take(t.app, 'down');
    assertError(await reset(t.app, 'down', { next_value: -1 }), 409, 'would_reissue');
    assert.equal((await reset(t.app, 'down', { next_value: -10 })).statusCode, 200);
    assert.equal(await take(t.app, 'down'), -10n);
    await t.close();
  });

  it('refuses a next_value outside the bounds with 400 invalid_options, field next_value, even with force', async () => {
    const t = await testApp();
    await put(t.app, 'b', { max_value: 10 });
    const before = await view(t.app, 'b');
    for (const next of [11, 0, -1, '9223372036854775808', '1.5', 1.5, 'x', true]) {
      for (const force of [false, true]) {
        assertError(await reset(t.app, 'b', { next_value: next, force }), 400, 'invalid_options', 'next_value');
      }
    }
    assertError(await reset(t.app, 'b', '{"next_value": 9223372036854775808}'), 400, 'invalid_options', 'next_value');
    assertError(await reset(t.app, 'b', {}), 400, 'invalid_options', 'next_value');
    assertError(await reset(t.app, 'b', { next_value: 5, force: 'yes' }), 400, 'invalid_options', 'force');
    assertError(await reset(t.app, 'b', { next_value: 5, by: 1 }), 400, 'invalid_options', 'by');
    assert.deepEqual(await view(t.app, 'b'), before);
    await t.close();
  });

  it('lets an exhausted sequence be reset forward, but not onto its last value without force', async () => {
    const t = await testApp();
    await put(t.app, 'e', { max_value: 2 });
    await take(t.app, 'e');
    await take(t.app, 'e');
    assertError(await t.app.inject({ method: 'POST', url: '/next/e' }), 409, 'sequence_exhausted');
    assertError(await reset(t.app, 'e', { next_value: 2 }), 409, 'would_reissue');
    assert.equal((await put(t.app, 'e', { max_value: 5 })).statusCode, 200);
    assert.equal((await reset(t.app, 'e', { next_value: 4 })).statusCode, 200);
    assert.equal(await take(t.app, 'e'), 4n);
    await t.close();
  });
});

describe('DELETE /sequences/{name}', () => {
  it('answers 204, then 404; a re-used name gets its defaults and continues after every value it handed out', async () => {
    const t = await testApp();
    await put(t.app, 'gone', { start: 100, increment: 5, max_value: 1000, cache: 3 });
    assert.equal(await take(t.app, 'gone'), 100n);
    assert.equal(await take(t.app, 'gone'), 105n);
    const deleted = await remove(t.app, 'gone');
    assert.equal(deleted.statusCode, 204);
    assert.equal(deleted.body, '');
    assertError(await get(t.app, 'gone'), 404, 'sequence_not_found');
    assertError(await remove(t.app, 'gone'), 404, 'sequence_not_found');
    assert.deepEqual((await list(t.app, {})).names, []);

    // Cache 3 reserved 100, 105, 110: all of them count as handed out.
    assert.equal(await take(t.app, 'gone'), 111n);
    const shown = await view(t.app, 'gone');
    assert.equal(shown.start, 1n);
    assert.equal(shown.increment, 1n);
    assert.equal(shown.max_value, INT64_MAX);
    assert.equal(shown.cache, 1n);
    assert.equal(shown.last_value, 111n);
    await t.close();
  });

  it('re-creates a deleted name with PUT (201) after its values, or refuses options that leave no value past them', async () => {
    const t = await testApp();
    for (let i = 0; i < 5; i += 1) await take(t.app, 'tomb');
    assert.equal((await remove(t.app, 'tomb')).statusCode, 204);
    assertError(await put(t.app, 'tomb', { max_value: 5 }), 409, 'options_conflict');
    assertError(await get(t.app, 'tomb'), 404, 'sequence_not_found');
    const created = await put(t.app, 'tomb', { increment: 2 });
    assert.equal(created.statusCode, 201);
    assert.equal(body(created).next_value, 6n);
    assert.equal(body(created).last_value, null);
    // Options that start beyond the marks are kept as given.
    assert.equal((await remove(t.app, 'tomb')).statusCode, 204);
    const later = await put(t.app, 'tomb', { start: 1000 });
    assert.equal(body(later).next_value, 1000n);
    // A descending sequence below the marks is fine too: it never reaches them.
    assert.equal((await remove(t.app, 'tomb')).statusCode, 204);
    const down = await put(t.app, 'tomb', { increment: -1 });
    assert.equal(body(down).next_value, -1n);
    await t.close();
  });

  it('keeps the marks of a deleted name: a direction change after re-creation is refused, a forward reset too keeps them', async () => {
    const t = await testApp();
    for (let i = 0; i < 3; i += 1) await take(t.app, 'flip');
    assert.equal((await reset(t.app, 'flip', { next_value: 1000 })).statusCode, 200);
    // The original bug: a forward reset hid the values handed out, and a direction change then counted back through them.
    assertError(await put(t.app, 'flip', { increment: -1, min_value: -100 }), 409, 'options_conflict');
    assert.equal((await remove(t.app, 'flip')).statusCode, 204);
    assert.equal(await take(t.app, 'flip'), 1000n, 'values skipped by the forward reset count as handed out: it goes on from where it stood');
    await t.close();
  });

  it('forgets a name with ?forget=true: every trace goes, and the name starts afresh (the one way back to re-issuing)', async () => {
    const t = await testApp();
    for (let i = 0; i < 3; i += 1) await take(t.app, 'amnesia');
    const forgotten = await t.app.inject({ method: 'DELETE', url: '/sequences/amnesia?forget=true' });
    assert.equal(forgotten.statusCode, 204);
    assert.equal(await take(t.app, 'amnesia'), 1n);
    // A name deleted earlier (a tombstone) can be forgotten too; without forget it is not found.
    assert.equal((await remove(t.app, 'amnesia')).statusCode, 204);
    assertError(await remove(t.app, 'amnesia'), 404, 'sequence_not_found');
    assert.equal((await t.app.inject({ method: 'DELETE', url: '/sequences/amnesia?forget=true' })).statusCode, 204);
    assertError(await t.app.inject({ method: 'DELETE', url: '/sequences/amnesia?forget=true' }), 404, 'sequence_not_found');
    assert.equal(await take(t.app, 'amnesia'), 1n);
    assertError(await t.app.inject({ method: 'DELETE', url: '/sequences/amnesia?forget=yes' }), 400, 'bad_request');
    assert.equal(await take(t.app, 'amnesia'), 2n, 'a bad forget changes nothing');
    await t.close();
  });

  it('answers 404 sequence_not_found for a name never used', async () => {
    const t = await testApp();
    assertError(await remove(t.app, 'never'), 404, 'sequence_not_found');
    await t.close();
  });

  it('leaves other sequences alone', async () => {
    const t = await testApp();
    await take(t.app, 'keep');
    await take(t.app, 'drop');
    assert.equal((await remove(t.app, 'drop')).statusCode, 204);
    assert.equal(await take(t.app, 'keep'), 2n);
    assert.deepEqual((await list(t.app, {})).names, ['keep']);
    await t.close();
  });
});

describe('without auto-create (buildApp autoCreate: false, the --no-auto-create flag)', () => {
  it('answers 404 sequence_not_found on /next for an unknown name and creates nothing; works after PUT', async () => {
    const { app, close } = await appWith({ autoCreate: false });
    for (const url of ['/next/new', '/next/new?count=3']) {
      for (const method of ['POST', 'GET'] as const) {
        assertError(await app.inject({ method, url }), 404, 'sequence_not_found');
      }
    }
    assertError(await app.inject({ method: 'POST', url: '/next/new', headers: { 'idempotency-key': 'k1' } }), 404, 'sequence_not_found');
    assertError(await get(app, 'new'), 404, 'sequence_not_found');
    assert.deepEqual((await list(app, {})).names, []);

    assert.equal((await put(app, 'new')).statusCode, 201);
    assert.equal(await take(app, 'new'), 1n);
    // The key of the refused request was not recorded: it allocates now.
    const keyed = await app.inject({ method: 'POST', url: '/next/new', headers: { 'idempotency-key': 'k1' } });
    assert.equal(keyed.statusCode, 200);
    assert.equal(keyed.body, '{"sequence_id":"new","next_value":2}');
    assert.equal(keyed.headers['idempotent-replayed'], undefined);
    assertError(await app.inject({ method: 'POST', url: '/next/other' }), 404, 'sequence_not_found');
    await close();
  });

  it('creates unknown sequences on /next by default', async () => {
    const { app, close } = await appWith({});
    assert.equal(await take(app, 'new'), 1n);
    await close();
  });
});

describe('API docs', () => {
  it('serves OpenAPI 3 at /openapi.json, listing every API path', async () => {
    const t = await testApp();
    const response = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(response.statusCode, 200);
    const spec = response.json<{ openapi: unknown; paths: Record<string, Record<string, unknown>> }>();
    assert.equal(typeof spec.openapi, 'string');
    assert.match(spec.openapi as string, /^3\./);
    for (const route of ['/next/{name}', '/sequences', '/sequences/{name}', '/sequences/{name}/reset']) {
      assert.ok(route in spec.paths, `${route} is missing from ${Object.keys(spec.paths).join(', ')}`);
    }
    assert.ok('post' in (spec.paths['/next/{name}'] ?? {}));
    assert.ok('get' in (spec.paths['/sequences'] ?? {}));
    for (const method of ['get', 'put', 'delete']) assert.ok(method in (spec.paths['/sequences/{name}'] ?? {}), method);
    assert.ok('post' in (spec.paths['/sequences/{name}/reset'] ?? {}));
    await t.close();
  });

  it('serves a browsable page at /docs', async () => {
    const t = await testApp();
    let url = '/docs';
    let response = await t.app.inject({ method: 'GET', url });
    for (let hops = 0; hops < 5 && response.statusCode >= 300 && response.statusCode < 400; hops += 1) {
      const location = response.headers.location;
      assert.equal(typeof location, 'string');
      url = new URL(location as string, `http://localhost${url}`).pathname;
      response = await t.app.inject({ method: 'GET', url });
    }
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers['content-type']), /text\/html/);
    assert.match(response.body, /<html/i);
    await t.close();
  });
});
