/**
 * The documents under /docs over a real socket: the page and the files it
 * loads are served; any other path under /docs/static, one that climbs out
 * of it included, is 404 not_found in the error shape.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { testApp } from './helpers/app.js';

interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** GET `target` exactly as written (no dot segments resolved), on its own connection. */
function rawGet(port: number, target: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: text.slice(end + 4) });
    });
    socket.end(`GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`, 'latin1');
  });
}

describe('/docs', () => {
  it('answers 404 not_found for any other path under /docs/static, one that climbs out of it included', async () => {
    const t = await testApp();
    try {
      await t.app.listen({ host: '127.0.0.1', port: 0 });
      const address = t.app.server.address();
      assert.ok(address !== null && typeof address === 'object');
      const targets = [
        '/docs/static/..',
        '/docs/static/../../package.json',
        '/docs/static/%2e%2e/%2e%2e/package.json',
        '/docs/static/..%2f..%2fpackage.json',
        '/docs/static/./swagger-ui.css',
        '/docs/static/%00',
        '/docs/static/',
        '/docs/static/index.html',
        '/docs/static/csp.json',
        '/docs/static/swagger-ui.js',
        '/docs/static/nope.js',
      ];
      for (const target of targets) {
        const answer = await rawGet(address.port, target);
        assert.equal(answer.status, 404, `${target}: ${answer.body}`);
        assert.match(answer.headers['content-type'] ?? '', /^application\/json/, target);
        const { error } = JSON.parse(answer.body) as { error: { code: string; message: string } };
        assert.equal(error.code, 'not_found', target);
        assert.match(error.message, /^No route GET \/docs\/static/, target);
      }
    } finally {
      await t.close();
    }
  });

  it('serves the page and every file it loads, at /docs and /docs/', async () => {
    const t = await testApp();
    try {
      const spec = await t.app.inject({ method: 'GET', url: '/openapi.json' });
      for (const page of ['/docs', '/docs/']) {
        const html = await t.app.inject({ method: 'GET', url: page });
        assert.equal(html.statusCode, 200);
        assert.match(String(html.headers['content-type']), /^text\/html/);
        const links = [...html.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1] ?? '');
        assert.ok(links.length >= 6, `the page loads its style, icons and scripts: ${links.join(', ')}`);
        for (const link of links) {
          const url = new URL(link, `http://localhost${page}`).pathname;
          const file = await t.app.inject({ method: 'GET', url });
          assert.equal(file.statusCode, 200, `${page} loads ${link} (${url})`);
          const type = String(file.headers['content-type']);
          if (url.endsWith('.js')) assert.match(type, /^application\/javascript/, url);
          if (url.endsWith('.css')) assert.match(type, /^text\/css/, url);
          if (url.endsWith('.png')) assert.match(type, /^image\/png/, url);
        }
      }
      // The page's script loads the description from ./json beside the page.
      const initializer = await t.app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' });
      assert.match(initializer.body, /'json'/);
      const json = await t.app.inject({ method: 'GET', url: '/docs/json' });
      assert.equal(json.body, spec.body, '/docs/json is the OpenAPI document');
      const yaml = await t.app.inject({ method: 'GET', url: '/docs/yaml' });
      assert.match(yaml.body, /^openapi: 3\.0\.3$/m);
    } finally {
      await t.close();
    }
  });
});
