/**
 * Caching: every answer that allocates or shows live state says
 * `Cache-Control: no-store`, errors included, so that no shared cache hands
 * one number to many GET /next clients. The static documents (OpenAPI, the
 * /docs page and its files) stay cacheable, revalidated by their ETag.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { InjectOptions } from 'fastify';
import { buildApp } from '../src/app.js';
import { generateToken, hashToken } from '../src/tokens/tokens.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { testApp } from './helpers/app.js';
import { tempDir } from './helpers/temp.js';

const json = { 'content-type': 'application/json' };

/** Requests of every route that allocates or shows live state, answered with success or an error. */
const LIVE: readonly (InjectOptions & { readonly status: number })[] = [
  { method: 'POST', url: '/next/c', status: 200 },
  { method: 'GET', url: '/next/c', status: 200 },
  { method: 'GET', url: '/next/c?count=2', status: 200 },
  { method: 'POST', url: '/next/c', headers: { 'idempotency-key': 'k1' }, status: 200 },
  { method: 'POST', url: '/next/c', headers: { 'idempotency-key': 'k1' }, status: 200 },
  { method: 'PUT', url: '/sequences/s', headers: json, payload: '{"cache": 1}', status: 201 },
  { method: 'PUT', url: '/sequences/s', headers: json, payload: '{"cache": 1}', status: 200 },
  { method: 'GET', url: '/sequences/s', status: 200 },
  { method: 'GET', url: '/sequences', status: 200 },
  { method: 'POST', url: '/sequences/s/reset', headers: json, payload: '{"next_value": 10}', status: 200 },
  { method: 'DELETE', url: '/sequences/s', status: 204 },
  { method: 'GET', url: '/healthz', status: 200 },
  { method: 'HEAD', url: '/healthz', status: 200 },
  { method: 'GET', url: '/readyz', status: 200 },
  { method: 'GET', url: '/metrics', status: 200 },
  { method: 'GET', url: '/token', status: 200 },
  // Errors: of the framework, of the routes, of the body parser.
  { method: 'GET', url: '/next/%ZZ', status: 400 },
  { method: 'GET', url: `/next/${'n'.repeat(800)}`, status: 400 },
  { method: 'POST', url: '/next/c?count=0', status: 400 },
  { method: 'GET', url: '/sequences/absent', status: 404 },
  { method: 'PATCH', url: '/sequences/s', status: 404 },
  { method: 'GET', url: '/docs/static/absent.js', status: 404 },
  { method: 'POST', url: '/next/c', headers: { 'idempotency-key': 'k1' }, query: { count: '3' }, status: 422 },
  { method: 'PUT', url: '/sequences/s', headers: json, payload: '{nope', status: 400 },
  { method: 'PUT', url: '/sequences/s', headers: { 'content-type': ';;' }, payload: '{}', status: 415 },
  { method: 'PUT', url: '/sequences/s', headers: json, payload: `"${'x'.repeat(70_000)}"`, status: 413 },
  { method: 'GET', url: '/healthz', headers: { expect: 'teapot' }, status: 400 },
];

describe('Cache-Control', () => {
  it('is no-store on every answer that allocates or shows live state, errors included', async () => {
    const t = await testApp();
    try {
      for (const { status, ...request } of LIVE) {
        const answer = await t.app.inject(request);
        const what = `${request.method ?? 'GET'} ${request.url as string}`;
        assert.equal(answer.statusCode, status, `${what}: ${answer.body}`);
        assert.equal(answer.headers['cache-control'], 'no-store', `${what} (${answer.statusCode})`);
      }
    } finally {
      await t.close();
    }
  });

  it('is no-store on 401, 403, 429 and 503 answers', async () => {
    const dir = tempDir();
    const store = SqliteStore.open(join(dir, 'limited.db'), { mode: 'write' });
    const tokens = { reader: generateToken(), client: generateToken() };
    await store.tokens.createToken({ name: 'reader', hash: hashToken(tokens.reader), scopes: ['read'], prefix: undefined, createdAt: Date.now(), expiresAt: undefined });
    await store.tokens.createToken({ name: 'client', hash: hashToken(tokens.client), scopes: ['next'], prefix: undefined, createdAt: Date.now(), expiresAt: undefined });
    // Two a second per token: of four requests, one at least is refused (a new window only lets more through).
    const app = await buildApp({ store, tokens: store.tokens, rateLimit: 2 });
    try {
      const post = (token?: string) =>
        app.inject({ method: 'POST', url: '/next/r', headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
      const answers = [await post(), await post(tokens.reader)];
      for (let i = 0; i < 4; i += 1) answers.push(await post(tokens.client));
      assert.deepEqual(answers.map((answer) => answer.statusCode).slice(0, 2), [401, 403]);
      assert.ok(answers.some((answer) => answer.statusCode === 429), answers.map((answer) => answer.statusCode).join(','));
      for (const answer of answers) assert.equal(answer.headers['cache-control'], 'no-store', String(answer.statusCode));
    } finally {
      await app.close();
      await store.close();
    }
    const closed = await testApp();
    await closed.store.close();
    const unavailable = await closed.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(unavailable.statusCode, 503);
    assert.equal(unavailable.headers['cache-control'], 'no-store');
    await closed.app.close();
  });

  it('is no-store on what Node\'s parser refuses, answered on the socket', async () => {
    const t = await testApp();
    try {
      await t.app.listen({ host: '127.0.0.1', port: 0 });
      const address = t.app.server.address();
      assert.ok(address !== null && typeof address === 'object');
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(address.port, '127.0.0.1');
        let text = '';
        socket.setEncoding('latin1');
        socket.on('data', (chunk: string) => (text += chunk));
        socket.on('error', reject);
        socket.on('close', () => resolve(text));
        socket.end('GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n');
      });
      assert.match(answer, /^HTTP\/1\.1 400 /);
      assert.match(answer, /\r\nCache-Control: no-store\r\n/i);
    } finally {
      await t.close();
    }
  });

  it('lets the static documents be cached, revalidated by their ETag', async () => {
    const t = await testApp();
    try {
      for (const url of ['/openapi.json', '/docs', '/docs/', '/docs/json', '/docs/yaml', '/docs/static/swagger-ui.css', '/docs/static/swagger-ui-bundle.js']) {
        const answer = await t.app.inject({ method: 'GET', url });
        assert.equal(answer.statusCode, 200, url);
        assert.equal(answer.headers['cache-control'], 'public, max-age=0', url);
        const etag = answer.headers.etag;
        assert.equal(typeof etag, 'string', url);
        const again = await t.app.inject({ method: 'GET', url, headers: { 'if-none-match': etag as string } });
        assert.equal(again.statusCode, 304, url);
        assert.equal(again.body, '', url);
      }
    } finally {
      await t.close();
    }
  });
});
