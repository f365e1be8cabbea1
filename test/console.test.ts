import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppOptions } from '../src/app.js';
import { CONSOLE_CSP } from '../src/http/console-route.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { generateToken, hashToken } from '../src/tokens/tokens.js';
import { assertError } from './helpers/app.js';
import { tempDir } from './helpers/temp.js';

const INDEX = '<!doctype html><title>console</title><script src="/console/app.js"></script>';

/** A built console of a few files, beside a file it must never serve. */
function fixture(): string {
  const root = tempDir();
  const dir = join(root, 'console');
  mkdirSync(join(dir, 'img'), { recursive: true });
  writeFileSync(join(dir, 'index.html'), INDEX);
  writeFileSync(join(dir, 'app.js'), 'console.log(1);');
  writeFileSync(join(dir, 'style.css'), 'body{}');
  writeFileSync(join(dir, 'img', 'logo.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  writeFileSync(join(root, 'secret.txt'), 'not for the web');
  symlinkSync(join(root, 'secret.txt'), join(dir, 'link.txt'));
  return dir;
}

/** Sends a GET with the path exactly as given and returns the whole answer. */
function rawGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`));
    let answer = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
    socket.on('end', () => resolve(answer)).on('error', reject);
  });
}

async function withApp(options: Partial<AppOptions>, test: (app: FastifyInstance) => Promise<void>): Promise<void> {
  const store = SqliteStore.open(join(tempDir(), 'console.db'), { mode: 'write' });
  const app = await buildApp({ store, ...options });
  try {
    await test(app);
  } finally {
    await app.close();
    await store.close();
  }
}

function assertSecurityHeaders(response: { headers: Record<string, unknown> }): void {
  assert.equal(response.headers['content-security-policy'], CONSOLE_CSP);
  assert.equal(response.headers['x-content-type-options'], 'nosniff');
  assert.equal(response.headers['referrer-policy'], 'no-referrer');
}

describe('GET /console', () => {
  it('serves the page and its assets with their content types, cache rules and security headers', async () => {
    await withApp({ consoleDir: fixture() }, async (app) => {
      for (const url of ['/console', '/console/', '/console/index.html']) {
        const page = await app.inject({ method: 'GET', url });
        assert.equal(page.statusCode, 200, url);
        assert.equal(page.body, INDEX);
        assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
        assert.equal(page.headers['cache-control'], 'no-cache');
        assertSecurityHeaders(page);
      }
      assert.equal(
        CONSOLE_CSP,
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
      );
      const types = { '/console/app.js': 'text/javascript; charset=utf-8', '/console/style.css': 'text/css; charset=utf-8', '/console/img/logo.svg': 'image/svg+xml' };
      for (const [url, type] of Object.entries(types)) {
        const asset = await app.inject({ method: 'GET', url });
        assert.equal(asset.statusCode, 200, url);
        assert.equal(asset.headers['content-type'], type);
        assert.equal(asset.headers['cache-control'], 'public, max-age=3600');
        assertSecurityHeaders(asset);
        const again = await app.inject({ method: 'GET', url, headers: { 'if-none-match': String(asset.headers.etag) } });
        assert.equal(again.statusCode, 304, 'unchanged: 304 for its ETag');
        assert.equal(again.body, '');
      }
    });
  });

  it('never serves a file outside its folder: .., encoded variants, backslashes and symlinks are 404 not_found', async () => {
    await withApp({ consoleDir: fixture() }, async (app) => {
      const attempts = [
        '/console/../package.json',
        '/console/../secret.txt',
        '/console/%2e%2e/secret.txt',
        '/console/%2E%2E%2Fsecret.txt',
        '/console/..%2fsecret.txt',
        '/console/img/../../secret.txt',
        '/console/img/%2e%2e/%2e%2e/secret.txt',
        '/console/.%2e/secret.txt',
        '/console/..%5csecret.txt',
        '/console/%5c..%5csecret.txt',
        '/console//etc/passwd',
        '/console/%2fetc%2fpasswd',
        '/console/link.txt',
        '/console/img',
        '/console/img/',
        '/console/index.html%00.js',
        '/console/missing.js',
      ];
      for (const url of attempts) {
        const response = await app.inject({ method: 'GET', url });
        assertError(response, 404, 'not_found');
        assert.ok(!response.body.includes('not for the web'), url);
      }
    });
  });

  it('over a real socket too, where no client tidies the path: .. and . segments are 404 not_found', async () => {
    await withApp({ consoleDir: fixture() }, async (app) => {
      await app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = app.server.address() as AddressInfo;
      for (const path of ['/console/../secret.txt', '/console/img/../../secret.txt', '/console/./index.html', '/console/%2e%2e/secret.txt']) {
        const answer = await rawGet(port, path);
        assert.match(answer, /^HTTP\/1\.1 404 /, path);
        assert.match(answer, /"code":"not_found"/, path);
      }
    });
  });

  it('needs no token when tokens exist (the page asks for one; /stats still needs it)', async () => {
    const store = SqliteStore.open(join(tempDir(), 'tokens.db'), { mode: 'write' });
    await store.tokens.createToken({ name: 'admin', hash: hashToken(generateToken()), scopes: ['admin'], prefix: undefined, createdAt: Date.now(), expiresAt: undefined });
    const app = await buildApp({ store, tokens: store.tokens, consoleDir: fixture() });
    try {
      assert.equal((await app.inject({ method: 'GET', url: '/console' })).statusCode, 200);
      assert.equal((await app.inject({ method: 'GET', url: '/console/app.js' })).statusCode, 200);
      assertError(await app.inject({ method: 'GET', url: '/stats' }), 401, 'unauthorized');
    } finally {
      await app.close();
      await store.close();
    }
  });

  it('with console off (--no-console), /console and its files are 404 not_found', async () => {
    await withApp({ consoleDir: fixture(), console: false }, async (app) => {
      for (const url of ['/console', '/console/', '/console/app.js']) assertError(await app.inject({ method: 'GET', url }), 404, 'not_found');
    });
  });

  it('without a built console, says to run npm run build (404), and the rest of the service works', async () => {
    await withApp({ consoleDir: join(tempDir(), 'not-built') }, async (app) => {
      const response = await app.inject({ method: 'GET', url: '/console' });
      assertError(response, 404, 'not_found');
      assert.match(response.json<{ error: { message: string } }>().error.message, /npm run build/);
      assert.equal((await app.inject({ method: 'POST', url: '/next/orders' })).statusCode, 200);
    });
  });
});
