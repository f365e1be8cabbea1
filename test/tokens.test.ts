import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { generateToken, hashToken, type Scope } from '../src/tokens/tokens.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { TokenNameTakenError, type TokenStore } from '../src/tokens/token-store.js';
import { startPostgres } from './helpers/postgres.js';
import { bearer, harness, type Harness } from './helpers/token-harness.js';
import { tempDir } from './helpers/temp.js';

describe('API tokens over HTTP', () => {
  it('leaves every endpoint open while no token exists', async () => {
    const { h } = await harness();
    try {
      assert.equal((await h.app.inject({ method: 'POST', url: '/next/open' })).statusCode, 200);
      assert.equal((await h.app.inject({ method: 'GET', url: '/sequences' })).statusCode, 200);
      assert.equal((await h.app.inject({ method: 'PUT', url: '/sequences/made', payload: {} })).statusCode, 201);
    } finally {
      await h.close();
    }
  });

  it('once a token exists: 401 without one (with WWW-Authenticate), unknown, or expired; health and docs stay open', async () => {
    const { h } = await harness({ tokens: [['old', ['admin'], { expiresAt: Date.now() - 1000 }], ['ci', ['next']]] });
    try {
      for (const headers of [{}, bearer(generateToken()), bearer(`${generateToken()}x`), { authorization: 'Basic dXNlcjpwYXNz' }]) {
        const response = await h.app.inject({ method: 'POST', url: '/next/locked', headers });
        assert.equal(response.statusCode, 401, JSON.stringify(headers));
        assert.equal(response.json<{ error: { code: string } }>().error.code, 'unauthorized');
        assert.equal(response.headers['www-authenticate'], 'Bearer realm="take-a-number"');
      }
      const expired = await h.app.inject({ method: 'GET', url: '/sequences/locked', headers: bearer(await h.add('old2', ['admin'], { expiresAt: Date.now() - 1 })) });
      assert.equal(expired.statusCode, 401);
      for (const url of ['/healthz', '/readyz', '/openapi.json', '/docs']) {
        const response = await h.app.inject({ method: 'GET', url });
        assert.ok(response.statusCode < 400, `${url} answered ${response.statusCode}`);
      }
      assert.equal((await h.store.getSequence('locked')), undefined, 'refused requests created nothing');
    } finally {
      await h.close();
    }
  });

  it('checks scopes: next allocates only, read reads only, admin does everything', async () => {
    const { h, token } = await harness({ tokens: [['n', ['next']], ['r', ['read']], ['a', ['admin']]] });
    try {
      const call = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, who: string, payload?: object) =>
        h.app.inject({ method, url, headers: bearer(token(who)), ...(payload === undefined ? {} : { payload }) });
      assert.equal((await call('POST', '/next/s', 'n')).statusCode, 200);
      assert.equal((await call('GET', '/sequences/s', 'n')).statusCode, 403);
      assert.equal((await call('PUT', '/sequences/s', 'n', { cache: 5 })).statusCode, 403);
      assert.equal((await call('GET', '/sequences/s', 'r')).statusCode, 200);
      assert.equal((await call('GET', '/sequences', 'r')).statusCode, 200);
      assert.equal((await call('GET', '/metrics', 'r')).statusCode, 200);
      assert.equal((await call('GET', '/metrics', 'n')).statusCode, 403);
      assert.equal((await h.app.inject({ method: 'GET', url: '/metrics' })).statusCode, 401);
      const refused = await call('POST', '/next/s', 'r');
      assert.equal(refused.statusCode, 403);
      assert.equal(refused.json<{ error: { code: string } }>().error.code, 'forbidden');
      assert.equal((await call('POST', '/sequences/s/reset', 'r', { next_value: 1, force: true })).statusCode, 403);
      assert.equal((await call('DELETE', '/sequences/s', 'r')).statusCode, 403);
      assert.equal((await call('POST', '/next/s', 'a')).json<{ next_value: number }>().next_value, 2, 'the refused requests took nothing');
      assert.equal((await call('GET', '/sequences/s', 'a')).statusCode, 200);
      assert.equal((await call('PUT', '/sequences/s', 'a', { cache: 5 })).statusCode, 200);
      assert.equal((await call('DELETE', '/sequences/s', 'a')).statusCode, 204);
    } finally {
      await h.close();
    }
  });

  it('confines a token with a prefix to names with that prefix, in allocation, admin and listing', async () => {
    const { h, token } = await harness({ tokens: [['acme', ['admin'], { prefix: 'acme/' }], ['root', ['admin']]] });
    try {
      const acme = bearer(token('acme'));
      assert.equal((await h.app.inject({ method: 'POST', url: '/next/acme%2Forders', headers: acme })).statusCode, 200);
      assert.equal((await h.app.inject({ method: 'POST', url: '/next/other', headers: bearer(token('root')) })).statusCode, 200);
      for (const [method, url] of [['POST', '/next/other'], ['GET', '/sequences/other'], ['DELETE', '/sequences/other'], ['GET', '/sequences?prefix=oth'], ['GET', '/metrics']] as const) {
        const response = await h.app.inject({ method, url, headers: acme });
        assert.equal(response.statusCode, 403, `${method} ${url}`);
      }
      const listed = await h.app.inject({ method: 'GET', url: '/sequences', headers: acme });
      assert.deepEqual(listed.json<{ sequences: { name: string }[] }>().sequences.map((s) => s.name), ['acme/orders']);
      const narrower = await h.app.inject({ method: 'GET', url: '/sequences?prefix=acme%2Fo', headers: acme });
      assert.equal(narrower.statusCode, 200);
      assert.equal((await h.store.getSequence('other'))?.position.lastValue, 1n, 'the refused requests left other alone');
    } finally {
      await h.close();
    }
  });

  it('tells a token confined to a prefix that /metrics, which covers every sequence, needs a token without one', async () => {
    const { h, token } = await harness({ tokens: [['acme', ['read'], { prefix: 'acme/' }]] });
    try {
      const response = await h.app.inject({ method: 'GET', url: '/metrics', headers: bearer(token('acme')) });
      assert.equal(response.statusCode, 403);
      const { code, message } = response.json<{ error: { code: string; message: string } }>().error;
      assert.equal(code, 'forbidden');
      assert.match(message, /prefix/);
      assert.match(message, /cannot use GET \/metrics, which covers every sequence/);
      assert.match(message, /token without a prefix/);
      assert.doesNotMatch(message, /may only use sequences whose names start with/, 'not the message about a sequence outside the prefix');
    } finally {
      await h.close();
    }
  });

  it('sees tokens created and revoked in the store within a refresh, and records last use', async () => {
    const { h, token } = await harness({ tokens: [['first', ['next']]] });
    try {
      const later = await h.add('later', ['next']);
      /** Polls until `who` gets `want` (the app reloads tokens every 25 ms here). */
      const poll = async (who: string, want: number): Promise<void> => {
        let status = 0;
        const deadline = Date.now() + 5000;
        while (status !== want && Date.now() < deadline) {
          status = (await h.app.inject({ method: 'POST', url: '/next/t', headers: bearer(who) })).statusCode;
          if (status !== want) await new Promise((resolve) => setTimeout(resolve, 10));
        }
        assert.equal(status, want);
      };
      await poll(later, 200);
      assert.equal(await h.store.tokens.revokeToken('later'), true);
      await poll(later, 401);
      await poll(token('first'), 200);
      const deadline = Date.now() + 5000;
      let used: number | undefined;
      while (used === undefined && Date.now() < deadline) {
        used = (await h.store.tokens.listTokens()).find((t) => t.name === 'first')?.lastUsedAt;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.ok(used !== undefined && used <= Date.now(), 'last use is recorded');
    } finally {
      await h.close();
    }
  });

  it('writes an audit line naming the token for deletes and forced resets, and never logs a token', async () => {
    const { h, token } = await harness({ tokens: [['ops', ['admin']]] });
    try {
      const headers = bearer(token('ops'));
      await h.app.inject({ method: 'POST', url: '/next/audited', headers });
      await h.app.inject({ method: 'POST', url: '/sequences/audited/reset', headers, payload: { next_value: 1, force: true } });
      await h.app.inject({ method: 'DELETE', url: '/sequences/audited', headers });
      const audits = h.logs.map((line) => JSON.parse(line) as { audit?: string; token?: string; sequence?: string }).filter((line) => line.audit !== undefined);
      assert.deepEqual(
        audits.map((line) => [line.audit, line.sequence, line.token]),
        [
          ['sequence.reset', 'audited', 'ops'],
          ['sequence.delete', 'audited', 'ops'],
        ],
      );
      assert.ok(!h.logs.join('').includes(token('ops')), 'the token never appears in the logs');
    } finally {
      await h.close();
    }
  });

  it('keeps only hashes: the token appears in no file of the store, WAL included', async () => {
    const { h, token } = await harness({ tokens: [['secret', ['admin']]] });
    try {
      await h.app.inject({ method: 'POST', url: '/next/x', headers: bearer(token('secret')) });
      const files = readdirSync(h.dir);
      assert.ok(files.some((file) => file.endsWith('-wal')), `the WAL is there to be searched: ${files.join(', ')}`);
      for (const file of files) {
        const bytes = readFileSync(join(h.dir, file));
        assert.ok(!bytes.includes(token('secret')), `${file} holds the token`);
        assert.ok(!bytes.includes(token('secret').slice(4)), `${file} holds the token's random part`);
      }
      assert.equal((await h.store.tokens.listTokens())[0]?.hash, hashToken(token('secret')));
    } finally {
      await h.close();
    }
  });
});

describe('rate limiting', () => {
  it('answers 429 rate_limited with Retry-After past N requests a second per client, taking nothing; health checks are not limited', async () => {
    const { h } = await harness({ rateLimit: 3 });
    try {
      // All within one window: inject is fast, and a window boundary only lets more through, never fewer.
      const statuses: number[] = [];
      for (let i = 0; i < 10; i += 1) {
        const response = await h.app.inject({ method: 'POST', url: '/next/limited' });
        statuses.push(response.statusCode);
        if (response.statusCode === 429) {
          assert.equal(response.headers['retry-after'], '1');
          assert.equal(response.json<{ error: { code: string } }>().error.code, 'rate_limited');
        }
      }
      const allowed = statuses.filter((status) => status === 200).length;
      assert.ok(statuses.includes(429), `some requests were limited: ${statuses.join(',')}`);
      assert.equal((await h.store.getSequence('limited'))?.position.lastValue, BigInt(allowed), 'only answered requests took numbers');
      for (let i = 0; i < 10; i += 1) assert.equal((await h.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    } finally {
      await h.close();
    }
  });

  it('tells clients apart by X-Forwarded-For only from trusted proxies', async () => {
    const burst = async (h: Harness, forwarded: string): Promise<number> => {
      let limited = 0;
      for (let i = 0; i < 3; i += 1) {
        const response = await h.app.inject({ method: 'POST', url: '/next/fwd', headers: { 'x-forwarded-for': forwarded }, remoteAddress: '10.0.0.9' });
        if (response.statusCode === 429) limited += 1;
      }
      return limited;
    };
    const trusted = (await harness({ rateLimit: 2, trustProxy: ['10.0.0.0/8'] })).h;
    const untrusted = (await harness({ rateLimit: 2 })).h;
    try {
      // Behind a trusted proxy each forwarded client has its own budget: 2 of 3 pass for each.
      assert.equal(await burst(trusted, '203.0.113.1'), 1);
      assert.equal(await burst(trusted, '203.0.113.2'), 1);
      // Untrusted: the header is ignored, both bursts count against the proxy's address.
      assert.equal((await burst(untrusted, '203.0.113.1')) + (await burst(untrusted, '203.0.113.2')), 4);
    } finally {
      await trusted.close();
      await untrusted.close();
    }
  });

  it('limits requests that fail authentication by client address, and refuses an address over its limit before checking its token', async (t) => {
    // One window until the clock is moved: the counts below are exact.
    let clock = 1_000_000;
    t.mock.method(Date, 'now', () => clock);
    const { h, token } = await harness({ rateLimit: 3, tokens: [['a', ['next']]] });
    try {
      const post = async (remoteAddress: string, authorization?: string): Promise<number> =>
        (
          await h.app.inject({
            method: 'POST',
            url: '/next/guarded',
            headers: authorization === undefined ? {} : { authorization },
            remoteAddress,
          })
        ).statusCode;
      const guesses: number[] = [];
      for (let i = 0; i < 5; i += 1) guesses.push(await post('192.0.2.1', `Bearer tan_guess${i}`));
      guesses.push(await post('192.0.2.1'));
      assert.deepEqual(guesses, [401, 401, 401, 429, 429, 429], 'guesses (and requests without a token) are throttled by --rate-limit');
      // Over its limit, the address is refused before its token is checked: a right guess looks like the others.
      assert.equal(await post('192.0.2.1', `Bearer ${token('a')}`), 429);
      // Another address has its own budget; a valid token from it counts against the token.
      assert.equal(await post('192.0.2.2', 'Bearer tan_wrong'), 401);
      assert.equal(await post('192.0.2.2', `Bearer ${token('a')}`), 200);
      // In the next window the address may try again.
      clock += 1000;
      assert.equal(await post('192.0.2.1', `Bearer ${token('a')}`), 200);
      assert.equal(await post('192.0.2.1', 'Bearer tan_wrong'), 401);
      assert.equal((await h.store.getSequence('guarded'))?.position.lastValue, 2n, 'only the two authorized requests took numbers');
    } finally {
      await h.close();
    }
  });

  it('counts the requests a token may not make against the token', async (t) => {
    let clock = 1_000_000;
    t.mock.method(Date, 'now', () => clock);
    const { h, token } = await harness({ rateLimit: 2, tokens: [['reader', ['read']]] });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i += 1) {
        statuses.push((await h.app.inject({ method: 'POST', url: '/next/x', headers: bearer(token('reader')) })).statusCode);
      }
      assert.deepEqual(statuses, [403, 403, 429, 429]);
      clock += 1000;
      assert.equal((await h.app.inject({ method: 'GET', url: '/sequences', headers: bearer(token('reader')) })).statusCode, 200);
    } finally {
      await h.close();
    }
  });

  it('counts per token once tokens exist', async () => {
    const { h, token } = await harness({ rateLimit: 2, tokens: [['a', ['next']], ['b', ['next']]] });
    try {
      const burst = async (who: string): Promise<number[]> => {
        const statuses: number[] = [];
        for (let i = 0; i < 4; i += 1) statuses.push((await h.app.inject({ method: 'POST', url: '/next/p', headers: bearer(token(who)) })).statusCode);
        return statuses;
      };
      const a = await burst('a');
      const b = await burst('b');
      assert.ok(a.includes(429) && b.includes(429));
      assert.equal(b[0], 200, "b's first request is not limited by a's");
    } finally {
      await h.close();
    }
  });
});

/** The token contract, on both stores. */
function tokenStoreContract(label: string, open: () => Promise<{ tokens: TokenStore; close(): Promise<void> }>): void {
  describe(`token store contract: ${label}`, () => {
    it('creates, lists by name, refuses a taken name, records use forward only, revokes', async () => {
      const store = await open();
      try {
        const base = { scopes: ['next', 'read'] as Scope[], prefix: undefined, createdAt: 1_700_000_000_000, expiresAt: undefined };
        await store.tokens.createToken({ ...base, name: 'zeta', hash: hashToken('z') });
        await store.tokens.createToken({ ...base, name: 'alpha', hash: hashToken('a'), prefix: 'acme/', expiresAt: 1_800_000_000_000 });
        await assert.rejects(store.tokens.createToken({ ...base, name: 'alpha', hash: hashToken('other') }), TokenNameTakenError);
        await store.tokens.recordUse(new Map([['alpha', 1_750_000_000_000]]));
        await store.tokens.recordUse(new Map([['alpha', 1_740_000_000_000]]));
        assert.deepEqual(await store.tokens.listTokens(), [
          { name: 'alpha', hash: hashToken('a'), scopes: ['next', 'read'], prefix: 'acme/', createdAt: 1_700_000_000_000, expiresAt: 1_800_000_000_000, lastUsedAt: 1_750_000_000_000 },
          { name: 'zeta', hash: hashToken('z'), scopes: ['next', 'read'], prefix: undefined, createdAt: 1_700_000_000_000, expiresAt: undefined, lastUsedAt: undefined },
        ]);
        assert.equal(await store.tokens.revokeToken('zeta'), true);
        assert.equal(await store.tokens.revokeToken('zeta'), false);
        assert.deepEqual((await store.tokens.listTokens()).map((t) => t.name), ['alpha']);
      } finally {
        await store.close();
      }
    });
  });
}

tokenStoreContract('SQLite', () => Promise.resolve(SqliteStore.open(join(tempDir(), 't.db'), { mode: 'write' })));
const server = await startPostgres();
tokenStoreContract('PostgreSQL', async () => PostgresStore.open({ url: await server.newDatabase(), poolSize: 2, statementTimeoutMs: 5000 }));
