import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Allocator, type CommitInfo } from '../src/core/allocator.js';
import { buildApp, type AppOptions } from '../src/app.js';
import { Metrics } from '../src/metrics.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { StoreUnavailableError, type SequenceStore } from '../src/core/store.js';
import { tempDir } from './helpers/temp.js';

/** A real SQLite store whose next `allocateBatch` calls fail while `failing` is set. */
function flakyStore(): { store: SequenceStore; failing: { on: boolean }; close(): Promise<void> } {
  const real = SqliteStore.open(join(tempDir(), 'metrics.db'), { mode: 'write' });
  const failing = { on: false };
  const store = new Proxy(real, {
    get(target, property) {
      if (property === 'allocateBatch' && failing.on) return () => Promise.reject(new StoreUnavailableError('disk on fire'));
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store, failing, close: () => real.close() };
}

async function app(options: Omit<AppOptions, 'store'> = {}) {
  const flaky = flakyStore();
  const built = await buildApp({ ...options, store: flaky.store });
  await built.ready();
  return {
    app: built,
    failing: flaky.failing,
    async close() {
      await built.close();
      await flaky.close();
    },
  };
}

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses the Prometheus text format (enough of it for these tests). */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key as string] = value as string;
    }
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The samples of `name` whose labels include `labels`. */
function find(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value));
}

/** The one value of `name` with exactly these labels (besides none others). */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter(
    (s) => s.name === name && Object.keys(s.labels).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} appears ${found.length} times`);
  return found[0]?.value;
}

async function scrape(target: FastifyInstance): Promise<Sample[]> {
  const response = await target.inject({ method: 'GET', url: '/metrics' });
  assert.equal(response.statusCode, 200, response.body);
  assert.match(String(response.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  return parse(response.body);
}

const post = (target: FastifyInstance, url: string, headers: Record<string, string> = {}) => target.inject({ method: 'POST', url, headers });

describe('GET /metrics', () => {
  it('counts requests by route pattern, numbers handed out, replays, refusals and commits', async () => {
    const t = await app();
    try {
      const created = await t.app.inject({ method: 'PUT', url: '/sequences/small', payload: { max_value: 2 } });
      assert.equal(created.statusCode, 201, created.body);
      assert.equal((await post(t.app, '/next/small')).statusCode, 200);
      assert.equal((await post(t.app, '/next/small')).statusCode, 200);
      const exhausted = await post(t.app, '/next/small');
      assert.equal(exhausted.statusCode, 409, exhausted.body);
      for (let i = 0; i < 3; i += 1) assert.equal((await post(t.app, '/next/orders')).statusCode, 200);
      assert.equal((await post(t.app, '/next/orders?count=5')).statusCode, 200);
      assert.equal((await t.app.inject({ method: 'GET', url: '/next/orders' })).statusCode, 200);
      assert.equal((await post(t.app, '/next/orders', { 'idempotency-key': 'k1' })).statusCode, 200);
      const replay = await post(t.app, '/next/orders', { 'idempotency-key': 'k1' });
      assert.equal(replay.headers['idempotent-replayed'], 'true');
      assert.equal((await t.app.inject({ method: 'GET', url: '/no/such/route' })).statusCode, 404);
      assert.equal((await t.app.inject({ method: 'GET', url: '/sequences/missing' })).statusCode, 404);

      const samples = await scrape(t.app);
      const requests = 'takeanumber_http_requests_total';
      assert.equal(value(samples, requests, { route: '/next/:name', method: 'POST', status_code: '200' }), 8);
      assert.equal(value(samples, requests, { route: '/next/:name', method: 'GET', status_code: '200' }), 1);
      assert.equal(value(samples, requests, { route: '/next/:name', method: 'POST', status_code: '409' }), 1);
      assert.equal(value(samples, requests, { route: '/sequences/:name', method: 'PUT', status_code: '201' }), 1);
      assert.equal(value(samples, requests, { route: '/sequences/:name', method: 'GET', status_code: '404' }), 1);
      assert.equal(value(samples, requests, { route: 'unmatched', method: 'GET', status_code: '404' }), 1);
      assert.ok(
        find(samples, requests).every((s) => !s.labels.route?.includes('orders') && !s.labels.route?.includes('small')),
        'routes are patterns, never raw URLs',
      );
      const duration = 'takeanumber_http_request_duration_seconds';
      assert.equal(value(samples, `${duration}_count`, { route: '/next/:name', method: 'POST', status_code: '200' }), 8);
      const buckets = find(samples, `${duration}_bucket`, { route: '/next/:name', method: 'POST', status_code: '200' });
      assert.equal(buckets.at(-1)?.labels.le, '+Inf');
      assert.equal(buckets.at(-1)?.value, 8);
      assert.ok(buckets.every((b, i) => i === 0 || b.value >= (buckets[i - 1]?.value ?? 0)), 'buckets are cumulative');
      assert.ok((value(samples, `${duration}_sum`, { route: '/next/:name', method: 'POST', status_code: '200' }) ?? 0) > 0);

      // 2 from small, 3 single values, a batch of 5, 1 by GET, 1 with a key; the replay hands out nothing.
      assert.equal(value(samples, 'takeanumber_values_allocated_total'), 2 + 3 + 5 + 1 + 1);
      assert.deepEqual(find(samples, 'takeanumber_values_allocated_total').map((s) => s.labels), [{}], 'no sequence label by default');
      assert.equal(value(samples, 'takeanumber_idempotent_replays_total'), 1);
      const refusals = 'takeanumber_allocation_refusals_total';
      assert.equal(value(samples, refusals, { reason: 'exhausted' }), 1);
      for (const reason of ['not_found', 'key_reused', 'overloaded', 'store_unavailable', 'shutting_down']) {
        assert.equal(value(samples, refusals, { reason }), 0, reason);
      }

      // Every /next request that reached the allocator went through one commit: 3 + 6 + the replay.
      const batches = value(samples, 'takeanumber_commit_batch_size_count') ?? 0;
      assert.ok(batches >= 1);
      assert.equal(value(samples, 'takeanumber_commit_batch_size_sum'), 10);
      assert.equal(value(samples, 'takeanumber_commit_duration_seconds_count'), batches);
      assert.equal(value(samples, 'takeanumber_commit_failures_total'), 0);
      assert.equal(value(samples, 'takeanumber_pending_requests'), 0);

      // Process and Node.js metrics, with the prefix.
      assert.ok((value(samples, 'takeanumber_process_cpu_seconds_total') ?? -1) >= 0);
      assert.ok((value(samples, 'takeanumber_nodejs_heap_size_used_bytes') ?? 0) > 0);
      assert.ok(samples.every((s) => s.name.startsWith('takeanumber_')), 'every metric has the prefix');

      // The scrape itself is counted once answered.
      const again = await scrape(t.app);
      assert.equal(value(again, requests, { route: '/metrics', method: 'GET', status_code: '200' }), 1);
    } finally {
      await t.close();
    }
  });

  it('counts failed commits and store_unavailable refusals', async () => {
    const t = await app();
    try {
      assert.equal((await post(t.app, '/next/a')).statusCode, 200);
      t.failing.on = true;
      const failed = await post(t.app, '/next/a');
      assert.equal(failed.statusCode, 503, failed.body);
      t.failing.on = false;
      const samples = await scrape(t.app);
      assert.equal(value(samples, 'takeanumber_commit_failures_total'), 1);
      assert.equal(value(samples, 'takeanumber_commit_duration_seconds_count'), 2);
      assert.equal(value(samples, 'takeanumber_allocation_refusals_total', { reason: 'store_unavailable' }), 1);
      assert.equal(value(samples, 'takeanumber_values_allocated_total'), 1);
      assert.equal(value(samples, 'takeanumber_http_requests_total', { route: '/next/:name', method: 'POST', status_code: '503' }), 1);
    } finally {
      await t.close();
    }
  });

  it('labels numbers handed out by sequence with metricsPerSequence', async () => {
    const t = await app({ metricsPerSequence: true });
    try {
      await post(t.app, '/next/a');
      await post(t.app, '/next/a');
      await post(t.app, '/next/b?count=3');
      const samples = await scrape(t.app);
      assert.equal(value(samples, 'takeanumber_values_allocated_total', { sequence: 'a' }), 2);
      assert.equal(value(samples, 'takeanumber_values_allocated_total', { sequence: 'b' }), 3);
      assert.equal(value(samples, 'takeanumber_values_allocated_total'), undefined, 'no unlabelled series');
    } finally {
      await t.close();
    }
  });

  it('keeps the metrics of two apps in one process apart', async () => {
    const one = await app();
    const two = await app();
    try {
      await post(one.app, '/next/a');
      assert.equal(value(await scrape(one.app), 'takeanumber_values_allocated_total'), 1);
      assert.equal(value(await scrape(two.app), 'takeanumber_values_allocated_total'), 0);
    } finally {
      await one.close();
      await two.close();
    }
  });

  it('is described in the OpenAPI document as text/plain', async () => {
    const t = await app();
    try {
      const spec = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json<{
        paths: Record<string, { get?: { tags?: string[]; responses: Record<string, { content?: Record<string, unknown> }> } }>;
      }>();
      const operation = spec.paths['/metrics']?.get;
      assert.ok(operation, 'GET /metrics is in the OpenAPI document');
      assert.deepEqual(operation.tags, ['monitoring']);
      assert.ok(operation.responses['200']?.content?.['text/plain']);
    } finally {
      await t.close();
    }
  });
});

describe('Metrics', () => {
  it('puts request durations in the buckets whose bound they do not exceed', async () => {
    const metrics = new Metrics();
    metrics.observeRequest('/r', 'GET', 200, 0.5); // 0.0005 s: on the first bound
    metrics.observeRequest('/r', 'GET', 200, 0.6);
    metrics.observeRequest('/r', 'GET', 200, 20_000); // 20 s: above the last bound
    metrics.observeRequest(undefined, 'GET', 404, 1);
    const samples = parse(await metrics.render());
    const series = { route: '/r', method: 'GET', status_code: '200' };
    const name = 'takeanumber_http_request_duration_seconds';
    assert.equal(value(samples, `${name}_bucket`, { ...series, le: '0.0005' }), 1);
    assert.equal(value(samples, `${name}_bucket`, { ...series, le: '0.001' }), 2);
    assert.equal(value(samples, `${name}_bucket`, { ...series, le: '10' }), 2);
    assert.equal(value(samples, `${name}_bucket`, { ...series, le: '+Inf' }), 3);
    assert.equal(value(samples, `${name}_count`, series), 3);
    assert.ok(Math.abs((value(samples, `${name}_sum`, series) ?? 0) - 20.0011) < 1e-9);
    assert.equal(value(samples, 'takeanumber_http_requests_total', series), 3);
    assert.equal(value(samples, 'takeanumber_http_requests_total', { route: 'unmatched', method: 'GET', status_code: '404' }), 1);
  });
});

describe('Allocator onCommit', () => {
  it('reports each commit once, with its size and outcome', async () => {
    const flaky = flakyStore();
    const commits: CommitInfo[] = [];
    const allocator = new Allocator(flaky.store, { onCommit: (info) => commits.push(info) });
    try {
      await Promise.all([allocator.allocate({ name: 'a', count: 1n, create: true }), allocator.allocate({ name: 'b', count: 4n, create: true })]);
      flaky.failing.on = true;
      await assert.rejects(allocator.allocate({ name: 'a', count: 1n, create: true }));
      flaky.failing.on = false;
      assert.deepEqual(
        commits.map(({ size, ok }) => ({ size, ok })),
        [
          { size: 2, ok: true },
          { size: 1, ok: false },
        ],
      );
      assert.ok(commits.every((c) => c.durationMs >= 0));
    } finally {
      await allocator.close();
      await flaky.close();
    }
  });
});

describe('Request ids and logs', () => {
  it('echoes a sane X-Request-Id and generates one otherwise', async () => {
    const t = await app();
    try {
      const given = await post(t.app, '/next/a', { 'x-request-id': 'trace-abc-123' });
      assert.equal(given.headers['x-request-id'], 'trace-abc-123');
      const notFound = await t.app.inject({ method: 'GET', url: '/nowhere', headers: { 'x-request-id': 'trace-404' } });
      assert.equal(notFound.statusCode, 404);
      assert.equal(notFound.headers['x-request-id'], 'trace-404', 'error answers carry it too');
      const first = String((await post(t.app, '/next/a')).headers['x-request-id']);
      const second = String((await post(t.app, '/next/a')).headers['x-request-id']);
      assert.match(first, /^req-[0-9a-z]+$/);
      assert.notEqual(first, second);
      for (const insane of ['x'.repeat(129), 'tab\there', 'ünïcode']) {
        const answer = await post(t.app, '/next/a', { 'x-request-id': insane });
        assert.equal(answer.statusCode, 200);
        assert.match(String(answer.headers['x-request-id']), /^req-[0-9a-z]+$/, JSON.stringify(insane));
      }
      const longest = 'y'.repeat(128);
      assert.equal((await post(t.app, '/next/a', { 'x-request-id': longest })).headers['x-request-id'], longest);
    } finally {
      await t.close();
    }
  });

  it('puts the request id in every request log line and never logs the Authorization header', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(...chunk.toString('utf8').split('\n').filter((line) => line !== ''));
        callback();
      },
    });
    const t = await app({ logger: { level: 'debug', stream } });
    try {
      const authorization = { authorization: 'Bearer secret-token-xyz' };
      await post(t.app, '/next/a', { ...authorization, 'x-request-id': 'trace-logged' });
      await post(t.app, '/next/%00', authorization);
      await t.app.inject({ method: 'GET', url: '/nowhere', headers: authorization });
      await t.app.inject({ method: 'PUT', url: '/sequences/a', headers: { ...authorization, 'content-type': 'application/json' }, payload: '{' });
      t.failing.on = true;
      await post(t.app, '/next/a', authorization);
      t.failing.on = false;
    } finally {
      await t.close();
    }
    assert.ok(lines.length >= 8, `logged ${lines.length} lines`);
    assert.ok(!lines.join('\n').includes('secret-token-xyz'), 'the token is never logged');
    const entries = lines.map((line) => JSON.parse(line) as { reqId?: string; msg?: string; req?: unknown; res?: unknown });
    const perRequest = entries.filter((e) => e.req !== undefined || e.res !== undefined || /request|Route /.test(e.msg ?? ''));
    assert.ok(perRequest.length >= 8);
    for (const entry of perRequest) assert.equal(typeof entry.reqId, 'string', JSON.stringify(entry));
    const traced = entries.filter((e) => e.reqId === 'trace-logged').map((e) => e.msg);
    assert.deepEqual(traced, ['incoming request', 'request completed']);
  });
});
