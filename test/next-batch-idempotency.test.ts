import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../src/app.js';
import { parseJsonLossless } from '../src/json.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { testApp } from './helpers/app.js';
import { tempDir } from './helpers/temp.js';

type Json = Record<string, unknown>;

/** The body parsed losslessly: every JSON integer is a bigint, exact beyond 2^53. */
function body(response: LightMyRequestResponse): Json {
  const parsed = parseJsonLossless(response.body);
  assert.ok(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed), `not a JSON object: ${response.body}`);
  return parsed as Json;
}

function assertError(response: LightMyRequestResponse, status: number, code: string): void {
  assert.equal(response.statusCode, status, response.body);
  const error = body(response).error as Json | undefined;
  assert.equal(error?.code, code, response.body);
}

interface NextOptions {
  readonly count?: string;
  readonly key?: string;
  readonly method?: 'POST' | 'GET';
}

/** POST (or GET) /next/{name}, with `?count=` and an Idempotency-Key when given. */
function next(app: FastifyInstance, name: string, options: NextOptions = {}): Promise<LightMyRequestResponse> {
  return app.inject({
    method: options.method ?? 'POST',
    url: `/next/${encodeURIComponent(name)}`,
    query: options.count === undefined ? {} : { count: options.count },
    headers: options.key === undefined ? {} : { 'idempotency-key': options.key },
  });
}

/** A single value (no count, no key), insisting on a 200. */
async function single(app: FastifyInstance, name: string): Promise<bigint> {
  const response = await next(app, name);
  assert.equal(response.statusCode, 200, response.body);
  const parsed = body(response);
  assert.deepEqual(Object.keys(parsed), ['sequence_id', 'next_value']);
  return parsed.next_value as bigint;
}

interface Range {
  readonly first: bigint;
  readonly last: bigint;
  readonly count: bigint;
}

/** A `?count=N` answer, checked for its shape. */
function range(response: LightMyRequestResponse, name: string): Range {
  assert.equal(response.statusCode, 200, response.body);
  const parsed = body(response);
  assert.deepEqual(Object.keys(parsed), ['sequence_id', 'next_value', 'last_value', 'count']);
  assert.equal(parsed.sequence_id, name);
  return { first: parsed.next_value as bigint, last: parsed.last_value as bigint, count: parsed.count as bigint };
}

async function put(app: FastifyInstance, name: string, options: Json | string): Promise<void> {
  const response = await app.inject({
    method: 'PUT',
    url: `/sequences/${encodeURIComponent(name)}`,
    headers: { 'content-type': 'application/json' },
    payload: typeof options === 'string' ? options : JSON.stringify(options),
  });
  assert.ok(response.statusCode === 200 || response.statusCode === 201, response.body);
}

async function view(app: FastifyInstance, name: string): Promise<Json> {
  const response = await app.inject({ method: 'GET', url: `/sequences/${encodeURIComponent(name)}` });
  assert.equal(response.statusCode, 200, response.body);
  return body(response);
}

async function assertMissing(app: FastifyInstance, name: string): Promise<void> {
  assertError(await app.inject({ method: 'GET', url: `/sequences/${encodeURIComponent(name)}` }), 404, 'sequence_not_found');
}

const ascending = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);

/** Asserts that the ranges (increment 1) tile start..start+total-1 exactly: no overlap, no gap. */
function assertTiled(ranges: readonly Range[], start: bigint): bigint {
  const sorted = [...ranges].sort((a, b) => ascending(a.first, b.first));
  let expected = start;
  for (const r of sorted) {
    assert.equal(r.first, expected, `a gap or overlap at ${expected}: got a range from ${r.first}`);
    assert.equal(r.last - r.first + 1n, r.count);
    expected = r.last + 1n;
  }
  return expected - 1n;
}

describe('/next/{name}?count=N', () => {
  it('answers a contiguous batch as {sequence_id, next_value, last_value, count}', async () => {
    const t = await testApp();
    const first = await next(t.app, 'b', { count: '5' });
    assert.equal(first.body, '{"sequence_id":"b","next_value":1,"last_value":5,"count":5}');
    assert.deepEqual(range(await next(t.app, 'b', { count: '3' }), 'b'), { first: 6n, last: 8n, count: 3n });
    assert.deepEqual(range(await next(t.app, 'b', { count: '1' }), 'b'), { first: 9n, last: 9n, count: 1n });
    assert.deepEqual(range(await next(t.app, 'b', { count: '2', method: 'GET' }), 'b'), { first: 10n, last: 11n, count: 2n });
    // Without count: exactly the original two keys.
    const plain = await next(t.app, 'b');
    assert.equal(plain.body, '{"sequence_id":"b","next_value":12}');
    assert.equal((await view(t.app, 'b')).last_value, 12n);
    await t.close();
  });

  it('steps by the increment within a batch', async () => {
    const t = await testApp();
    await put(t.app, 'five', { start: 10, increment: 5 });
    assert.deepEqual(range(await next(t.app, 'five', { count: '3' }), 'five'), { first: 10n, last: 20n, count: 3n });
    assert.equal(await single(t.app, 'five'), 25n);
    await put(t.app, 'down', { increment: -2 });
    assert.deepEqual(range(await next(t.app, 'down', { count: '4' }), 'down'), { first: -1n, last: -7n, count: 4n });
    assert.equal(await single(t.app, 'down'), -9n);
    await t.close();
  });

  it('answers 409 sequence_exhausted for a batch crossing the bound, taking nothing', async () => {
    const t = await testApp();
    await put(t.app, 'small', { max_value: 10 });
    range(await next(t.app, 'small', { count: '8' }), 'small');
    assertError(await next(t.app, 'small', { count: '3' }), 409, 'sequence_exhausted');
    assert.deepEqual(range(await next(t.app, 'small', { count: '2' }), 'small'), { first: 9n, last: 10n, count: 2n });
    assertError(await next(t.app, 'small'), 409, 'sequence_exhausted');
    // With cycle, a batch that does not fit before the bound starts again from the minimum.
    await put(t.app, 'round', { max_value: 10, cycle: true });
    range(await next(t.app, 'round', { count: '8' }), 'round');
    assert.deepEqual(range(await next(t.app, 'round', { count: '3' }), 'round'), { first: 1n, last: 3n, count: 3n });
    assertError(await next(t.app, 'round', { count: '11' }), 409, 'sequence_exhausted');
    await t.close();
  });

  it('answers 400 invalid_count for bad counts and allocates nothing', async () => {
    const t = await testApp();
    const bad = ['0', '-1', '1.5', 'x', '', '1e3', ' 1', '+1', '0x10', '100001', '99999999999999999999'];
    for (const count of bad) {
      for (const method of ['POST', 'GET'] as const) {
        assertError(await next(t.app, 'fresh', { count, method }), 400, 'invalid_count');
        assertError(await next(t.app, 'fresh', { count, method, key: `k-${count}` }), 400, 'invalid_count');
      }
    }
    assertError(await t.app.inject({ method: 'POST', url: '/next/fresh?count=1&count=2' }), 400, 'invalid_count');
    await assertMissing(t.app, 'fresh');

    await put(t.app, 'used', {});
    for (const count of bad) assertError(await next(t.app, 'used', { count }), 400, 'invalid_count');
    assertError(await t.app.inject({ method: 'POST', url: '/next/used?count=2&count=2' }), 400, 'invalid_count');
    assert.equal(await single(t.app, 'used'), 1n);
    // The keys of refused requests were not recorded.
    const keyed = await next(t.app, 'used', { count: '2', key: 'k-0' });
    assert.deepEqual(range(keyed, 'used'), { first: 2n, last: 3n, count: 2n });
    assert.equal(keyed.headers['idempotent-replayed'], undefined);
    // The default limit is 100000.
    assert.deepEqual(range(await next(t.app, 'used', { count: '100000' }), 'used'), { first: 4n, last: 100003n, count: 100000n });
    await t.close();
  });

  it('refuses counts above the configured maxCount', async () => {
    const store = SqliteStore.open(join(tempDir(), 'max.db'), { mode: 'write' });
    const app = await buildApp({ store, maxCount: 50 });
    assertError(await next(app, 'm', { count: '51' }), 400, 'invalid_count');
    assertError(await next(app, 'm', { count: '100000' }), 400, 'invalid_count');
    await assertMissing(app, 'm');
    assert.deepEqual(range(await next(app, 'm', { count: '50' }), 'm'), { first: 1n, last: 50n, count: 50n });
    await app.close();
    await store.close();
  });

  it('gives concurrent singles and batches on one sequence a contiguous range, no overlap, no gap', async () => {
    const t = await testApp();
    const counts = Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? 0 : 1 + ((i * 7) % 13)));
    const answers = await Promise.all(
      counts.map(async (count): Promise<Range> => {
        if (count === 0) {
          const value = await single(t.app, 'mix');
          return { first: value, last: value, count: 1n };
        }
        return range(await next(t.app, 'mix', { count: String(count) }), 'mix');
      }),
    );
    const total = counts.reduce((sum, count) => sum + (count === 0 ? 1 : count), 0);
    assert.equal(assertTiled(answers, 1n), BigInt(total));
    // Batches came back with the count they asked for, in the order they were sent.
    counts.forEach((count, i) => assert.equal(answers[i]?.count, BigInt(count === 0 ? 1 : count)));
    assert.equal(await single(t.app, 'mix'), BigInt(total) + 1n);
    await t.close();
  });

  it('hands out unique increasing values from a cache > 1 sequence; GET shows the reserved frontier', async () => {
    const t = await testApp();
    await put(t.app, 'cached', { cache: 10 });
    assert.equal(await single(t.app, 'cached'), 1n);
    // The store has durably reserved 1..10.
    let shown = await view(t.app, 'cached');
    assert.equal(shown.last_value, 10n);
    assert.equal(shown.next_value, 11n);
    const values: bigint[] = [1n];
    for (let i = 0; i < 9; i += 1) values.push(await single(t.app, 'cached'));
    assert.deepEqual(values, Array.from({ length: 10 }, (_, i) => BigInt(i + 1)));
    assert.equal((await view(t.app, 'cached')).last_value, 10n);
    assert.equal(await single(t.app, 'cached'), 11n);
    assert.equal((await view(t.app, 'cached')).last_value, 20n);

    // Sequentially: each answer above the one before, batches contiguous.
    let previous = 11n;
    for (const count of [3, 1, 25, 1, 10, 2, 1, 40, 1]) {
      const r = count === 1 ? await single(t.app, 'cached') : range(await next(t.app, 'cached', { count: String(count) }), 'cached');
      const { first, last } = typeof r === 'bigint' ? { first: r, last: r } : r;
      assert.ok(first > previous, `${first} after ${previous}`);
      assert.equal(last - first + 1n, BigInt(count));
      previous = last;
      shown = await view(t.app, 'cached');
      assert.ok((shown.last_value as bigint) >= last, 'the reserved frontier is at or beyond every value handed out');
    }

    // Concurrently: no value twice.
    const answers = await Promise.all(
      Array.from({ length: 100 }, async (_, i): Promise<Range> => {
        if (i % 2 === 0) {
          const value = await single(t.app, 'cached');
          return { first: value, last: value, count: 1n };
        }
        return range(await next(t.app, 'cached', { count: String(1 + (i % 17)) }), 'cached');
      }),
    );
    const sorted = [...answers].sort((a, b) => ascending(a.first, b.first));
    let end = previous;
    for (const r of sorted) {
      assert.ok(r.first > end, `overlap: ${r.first}..${r.last} after ${end}`);
      assert.equal(r.last - r.first + 1n, r.count);
      end = r.last;
    }
    assert.ok((await view(t.app, 'cached')).last_value as bigint >= end);
    await t.close();
  });

  it('hands out every value of a cache > 1 cycle sequence before wrapping, as cache 1 does', async () => {
    const t = await testApp();
    await put(t.app, 'plain', { max_value: 10, cycle: true });
    await put(t.app, 'cached', { max_value: 10, cycle: true, cache: 3 });
    const plain: bigint[] = [];
    const cached: bigint[] = [];
    for (let i = 0; i < 12; i += 1) {
      plain.push(await single(t.app, 'plain'));
      cached.push(await single(t.app, 'cached'));
    }
    assert.deepEqual(plain, [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n, 1n, 2n]);
    // 10 lies within the bounds; a cycle sequence must not skip it without a crash.
    assert.deepEqual(cached, plain);
    await t.close();
  });
});

describe('Idempotency-Key on /next', () => {
  it('replays the first answer with Idempotent-Replayed: true and allocates nothing', async () => {
    const t = await testApp();
    const first = await next(t.app, 'k', { key: 'order-1' });
    assert.equal(first.statusCode, 200);
    assert.equal(first.body, '{"sequence_id":"k","next_value":1}');
    assert.equal(first.headers['idempotent-replayed'], undefined);
    for (let i = 0; i < 3; i += 1) {
      const again = await next(t.app, 'k', { key: 'order-1' });
      assert.equal(again.statusCode, 200);
      assert.equal(again.body, first.body);
      assert.equal(again.headers['idempotent-replayed'], 'true');
    }
    // A GET with the same key is the same request.
    const viaGet = await next(t.app, 'k', { key: 'order-1', method: 'GET' });
    assert.equal(viaGet.body, first.body);
    assert.equal(viaGet.headers['idempotent-replayed'], 'true');
    assert.equal(await single(t.app, 'k'), 2n);

    // A batch, replayed exactly.
    const batch = await next(t.app, 'k', { key: 'batch-1', count: '5' });
    assert.equal(batch.body, '{"sequence_id":"k","next_value":3,"last_value":7,"count":5}');
    const replayed = await next(t.app, 'k', { key: 'batch-1', count: '5' });
    assert.equal(replayed.body, batch.body);
    assert.equal(replayed.headers['idempotent-replayed'], 'true');
    assert.equal(await single(t.app, 'k'), 8n);
    // A new key allocates.
    const other = await next(t.app, 'k', { key: 'order-2' });
    assert.equal(other.body, '{"sequence_id":"k","next_value":9}');
    assert.equal(other.headers['idempotent-replayed'], undefined);
    await t.close();
  });

  it('answers 422 idempotency_key_reused for the same key with another count on the same sequence, allocating nothing', async () => {
    const t = await testApp();
    range(await next(t.app, 'a', { key: 'shared', count: '3' }), 'a');
    assertError(await next(t.app, 'a', { key: 'shared', count: '4' }), 422, 'idempotency_key_reused');
    assertError(await next(t.app, 'a', { key: 'shared', count: '2' }), 422, 'idempotency_key_reused');
    assertError(await next(t.app, 'a', { key: 'shared' }), 422, 'idempotency_key_reused');
    assert.equal(await single(t.app, 'a'), 4n);
    // The original request still replays.
    const replay = await next(t.app, 'a', { key: 'shared', count: '3' });
    assert.deepEqual(range(replay, 'a'), { first: 1n, last: 3n, count: 3n });
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    await t.close();
  });

  it('keeps keys per sequence: the same key on another sequence is an independent request', async () => {
    const t = await testApp();
    range(await next(t.app, 'a', { key: 'shared', count: '3' }), 'a');
    // Another tenant's sequence: neither refused nor told that the key was used elsewhere.
    const elsewhere = await next(t.app, 'b', { key: 'shared', count: '3' });
    assert.deepEqual(range(elsewhere, 'b'), { first: 1n, last: 3n, count: 3n });
    assert.equal(elsewhere.headers['idempotent-replayed'], undefined);
    const single1 = await next(t.app, 'c', { key: 'single' });
    assert.equal(single1.body, '{"sequence_id":"c","next_value":1}');
    const onA = await next(t.app, 'a', { key: 'single' });
    assert.equal(onA.body, '{"sequence_id":"a","next_value":4}');
    // Each replays its own answer.
    assert.equal((await next(t.app, 'c', { key: 'single' })).body, '{"sequence_id":"c","next_value":1}');
    assert.equal((await next(t.app, 'a', { key: 'single' })).body, '{"sequence_id":"a","next_value":4}');
    assert.deepEqual(range(await next(t.app, 'b', { key: 'shared', count: '3' }), 'b'), { first: 1n, last: 3n, count: 3n });
    assert.equal(await single(t.app, 'a'), 5n);
    assert.equal(await single(t.app, 'b'), 4n);
    await t.close();
  });

  it('answers 400 invalid_idempotency_key for keys that are not 1 to 255 printable ASCII characters', async () => {
    const t = await testApp();
    const bad = ['', 'x'.repeat(256), 'é', 'clé-1', 'a\u0001b', 'tab\there', 'del\u007f', '日本'];
    for (const key of bad) {
      assertError(await next(t.app, 'keys', { key }), 400, 'invalid_idempotency_key');
      assertError(await next(t.app, 'keys', { key, count: '2' }), 400, 'invalid_idempotency_key');
    }
    await assertMissing(t.app, 'keys');
    // The limits themselves are fine.
    for (const key of ['x'.repeat(255), 'a', 'a b', '~!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}']) {
      const response = await next(t.app, 'keys', { key });
      assert.equal(response.statusCode, 200, `key ${JSON.stringify(key)}: ${response.body}`);
    }
    assert.equal(await single(t.app, 'keys'), 5n);
    await t.close();
  });

  it('gives concurrent requests with the same key the same answer, allocated once', async () => {
    const t = await testApp();
    await single(t.app, 'race');
    const answers = await Promise.all(Array.from({ length: 8 }, () => next(t.app, 'race', { key: 'same', count: '4' })));
    for (const answer of answers) {
      assert.equal(answer.statusCode, 200);
      assert.equal(answer.body, '{"sequence_id":"race","next_value":2,"last_value":5,"count":4}');
    }
    assert.equal(answers.filter((answer) => answer.headers['idempotent-replayed'] === undefined).length, 1);
    assert.equal(answers.filter((answer) => answer.headers['idempotent-replayed'] === 'true').length, 7);
    assert.equal(await single(t.app, 'race'), 6n);

    // Two keyed requests racing with unkeyed ones: still one allocation per key.
    const mixed = await Promise.all([
      next(t.app, 'race', { key: 'x' }),
      next(t.app, 'race'),
      next(t.app, 'race', { key: 'x' }),
      next(t.app, 'race'),
    ]);
    const values = mixed.map((answer) => body(answer).next_value as bigint);
    assert.equal(values[0], values[2]);
    assert.deepEqual(new Set(values), new Set([7n, 8n, 9n]));
    assert.equal(await single(t.app, 'race'), 10n);
    await t.close();
  });

  it('replays values above 2^53 and at the 64-bit edge exactly', async () => {
    const t = await testApp();
    await put(t.app, 'big', '{"start": 9007199254740993}');
    const first = await next(t.app, 'big', { key: 'b1' });
    assert.equal(first.body, '{"sequence_id":"big","next_value":9007199254740993}');
    const replay = await next(t.app, 'big', { key: 'b1' });
    assert.equal(replay.body, first.body);
    assert.equal(replay.headers['idempotent-replayed'], 'true');

    await put(t.app, 'edge', '{"start": "9223372036854775805"}');
    const batch = await next(t.app, 'edge', { key: 'e1', count: '3' });
    assert.equal(batch.body, '{"sequence_id":"edge","next_value":9223372036854775805,"last_value":9223372036854775807,"count":3}');
    assertError(await next(t.app, 'edge'), 409, 'sequence_exhausted');
    // Exhausted now, yet the replay answers what was allocated then.
    const again = await next(t.app, 'edge', { key: 'e1', count: '3' });
    assert.equal(again.statusCode, 200);
    assert.equal(again.body, batch.body);
    assert.equal(again.headers['idempotent-replayed'], 'true');

    await put(t.app, 'low', '{"increment": -1, "min_value": "-9223372036854775808", "start": "-9223372036854775807"}');
    const low = await next(t.app, 'low', { key: 'l1', count: '2' });
    assert.equal(low.body, '{"sequence_id":"low","next_value":-9223372036854775807,"last_value":-9223372036854775808,"count":2}');
    assert.equal((await next(t.app, 'low', { key: 'l1', count: '2' })).body, low.body);
    await t.close();
  });

  it('replays answers of a cache > 1 sequence', async () => {
    const t = await testApp();
    await put(t.app, 'cached', { cache: 20 });
    const first = await next(t.app, 'cached', { key: 'c1', count: '3' });
    assert.deepEqual(range(first, 'cached'), { first: 1n, last: 3n, count: 3n });
    const replay = await next(t.app, 'cached', { key: 'c1', count: '3' });
    assert.equal(replay.body, first.body);
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.equal(await single(t.app, 'cached'), 4n);
    await t.close();
  });

  it('does not record the key of a refused request (exhausted): a retry after raising the bound allocates', async () => {
    const t = await testApp();
    await put(t.app, 'tiny', { max_value: 2 });
    await single(t.app, 'tiny');
    await single(t.app, 'tiny');
    assertError(await next(t.app, 'tiny', { key: 'late' }), 409, 'sequence_exhausted');
    await put(t.app, 'tiny', { max_value: 5 });
    const retry = await next(t.app, 'tiny', { key: 'late' });
    assert.equal(retry.body, '{"sequence_id":"tiny","next_value":3}');
    assert.equal(retry.headers['idempotent-replayed'], undefined);
    await t.close();
  });

  it('forgets the keys of a deleted sequence: the same key then takes a new value, after every value of the deleted one', async () => {
    const t = await testApp();
    await next(t.app, 'gone', { key: 'd1' });
    await next(t.app, 'gone', { key: 'd2', count: '2' });
    assert.equal(await single(t.app, 'gone'), 4n);
    const deleted = await t.app.inject({ method: 'DELETE', url: '/sequences/gone' });
    assert.equal(deleted.statusCode, 204);

    const fresh = await next(t.app, 'gone', { key: 'd1' });
    assert.equal(fresh.body, '{"sequence_id":"gone","next_value":5}');
    assert.equal(fresh.headers['idempotent-replayed'], undefined);
    assert.equal(await single(t.app, 'gone'), 6n);
    // A key of the deleted sequence is free for another sequence too.
    const elsewhere = await next(t.app, 'other', { key: 'd2', count: '3' });
    assert.deepEqual(range(elsewhere, 'other'), { first: 1n, last: 3n, count: 3n });
    assert.equal(elsewhere.headers['idempotent-replayed'], undefined);
    await t.close();
  });
});
