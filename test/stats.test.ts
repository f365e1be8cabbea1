import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app.js';
import { storeView, type StatsResponse } from '../src/http/stats-route.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { generateToken, hashToken, type Scope } from '../src/tokens/tokens.js';
import { assertError, testApp } from './helpers/app.js';
import { tempDir } from './helpers/temp.js';

type Stats = StatsResponse;

async function stats(app: FastifyInstance, query = ''): Promise<Stats> {
  const response = await app.inject({ method: 'GET', url: `/stats${query}` });
  assert.equal(response.statusCode, 200, response.body);
  return response.json<Stats>();
}

const SERIES = ['t', 'numbers_per_second', 'requests_per_second', 'errors_per_second', 'commit_p50_ms', 'commit_p99_ms', 'batch_size', 'pending'];

describe('GET /stats', () => {
  it('answers the documented shape: version, start, uptime, the store without secrets, the series', async () => {
    const running = await testApp();
    try {
      const answer = await stats(running.app);
      assert.deepEqual(Object.keys(answer).sort(), ['busiest', 'errors', 'interval_seconds', 'series', 'started_at', 'store', 'uptime_seconds', 'version']);
      assert.equal(answer.version, '0.1.0');
      assert.ok(!Number.isNaN(Date.parse(answer.started_at)));
      assert.ok(answer.uptime_seconds >= 0);
      assert.deepEqual(answer.store, { kind: 'sqlite', path: running.path });
      assert.equal(answer.interval_seconds, 1);
      assert.deepEqual(Object.keys(answer.series).sort(), [...SERIES].sort());
      for (const name of SERIES) assert.equal(answer.series[name as keyof Stats['series']].length, answer.series.t.length, name);
      assert.deepEqual(answer.busiest, []);
      assert.equal(answer.rates, undefined, 'rates only for ?names=');
    } finally {
      await running.close();
    }
  });

  it('shows a PostgreSQL store by host, port and database, never its user or password', () => {
    assert.deepEqual(storeView('postgres://tan:***@db.internal:6543/numbers'), { kind: 'postgres', host: 'db.internal', port: 6543, database: 'numbers' });
    assert.deepEqual(storeView('postgresql://db/numbers'), { kind: 'postgres', host: 'db', port: 5432, database: 'numbers' });
  });

  it('rates of ?names= become non-zero after traffic; busiest lists the sequence; since returns only later points', async () => {
    const running = await testApp();
    try {
      for (let i = 0; i < 5; i += 1) assert.equal((await running.app.inject({ method: 'POST', url: '/next/orders?count=10' })).statusCode, 200);
      await running.app.inject({ method: 'POST', url: '/next/a%2Cb' });
      const answer = await stats(running.app, '?names=orders,idle,a%2Cb,orders');
      assert.deepEqual(Object.keys(answer.rates ?? {}).sort(), ['a,b', 'idle', 'orders'], 'a comma sent as %2C is part of the name');
      assert.ok((answer.rates?.orders ?? 0) > 0, JSON.stringify(answer.rates));
      assert.ok((answer.rates?.['a,b'] ?? 0) > 0);
      assert.equal(answer.rates?.idle, 0);
      assert.deepEqual(
        answer.busiest.map((entry) => entry.name),
        ['orders', 'a,b'],
      );
      // The running second becomes a point when it ends: wait for the point with these numbers.
      let series = answer.series;
      while (!series.numbers_per_second.some((value) => value > 0)) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        series = (await stats(running.app)).series;
      }
      const last = series.t.at(-1) as number;
      const index = series.numbers_per_second.findIndex((value) => value > 0);
      assert.ok((series.requests_per_second[index] ?? 0) > 0);
      assert.ok((series.commit_p50_ms[index] ?? 0) > 0);
      assert.ok((series.batch_size[index] ?? 0) >= 1);
      const later = (await stats(running.app, `?since=${last}`)).series;
      assert.ok(later.t.every((t) => t > last));
      assert.deepEqual((await stats(running.app, `?since=${last - 1}`)).series.t[0], last);
    } finally {
      await running.close();
    }
  });

  it('counts error answers by code', async () => {
    const running = await testApp();
    try {
      await running.app.inject({ method: 'GET', url: '/no-such-route' });
      await running.app.inject({ method: 'GET', url: '/no-such-route' });
      await running.app.inject({ method: 'GET', url: '/sequences/missing' });
      await running.app.inject({ method: 'POST', url: '/next/orders?count=0' });
      await running.app.inject({ method: 'GET', url: '/stats?since=yesterday' });
      const answer = await stats(running.app);
      assert.deepEqual(answer.errors, { not_found: 2, sequence_not_found: 1, invalid_count: 1, bad_request: 1 });
    } finally {
      await running.close();
    }
  });

  it('refuses more than 100 names, invalid names and a malformed since, with 400', async () => {
    const running = await testApp();
    try {
      const names = (count: number): string => Array.from({ length: count }, (_, i) => `n${i}`).join(',');
      assert.equal(Object.keys((await stats(running.app, `?names=${names(100)}`)).rates ?? {}).length, 100);
      assertError(await running.app.inject({ method: 'GET', url: `/stats?names=${names(101)}` }), 400, 'bad_request');
      assertError(await running.app.inject({ method: 'GET', url: `/stats?names=ok,${'x'.repeat(256)}` }), 400, 'invalid_sequence_name');
      assertError(await running.app.inject({ method: 'GET', url: '/stats?names=%0A' }), 400, 'invalid_sequence_name');
      assertError(await running.app.inject({ method: 'GET', url: '/stats?names=%E0%A4%A' }), 400, 'bad_request');
      for (const since of ['yesterday', '-1', '1e3', '', 'NaN']) {
        assertError(await running.app.inject({ method: 'GET', url: `/stats?since=${since}` }), 400, 'bad_request');
      }
      assertError(await running.app.inject({ method: 'GET', url: '/stats?since=1&since=2' }), 400, 'bad_request');
      assert.deepEqual((await stats(running.app, '?names=')).rates, {}, 'no names: no rates');
    } finally {
      await running.close();
    }
  });

  it('needs a read token once tokens exist: 401 without, 403 for next-only or prefixed tokens', async () => {
    const store = SqliteStore.open(join(tempDir(), 'tokens.db'), { mode: 'write' });
    const add = async (name: string, scopes: Scope[], prefix?: string): Promise<string> => {
      const token = generateToken();
      await store.tokens.createToken({ name, hash: hashToken(token), scopes, prefix, createdAt: Date.now(), expiresAt: undefined });
      return token;
    };
    const reader = await add('reader', ['read']);
    const nextOnly = await add('next-only', ['next']);
    const prefixed = await add('prefixed', ['read'], 'orders');
    const app = await buildApp({ store, tokens: store.tokens });
    try {
      const get = (token?: string) =>
        app.inject({ method: 'GET', url: '/stats', headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
      assertError(await get(), 401, 'unauthorized');
      assertError(await get(nextOnly), 403, 'forbidden');
      assertError(await get(prefixed), 403, 'forbidden');
      const allowed = await get(reader);
      assert.equal(allowed.statusCode, 200, allowed.body);
      assert.deepEqual(allowed.json<Stats>().errors, { unauthorized: 1, forbidden: 2 });
    } finally {
      await app.close();
      await store.close();
    }
  });

  it('is described in OpenAPI with its response schema', async () => {
    const running = await testApp();
    try {
      const spec = (await running.app.inject({ method: 'GET', url: '/openapi.json' })).json<{
        paths: Record<string, { get?: { responses: Record<string, { content: Record<string, { schema: { properties: object } }> }> } }>;
      }>();
      const schema = spec.paths['/stats']?.get?.responses['200']?.content['application/json']?.schema;
      assert.deepEqual(Object.keys(schema?.properties ?? {}).sort(), [
        'busiest',
        'errors',
        'interval_seconds',
        'rates',
        'series',
        'started_at',
        'store',
        'uptime_seconds',
        'version',
      ]);
    } finally {
      await running.close();
    }
  });
});
