/**
 * The /next fast path (src/http/next-fast-path.ts) answers plain
 * `POST /next/{name}` requests from the HTTP server's request event, before
 * Fastify. These tests send the same requests over HTTP (where the fast path
 * may take them) and through `app.inject()` (Fastify's route, always) to two
 * apps on two fresh stores, and require the same status, headers and body;
 * an onResponse hook counts the requests Fastify answered, which tells which
 * path answered.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppOptions } from '../src/app.js';
import type { AllocationOutcome, AllocationRequest, SequenceStore } from '../src/core/store.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { generateToken, hashToken } from '../src/tokens/tokens.js';
import { FaultyStore } from './helpers/faulty-store.js';
import { tempDir } from './helpers/temp.js';

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** The headers both paths write (Node adds Date, Connection and Keep-Alive to HTTP answers; inject does not). */
const COMPARED = ['x-request-id', 'cache-control', 'content-type', 'content-length', 'retry-after', 'idempotent-replayed'];

function compared(status: number, headers: Record<string, string | string[] | number | undefined>, body: string): Answer {
  const kept: Record<string, string> = {};
  for (const name of COMPARED) if (headers[name] !== undefined) kept[name] = String(headers[name]);
  return { status, headers: kept, body };
}

interface Served<S extends SequenceStore = SequenceStore> {
  readonly app: FastifyInstance;
  readonly store: S;
  /** The SQLite store under `store` (its tokens). */
  readonly sqlite: SqliteStore;
  readonly port: number;
  /** /next requests Fastify answered (its onResponse hooks: the fast path's never reach them). */
  readonly seen: () => number;
  readonly logs: string[];
}

const opened: Served[] = [];
after(async () => {
  for (const served of opened) {
    await served.app.close();
    await served.store.close();
  }
});

/** The app on a fresh SQLite store (wrapped by `wrap`), listening on a free port; with `withTokens`, the store's tokens (none yet). */
async function serve<S extends SequenceStore = SqliteStore>(
  options: Partial<AppOptions> = {},
  wrap: (store: SqliteStore) => S = (store) => store as unknown as S,
  withTokens = false,
): Promise<Served<S>> {
  const sqlite = SqliteStore.open(join(tempDir(), 'store.db'), { mode: 'write' });
  const store = wrap(sqlite);
  const logs: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(chunk.toString());
      callback();
    },
  });
  const app = await buildApp({ store, logger: { level: 'warn', stream }, ...(withTokens ? { tokens: sqlite.tokens } : {}), ...options });
  let seen = 0;
  app.addHook('onResponse', (request, _reply, done) => {
    if (request.url.startsWith('/next/')) seen += 1;
    done();
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  assert.ok(typeof address === 'object' && address !== null);
  const served = { app, store, sqlite, port: address.port, seen: () => seen, logs };
  opened.push(served);
  return served;
}

/** One request over HTTP (node:http: exactly the headers given, no body unless given). */
function overHttp(served: Served, method: string, path: string, headers: Record<string, string> = {}, payload?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port: served.port, method, path, headers }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve(compared(response.statusCode ?? 0, response.headers, text)));
    });
    request.on('error', reject);
    request.end(payload);
  });
}

async function throughFastify(served: Served, method: 'POST' | 'GET', url: string, headers: Record<string, string> = {}, payload?: string): Promise<Answer> {
  const response = await served.app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }) });
  return compared(response.statusCode, response.headers, response.body);
}

/**
 * Request ids are a counter per process: compared by their form, and the sent
 * one must come back (a URL Fastify refuses before routing gets none, on both paths).
 */
function withoutId(answer: Answer, sentId?: string): Answer {
  const id = answer.headers['x-request-id'];
  if (id === undefined) return answer;
  if (sentId === undefined) assert.match(id, /^req-[0-9a-z]+$/);
  else assert.equal(id, sentId);
  return { ...answer, headers: { ...answer.headers, 'x-request-id': '(id)' } };
}

/** Gapless answers carry a random reservation id and a lease end: compared by their form. */
function withoutReservation(answer: Answer): Answer {
  return { ...answer, body: answer.body.replace(/"reservation":"[^"]+"/, '"reservation":"(id)"').replace(/"expires_at":"[^"]+"/, '"expires_at":"(time)"') };
}

async function put(served: Served, name: string, options: Record<string, unknown>): Promise<void> {
  const response = await served.app.inject({ method: 'PUT', url: `/sequences/${name}`, payload: options });
  assert.ok(response.statusCode === 200 || response.statusCode === 201, response.body);
}

describe('the /next fast path', () => {
  it('answers plain, formatted, periodic, gapless and refused requests exactly as the route does', async () => {
    const fast = await serve();
    const route = await serve();
    for (const served of [fast, route]) {
      await put(served, 'invoice', { format: 'INV-{yyyy}-{value:5}', restart: 'yearly' });
      await put(served, 'desk', { gapless: true });
      await put(served, 'tiny', { max_value: 2 });
      await put(served, 'down', { start: 10, increment: -4, min_value: 1, max_value: 10 });
    }
    const seenBefore = fast.seen();
    const cases: [string, 'POST' | 'GET', Record<string, string>][] = [
      ['/next/orders', 'POST', {}],
      ['/next/orders', 'POST', {}],
      ['/next/orders', 'GET', {}],
      ['/next/orders', 'POST', { 'x-request-id': 'trace-42 from a proxy' }],
      ['/next/tenant-7:orders.v2_x~y', 'POST', {}],
      ['/next/invoice', 'POST', {}],
      ['/next/desk', 'POST', {}],
      ['/next/tiny', 'POST', {}],
      ['/next/tiny', 'POST', {}],
      ['/next/tiny', 'POST', {}],
      ['/next/down', 'POST', {}],
      ['/next/down', 'POST', {}],
      ['/next/down', 'POST', {}],
      ['/next/orders', 'POST', { 'content-length': '0' }],
      // ?count=N alone, as the client SDK's buffer asks: a batch, labelled batches, refusals.
      ['/next/orders?count=3', 'POST', {}],
      ['/next/orders?count=0010', 'GET', {}],
      ['/next/orders?count=100000', 'POST', {}],
      ['/next/invoice?count=2', 'POST', {}],
      ['/next/desk?count=2', 'POST', {}],
      ['/next/desk?count=1', 'POST', {}],
      ['/next/tiny?count=5', 'POST', {}],
    ];
    for (const [url, method, headers] of cases) {
      const overFastPath = withoutReservation(withoutId(await overHttp(fast, method, url, headers), headers['x-request-id']));
      const overRoute = withoutReservation(withoutId(await throughFastify(route, method, url, headers), headers['x-request-id']));
      assert.deepEqual(overFastPath, overRoute, `${method} ${url}`);
    }
    assert.equal(fast.seen() - seenBefore, 0, 'Fastify saw none of them');
    // The refusals: tiny's third value, down's third (10, 6, 2, then below min_value).
    const refused = await overHttp(fast, 'POST', '/next/tiny');
    assert.equal(refused.status, 409);
    assert.match(refused.body, /"code":"sequence_exhausted"/);
  });

  it('hands every other request to Fastify, which answers it as before', async () => {
    const fast = await serve();
    const route = await serve();
    // A URL Fastify refuses before routing (%ZZ) is answered without its hooks: counted 0, answered alike all the same.
    const cases: [string, 'POST' | 'GET', Record<string, string>, string?][] = [
      ['/next/orders?count=3&x=1', 'POST', {}],
      ['/next/orders?x=1', 'POST', {}],
      ['/next/orders?count=1&count=2', 'POST', {}],
      ['/next/orders?count=', 'POST', {}],
      ['/next/orders?count=abc', 'POST', {}],
      ['/next/orders?count=-1', 'POST', {}],
      ['/next/orders?count=100001', 'POST', {}],
      ['/next/orders?count=12345678901234567', 'POST', {}],
      ['/next/orders?', 'POST', {}],
      ['/next/?count=3', 'POST', {}],
      ['/next/with%20space', 'POST', {}],
      ['/next/%C3%A9t%C3%A9', 'POST', {}],
      ['/next/%ZZ', 'POST', {}],
      ['/next/', 'POST', {}],
      ['/next/a/b', 'POST', {}],
      ['/next/orders', 'POST', { 'idempotency-key': 'k-1' }],
      ['/next/orders', 'POST', { 'idempotency-key': 'k-1' }],
      ['/next/orders', 'POST', { 'content-type': 'application/json' }, '{}'],
      ['/next/orders', 'POST', { 'content-type': 'text/plain' }, 'hello'],
      ['/next/orders?count=0', 'POST', {}],
      [`/next/${'n'.repeat(256)}`, 'POST', {}],
    ];
    for (const [url, method, headers, payload] of cases) {
      const before = fast.seen();
      const overHttpAnswer = withoutId(await overHttp(fast, method, url, headers, payload));
      const overRoute = withoutId(await throughFastify(route, method, url, headers, payload));
      assert.deepEqual(overHttpAnswer, overRoute, `${method} ${url}`);
      assert.equal(fast.seen() - before, url === '/next/%ZZ' ? 0 : 1, `Fastify answered ${method} ${url}`);
    }
    // HEAD never takes a number, and an Expect Fastify refuses is refused in the error shape.
    const head = await overHttp(fast, 'HEAD', '/next/orders');
    assert.equal(head.status, 404);
    const expect = await overHttp(fast, 'POST', '/next/orders', { expect: 'something-else' });
    assert.equal(expect.status, 400);
    assert.match(expect.body, /"code":"bad_request"/);
  });

  it('answers store faults, overload and unknown names (--no-auto-create) as the route does, and logs a fault with the request id', async () => {
    const faulty = (store: SqliteStore): FaultyStore => new FaultyStore(store);
    const fast = await serve({}, faulty);
    const route = await serve({}, faulty);
    for (const served of [fast, route]) served.store.setMode('fail-before-write');
    const overFastPath = withoutId(await overHttp(fast, 'POST', '/next/orders', { 'x-request-id': 'r-503' }), 'r-503');
    const overRoute = withoutId(await throughFastify(route, 'POST', '/next/orders', { 'x-request-id': 'r-503' }), 'r-503');
    assert.deepEqual(overFastPath, overRoute);
    assert.equal(overFastPath.status, 503);
    assert.equal(overFastPath.headers['retry-after'], '1');
    const line = fast.logs.map((text) => JSON.parse(text) as { reqId?: string; level: number; msg: string }).find((entry) => entry.reqId === 'r-503');
    assert.ok(line !== undefined && line.level === 40, `a warning carrying the request id: ${fast.logs.join('')}`);

    // A server that does not create sequences on first use: 404 sequence_not_found on both paths.
    const strict = await serve({ autoCreate: false });
    const strictRoute = await serve({ autoCreate: false });
    const unknown = withoutId(await overHttp(strict, 'POST', '/next/unknown'));
    assert.deepEqual(unknown, withoutId(await throughFastify(strictRoute, 'POST', '/next/unknown')));
    assert.equal(unknown.status, 404);
    assert.match(unknown.body, /"code":"sequence_not_found"/);
    assert.equal(strict.seen(), 0);

    const overloaded = await serve({ maxPending: 0 });
    const refused = await overHttp(overloaded, 'POST', '/next/orders');
    assert.equal(refused.status, 503);
    assert.equal(refused.headers['retry-after'], '1');
    assert.match(refused.body, /"code":"overloaded"/);
    assert.equal(overloaded.seen(), 0);
  });

  it('answers 500 internal_error, as the route does, when answering itself fails, and the server stays up', async () => {
    // A store whose outcomes carry a value the answer's serializer cannot write (a bug of ours, made up).
    const broken = (store: SqliteStore): SequenceStore =>
      new Proxy(store, {
        get(target, property) {
          if (property === 'allocateBatch') {
            return async (requests: readonly AllocationRequest[]): Promise<AllocationOutcome[]> =>
              (await target.allocateBatch(requests)).map((outcome) => (outcome.ok ? { ...outcome, first: 'not a number' as unknown as bigint } : outcome));
          }
          const value: unknown = Reflect.get(target, property, target);
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
        },
      });
    const fast = await serve({}, broken);
    const route = await serve({}, broken);
    const overFastPath = withoutId(await overHttp(fast, 'POST', '/next/orders'));
    const overRoute = withoutId(await throughFastify(route, 'POST', '/next/orders'));
    assert.equal(overFastPath.status, 500);
    assert.deepEqual(overFastPath, overRoute);
    assert.ok(fast.logs.some((text) => text.includes('"level":50') && text.includes('unexpected error')), fast.logs.join(''));
    assert.equal(fast.seen(), 0);
    // Still serving: the health check answers.
    assert.equal((await overHttp(fast, 'GET', '/healthz')).status, 200);
  });

  it('counts its answers in /metrics and /stats as the route does', async () => {
    const fast = await serve();
    for (let i = 0; i < 3; i += 1) await overHttp(fast, 'POST', '/next/counted');
    await put(fast, 'one', { max_value: 2 });
    for (let i = 0; i < 3; i += 1) await overHttp(fast, 'POST', '/next/one');
    assert.equal(fast.seen(), 0);
    const metrics = (await fast.app.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(metrics, /takeanumber_values_allocated_total 5\b/);
    assert.match(metrics, /takeanumber_http_requests_total\{route="\/next\/:name",method="POST",status_code="200"\} 5\b/);
    assert.match(metrics, /takeanumber_http_requests_total\{route="\/next\/:name",method="POST",status_code="409"\} 1\b/);
    assert.match(metrics, /takeanumber_allocation_refusals_total\{reason="exhausted"\} 1\b/);
    const stats = (await fast.app.inject({ method: 'GET', url: '/stats' })).json<{ errors: Record<string, number>; rates: unknown }>();
    assert.equal(stats.errors.sequence_exhausted, 1);
  });

  it('stands aside once tokens exist, also for tokens created while the server runs, and with a rate limit', async () => {
    const fast = await serve({ tokenRefreshMs: 20 }, (store) => store, true);
    const tokens = fast.sqlite.tokens;
    assert.equal((await overHttp(fast, 'POST', '/next/open')).status, 200);
    assert.equal(fast.seen(), 0);
    const token = generateToken();
    await tokens.createToken({ name: 'ci', hash: hashToken(token), scopes: ['next'], prefix: undefined, createdAt: Date.now(), expiresAt: undefined });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const refused = await overHttp(fast, 'POST', '/next/open');
    assert.equal(refused.status, 401);
    assert.match(refused.body, /"code":"unauthorized"/);
    const allowed = await overHttp(fast, 'POST', '/next/open', { authorization: `Bearer ${token}` });
    assert.equal(allowed.status, 200, allowed.body + fast.logs.join(''));
    assert.equal(fast.seen(), 2);

    const limited = await serve({ rateLimit: 1 });
    assert.equal((await overHttp(limited, 'POST', '/next/a')).status, 200);
    assert.equal((await overHttp(limited, 'POST', '/next/a')).status, 429);
    assert.equal(limited.seen(), 2);
  });
});
