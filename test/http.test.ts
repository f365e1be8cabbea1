import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { buildApp } from '../src/app.js';
import { INT64_MAX } from '../src/core/int64.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { seedEntries } from '../src/core/import-rules.js';
import { lastIssuedValues } from '../src/core/paging.js';
import { StoreUnavailableError, type SequenceStore } from '../src/core/store.js';
import { next, testApp } from './helpers/app.js';
import { tempDir } from './helpers/temp.js';

async function exported(store: SequenceStore): Promise<[string, bigint][]> {
  const rows: [string, bigint][] = [];
  for await (const [name, value] of lastIssuedValues(store)) rows.push([name, value]);
  return rows;
}

describe('/next/{name}', () => {
  it('starts a new sequence at 1 and counts up, in the original shape', async () => {
    const t = await testApp();
    const first = await t.app.inject({ method: 'POST', url: '/next/orders' });
    assert.equal(first.statusCode, 200);
    assert.match(String(first.headers['content-type']), /^application\/json/);
    assert.equal(first.body, '{"sequence_id":"orders","next_value":1}');
    assert.deepEqual((await next(t.app, 'orders')).body, { sequence_id: 'orders', next_value: 2 });
    assert.deepEqual((await next(t.app, 'orders', 'GET')).body, { sequence_id: 'orders', next_value: 3 });
    await t.close();
  });

  it('keeps sequences independent', async () => {
    const t = await testApp();
    await next(t.app, 'a');
    await next(t.app, 'a');
    assert.equal((await next(t.app, 'b')).body.next_value, 1);
    assert.equal((await next(t.app, 'a')).body.next_value, 3);
    await t.close();
  });

  it('gives 10 concurrent callers exactly 1..10, in arrival order', async () => {
    const t = await testApp();
    const answers = await Promise.all(Array.from({ length: 10 }, () => next(t.app, 'concurrent')));
    assert.deepEqual(
      answers.map((a) => a.body.next_value),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    await t.close();
  });

  it('never repeats a value under heavy concurrency on many sequences', async () => {
    const t = await testApp();
    const names = ['x', 'y', 'z'];
    const answers = await Promise.all(
      Array.from({ length: 600 }, (_, i) => next(t.app, names[i % 3] ?? 'x')),
    );
    for (const name of names) {
      const values = answers.filter((a) => a.body.sequence_id === name).map((a) => Number(a.body.next_value));
      assert.deepEqual(values, Array.from({ length: 200 }, (_, i) => i + 1));
    }
    await t.close();
  });

  it('continues where it stopped after the store is reopened', async () => {
    const t = await testApp();
    await next(t.app, 'persist');
    await next(t.app, 'persist');
    await t.close();
    const again = await testApp(t.path);
    assert.equal((await next(again.app, 'persist')).body.next_value, 3);
    await again.close();
  });

  it('accepts names with special characters, decoded from the URL', async () => {
    const t = await testApp();
    const names = ['test@sequence', 'bücher:2026 q1', 'a/b', 'with space', '🎟️ tickets', "quote'\"", '%literal'];
    for (const name of names) {
      const answer = await next(t.app, encodeURIComponent(name));
      assert.equal(answer.status, 200, name);
      assert.deepEqual(answer.body, { sequence_id: name, next_value: 1 });
    }
    await t.close();
  });

  it('accepts a name of exactly 255 UTF-8 bytes (765 URL characters encoded)', async () => {
    const t = await testApp();
    const name = 'é'.repeat(127) + 'a'; // 254 + 1 bytes
    assert.equal(Buffer.byteLength(name), 255);
    const answer = await next(t.app, encodeURIComponent(name));
    assert.equal(answer.status, 200);
    assert.equal(answer.body.sequence_id, name);
    const ascii = 'n'.repeat(255);
    assert.equal((await next(t.app, ascii)).status, 200);
    await t.close();
  });

  it('rejects bad names with 400 invalid_sequence_name and allocates nothing', async () => {
    const t = await testApp();
    const bad = [
      'n'.repeat(256),
      encodeURIComponent('é'.repeat(128)),
      encodeURIComponent('x'.repeat(2000)),
      '%00',
      'a%0Ab',
      '%7F',
      '%C2%85', // U+0085, a C1 control
      '%ZZ',
      '%E0%A4%A',
      '%ED%A0%80', // an encoded lone surrogate is not UTF-8
    ];
    for (const name of bad) {
      for (const method of ['POST', 'GET'] as const) {
        const answer = await next(t.app, name, method);
        assert.equal(answer.status, 400, name);
        assert.equal((answer.body.error as { code: string }).code, 'invalid_sequence_name', name);
        assert.equal(typeof (answer.body.error as { message: string }).message, 'string');
      }
    }
    assert.deepEqual(await exported(t.store), []);
    await t.close();
  });

  it('answers 404 not_found for /next/ and /next, and HEAD takes no number', async () => {
    const t = await testApp();
    const head = await t.app.inject({ method: 'HEAD', url: '/next/head' });
    assert.equal(head.statusCode, 404);
    for (const url of ['/next/', '/next', '/next/a/b', '/nope']) {
      const answer = await t.app.inject({ method: 'POST', url });
      assert.equal(answer.statusCode, 404, url);
      assert.equal(answer.json<{ error: { code: string } }>().error.code, 'not_found');
    }
    assert.deepEqual(await exported(t.store), []);
    await t.close();
  });

  it('handles request bodies: ignored when valid, 400 invalid_body when malformed JSON, 413 when too large', async () => {
    const t = await testApp();
    const json = { 'content-type': 'application/json' };
    assert.equal((await t.app.inject({ method: 'POST', url: '/next/b', headers: json, payload: '' })).statusCode, 200);
    assert.equal((await t.app.inject({ method: 'POST', url: '/next/b', headers: json, payload: '{"x":1}' })).statusCode, 200);
    const text = await t.app.inject({ method: 'POST', url: '/next/b', headers: { 'content-type': 'text/plain' }, payload: 'hi' });
    assert.equal(text.statusCode, 200);
    const malformed = await t.app.inject({ method: 'POST', url: '/next/b', headers: json, payload: '{nope' });
    assert.equal(malformed.statusCode, 400);
    assert.equal(malformed.json<{ error: { code: string } }>().error.code, 'invalid_body');
    const big = await t.app.inject({ method: 'POST', url: '/next/b', headers: json, payload: `"${'x'.repeat(70_000)}"` });
    assert.equal(big.statusCode, 413);
    assert.equal(big.json<{ error: { code: string } }>().error.code, 'payload_too_large');
    assert.deepEqual(await exported(t.store), [['b', 3n]]);
    await t.close();
  });

  it('takes its body limit from the bodyLimit option (--body-limit)', async () => {
    const store = SqliteStore.open(join(tempDir(), 'limit.db'), { mode: 'write' });
    const app = await buildApp({ store, bodyLimit: 2048 });
    try {
      const json = { 'content-type': 'application/json' };
      const small = await app.inject({ method: 'PUT', url: '/sequences/l', headers: json, payload: JSON.stringify({ cache: 1 }) });
      assert.equal(small.statusCode, 201);
      const big = await app.inject({ method: 'PUT', url: '/sequences/l', headers: json, payload: `{"cache": 1, "x": "${'x'.repeat(3000)}"}` });
      assert.equal(big.statusCode, 413);
      assert.equal(big.json<{ error: { code: string } }>().error.code, 'payload_too_large');
    } finally {
      await app.close();
      await store.close();
    }
  });

  it('writes exact integers above 2^53 and answers 409 sequence_exhausted at 2^63-1', async () => {
    const t = await testApp();
    await t.store.importSequences(seedEntries(new Map([['big', 9007199254740992n], ['edge', INT64_MAX - 1n]])));
    assert.equal((await next(t.app, 'big')).raw, '{"sequence_id":"big","next_value":9007199254740993}');
    assert.equal((await next(t.app, 'edge')).raw, '{"sequence_id":"edge","next_value":9223372036854775807}');
    for (let i = 0; i < 2; i += 1) {
      const exhausted = await next(t.app, 'edge');
      assert.equal(exhausted.status, 409);
      assert.equal((exhausted.body.error as { code: string }).code, 'sequence_exhausted');
    }
    // An exhausted sequence in the same group commit does not disturb the others.
    const [a, b] = await Promise.all([next(t.app, 'edge'), next(t.app, 'big')]);
    assert.equal(a.status, 409);
    assert.equal(b.raw, '{"sequence_id":"big","next_value":9007199254740994}');
    assert.deepEqual(await exported(t.store), [['big', 9007199254740994n], ['edge', INT64_MAX]]);
    await t.close();
  });
});

describe('health and failures', () => {
  it('answers /healthz and /readyz', async () => {
    const t = await testApp();
    const health = await t.app.inject({ url: '/healthz' });
    assert.deepEqual([health.statusCode, health.json()], [200, { status: 'ok' }]);
    const ready = await t.app.inject({ url: '/readyz' });
    assert.deepEqual([ready.statusCode, ready.json()], [200, { status: 'ready' }]);
    await t.close();
  });

  it('answers 503 store_unavailable while the store fails, and recovers', async () => {
    const t = await testApp();
    let failing = false;
    const real = t.store;
    const flaky: SequenceStore = {
      location: real.location,
      allocateBatch: (requests) => (failing ? Promise.reject(new StoreUnavailableError('disk I/O error')) : real.allocateBatch(requests)),
      getSequence: (name) => real.getSequence(name),
      listSequences: (query) => real.listSequences(query),
      modifySequence: (name, decide) => real.modifySequence(name, decide),
      purgeIdempotencyKeys: (before, limit) => real.purgeIdempotencyKeys(before, limit),
      importSequences: (entries) => real.importSequences(entries),
      settleBatch: (requests) => real.settleBatch(requests),
      listValues: (name, query) => real.listValues(name, query),
      readGapless: (name) => real.readGapless(name),
      ping: () => (failing ? Promise.reject(new StoreUnavailableError('disk I/O error')) : real.ping()),
      close: () => real.close(),
    };
    const app = await buildApp({ store: flaky });
    assert.equal((await next(app, 'f')).body.next_value, 1);
    failing = true;
    const failed = await Promise.all([next(app, 'f'), next(app, 'g')]);
    for (const answer of failed) {
      assert.equal(answer.status, 503);
      assert.equal((answer.body.error as { code: string }).code, 'store_unavailable');
    }
    const notReady = await app.inject({ url: '/readyz' });
    assert.equal(notReady.statusCode, 503);
    assert.equal(notReady.json<{ error: { code: string } }>().error.code, 'store_unavailable');
    failing = false;
    assert.equal((await next(app, 'f')).body.next_value, 2);
    assert.equal((await app.inject({ url: '/readyz' })).statusCode, 200);
    await app.close();
    await t.close();
  });
});

describe('admin endpoints when the store fails', () => {
  it('answer 503 store_unavailable, not 500', async () => {
    const t = await testApp();
    const real = t.store;
    const failing = new StoreUnavailableError('connection terminated');
    const broken: SequenceStore = {
      location: real.location,
      allocateBatch: (requests) => real.allocateBatch(requests),
      getSequence: () => Promise.reject(failing),
      listSequences: () => Promise.reject(failing),
      modifySequence: () => Promise.reject(failing),
      purgeIdempotencyKeys: (before, limit) => real.purgeIdempotencyKeys(before, limit),
      importSequences: (entries) => real.importSequences(entries),
      settleBatch: () => Promise.reject(failing),
      listValues: () => Promise.reject(failing),
      readGapless: () => Promise.reject(failing),
      ping: () => real.ping(),
      close: () => real.close(),
    };
    const app = await buildApp({ store: broken });
    const json = { 'content-type': 'application/json' };
    const calls = [
      app.inject({ method: 'GET', url: '/sequences/x' }),
      app.inject({ method: 'GET', url: '/sequences' }),
      app.inject({ method: 'PUT', url: '/sequences/x', headers: json, payload: '{}' }),
      app.inject({ method: 'POST', url: '/sequences/x/reset', headers: json, payload: '{"next_value": 5}' }),
      app.inject({ method: 'DELETE', url: '/sequences/x' }),
    ];
    for (const answer of await Promise.all(calls)) {
      assert.equal(answer.statusCode, 503, answer.body);
      assert.equal(answer.json<{ error: { code: string } }>().error.code, 'store_unavailable');
    }
    await app.close();
    await t.close();
  });

  it('answer 500 internal_error for a bug (logged with its stack), on the admin routes, /next and /readyz alike', async () => {
    const t = await testApp();
    const real = t.store;
    const bug = (): Promise<never> => Promise.reject(new TypeError("Cannot read properties of undefined (reading 'lastValue')"));
    const buggy: SequenceStore = {
      location: real.location,
      allocateBatch: bug,
      getSequence: bug,
      listSequences: bug,
      modifySequence: bug,
      purgeIdempotencyKeys: (before, limit) => real.purgeIdempotencyKeys(before, limit),
      importSequences: (entries) => real.importSequences(entries),
      settleBatch: bug,
      listValues: bug,
      readGapless: bug,
      ping: bug,
      close: () => real.close(),
    };
    const lines: { level: number; msg: string; err?: { type?: string; stack?: string } }[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number]);
        done();
      },
    });
    const app = await buildApp({ store: buggy, logger: { level: 'info', stream } });
    const json = { 'content-type': 'application/json' };
    const calls = [
      app.inject({ method: 'GET', url: '/sequences/x' }),
      app.inject({ method: 'GET', url: '/sequences' }),
      app.inject({ method: 'PUT', url: '/sequences/x', headers: json, payload: '{}' }),
      app.inject({ method: 'POST', url: '/next/x' }),
      app.inject({ method: 'GET', url: '/readyz' }),
    ];
    for (const answer of await Promise.all(calls)) {
      assert.equal(answer.statusCode, 500, answer.body);
      assert.deepEqual(answer.json(), { error: { code: 'internal_error', message: 'An unexpected error occurred; it has been logged.' } });
    }
    const logged = lines.filter((line) => line.level === 50 && line.msg === 'unexpected error');
    assert.equal(logged.length, calls.length);
    for (const line of logged) {
      assert.equal(line.err?.type, 'TypeError');
      assert.match(line.err.stack ?? '', /TypeError: Cannot read properties of undefined[\s\S]*\n\s+at /, 'with its stack');
    }
    await app.close();
    await t.close();
  });

  it('refuses several Idempotency-Key headers, and takes a PUT without a body as no changes', async () => {
    const t = await testApp();
    const twice = await t.app.inject({
      method: 'POST',
      url: '/next/k',
      headers: { 'idempotency-key': ['a', 'b'] },
    });
    assert.equal(twice.statusCode, 400);
    assert.equal(twice.json<{ error: { code: string } }>().error.code, 'invalid_idempotency_key');
    const put = await t.app.inject({ method: 'PUT', url: '/sequences/empty' });
    assert.equal(put.statusCode, 201, put.body);
    await t.close();
  });
});
