/**
 * GET /token: what the caller's token may do (the console learns its scopes
 * from it): open while no token exists, 401 without a valid token once one
 * does, and for any valid token its own name, scopes, prefix and expiry,
 * never the token or its hash. Rate limited like every API route.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateToken, hashToken } from '../src/tokens/tokens.js';
import { assertError, testApp } from './helpers/app.js';
import { bearer, harness } from './helpers/token-harness.js';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

interface TokenAnswer {
  tokens_required: boolean;
  token: { name: string; scopes: string[]; prefix: string | null; created_at: string; expires_at: string | null } | null;
}

describe('GET /token', () => {
  it('answers tokens_required false and token null while no token exists, with or without a token store, a token sent or not', async () => {
    const withoutStore = await testApp();
    const { h } = await harness();
    try {
      for (const app of [withoutStore.app, h.app]) {
        for (const headers of [{}, bearer(generateToken()), { authorization: 'Basic dXNlcjpwYXNz' }]) {
          const response = await app.inject({ method: 'GET', url: '/token', headers });
          assert.equal(response.statusCode, 200, response.body);
          assert.equal(response.body, '{"tokens_required":false,"token":null}');
          assert.equal(response.headers['cache-control'], 'no-store');
          assert.match(String(response.headers['content-type']), /^application\/json/);
        }
      }
    } finally {
      await withoutStore.close();
      await h.close();
    }
  });

  it('describes each valid token, whatever its scopes: name, scopes as created, prefix, creation and expiry, never the token or its hash', async () => {
    const expiresAt = Date.UTC(2099, 0, 2, 3, 4, 5, 678);
    const { h, token } = await harness({
      tokens: [['n', ['next']], ['r', ['read']], ['a', ['admin']], ['nr', ['next', 'read']], ['later', ['read'], { expiresAt }]],
    });
    try {
      for (const [name, scopes] of [['n', ['next']], ['r', ['read']], ['a', ['admin']], ['nr', ['next', 'read']], ['later', ['read']]] as const) {
        const response = await h.app.inject({ method: 'GET', url: '/token', headers: bearer(token(name)) });
        assert.equal(response.statusCode, 200, `${name}: ${response.body}`);
        assert.equal(response.headers['cache-control'], 'no-store');
        const answer = response.json<TokenAnswer>();
        assert.equal(answer.tokens_required, true);
        assert.ok(answer.token !== null);
        assert.deepEqual(Object.keys(answer.token), ['name', 'scopes', 'prefix', 'created_at', 'expires_at'], 'exactly the documented fields');
        assert.deepEqual([answer.token.name, answer.token.scopes, answer.token.prefix], [name, scopes, null]);
        assert.match(answer.token.created_at, ISO);
        assert.ok(Date.parse(answer.token.created_at) <= Date.now());
        assert.equal(answer.token.expires_at, name === 'later' ? '2099-01-02T03:04:05.678Z' : null);
        assert.ok(!response.body.includes(token(name)), 'never the token');
        assert.ok(!response.body.includes(hashToken(token(name))), 'never its hash');
      }
      const head = await h.app.inject({ method: 'HEAD', url: '/token', headers: bearer(token('n')) });
      assert.deepEqual([head.statusCode, head.body], [200, '']);
    } finally {
      await h.close();
    }
  });

  it('answers a token confined to a name prefix (it covers no sequence) with its prefix', async () => {
    const { h, token } = await harness({ tokens: [['tenant', ['admin'], { prefix: 'tenant-' }], ['watcher', ['read'], { prefix: 'acme/' }]] });
    try {
      const tenant = await h.app.inject({ method: 'GET', url: '/token', headers: bearer(token('tenant')) });
      assert.equal(tenant.statusCode, 200, tenant.body);
      assert.deepEqual(tenant.json<TokenAnswer>().token?.prefix, 'tenant-');
      assert.deepEqual(tenant.json<TokenAnswer>().token?.scopes, ['admin']);
      const watcher = await h.app.inject({ method: 'GET', url: '/token', headers: bearer(token('watcher')) });
      assert.deepEqual([watcher.statusCode, watcher.json<TokenAnswer>().token?.prefix], [200, 'acme/']);
      // The same token is still refused where a prefix matters.
      assertError(await h.app.inject({ method: 'GET', url: '/metrics', headers: bearer(token('watcher')) }), 403, 'forbidden');
    } finally {
      await h.close();
    }
  });

  it('is 401 unauthorized once tokens exist: no token, an unknown one, an expired one', async () => {
    const { h } = await harness({ tokens: [['ci', ['next']]] });
    try {
      const expired = await h.add('old', ['admin'], { expiresAt: Date.now() - 1 });
      for (const headers of [{}, bearer(generateToken()), bearer(expired), { authorization: 'Basic dXNlcjpwYXNz' }]) {
        const response = await h.app.inject({ method: 'GET', url: '/token', headers });
        assertError(response, 401, 'unauthorized');
        assert.equal(response.headers['www-authenticate'], 'Bearer realm="take-a-number"');
        assert.equal(response.headers['cache-control'], 'no-store');
      }
    } finally {
      await h.close();
    }
  });

  it('is rate limited like the other API routes: by token, and failed authentication by client address', async (t) => {
    const clock = 1_000_000; // one window for the whole test: the counts are exact
    t.mock.method(Date, 'now', () => clock);
    const { h, token } = await harness({ rateLimit: 2, tokens: [['a', ['read']]] });
    try {
      const get = async (remoteAddress: string, headers: Record<string, string>): Promise<number> =>
        (await h.app.inject({ method: 'GET', url: '/token', headers, remoteAddress })).statusCode;
      const valid: number[] = [];
      for (let i = 0; i < 3; i += 1) valid.push(await get('192.0.2.1', bearer(token('a'))));
      assert.deepEqual(valid, [200, 200, 429]);
      const guesses: number[] = [];
      for (let i = 0; i < 3; i += 1) guesses.push(await get('192.0.2.2', bearer(generateToken())));
      assert.deepEqual(guesses, [401, 401, 429]);
      assert.equal(await get('192.0.2.2', bearer(token('a'))), 429, 'an address over its limit is refused before its token is checked');
    } finally {
      await h.close();
    }
  });

  it('is described in OpenAPI with its bearer security and the full answer schema', async () => {
    const running = await testApp();
    try {
      const spec = (await running.app.inject({ method: 'GET', url: '/openapi.json' })).json<{
        paths: Record<string, Record<string, { security?: unknown; responses: Record<string, { content: Record<string, { schema: Schema }> }> }>>;
      }>();
      const operation = spec.paths['/token']?.get;
      assert.ok(operation !== undefined, `GET /token is missing from ${Object.keys(spec.paths).join(', ')}`);
      assert.deepEqual(operation.security, [{ bearerAuth: [] }]);
      const schema = operation.responses['200']?.content['application/json']?.schema;
      assert.ok(schema !== undefined);
      assert.deepEqual(Object.keys(schema.properties ?? {}), ['tokens_required', 'token']);
      assert.equal(schema.properties?.tokens_required?.type, 'boolean');
      const described = schema.properties.token;
      assert.deepEqual([described?.type, described?.nullable], ['object', true]);
      assert.deepEqual(Object.keys(described?.properties ?? {}), ['name', 'scopes', 'prefix', 'created_at', 'expires_at']);
      assert.deepEqual(described?.properties?.scopes?.items?.enum, ['next', 'read', 'admin']);
      assert.ok('4XX' in operation.responses, 'errors are described');
    } finally {
      await running.close();
    }
  });
});

interface Schema {
  type?: string;
  nullable?: boolean;
  enum?: string[];
  items?: Schema;
  properties?: Record<string, Schema | undefined>;
}
