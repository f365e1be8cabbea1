/**
 * Who may settle and list gapless values (scopes, a token's name prefix),
 * and bad input on the gapless routes: odd ids, huge reasons, wrong content
 * types. Never a 5xx, and nothing refused changes anything.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { buildApp } from '../src/app.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { generateToken, hashToken, type Scope } from '../src/tokens/tokens.js';
import { testApp } from './helpers/app.js';
import { tempDir } from './helpers/temp.js';
import { assertError, gapless, reserve, settle, summary, values, type Action } from './helpers/gapless.js';

describe('scopes and name prefixes on the gapless routes', () => {
  it('settles with the next scope within the token prefix, lists with read; refuses the rest before touching the store', async () => {
    const store = SqliteStore.open(join(tempDir(), 'access.db'), { mode: 'write' });
    const token = async (name: string, scopes: Scope[], prefix?: string): Promise<Record<string, string>> => {
      const secret = generateToken();
      await store.tokens.createToken({ name, hash: hashToken(secret), scopes, prefix, createdAt: Date.now(), expiresAt: undefined });
      return { authorization: `Bearer ${secret}` };
    };
    const admin = await token('admin', ['admin']);
    const taker = await token('taker', ['next'], 'inv');
    const reader = await token('reader', ['read'], 'inv');
    const app = await buildApp({ store, tokens: store.tokens, tokenRefreshMs: 25 });
    await app.ready();
    try {
      await gapless(app, 'invoices', {}, admin);
      await gapless(app, 'receipts', {}, admin);
      const mine = await reserve(app, 'invoices', taker);
      const theirs = await reserve(app, 'receipts', admin);

      assertError(await settle(app, 'invoices', mine.id, 'confirm'), 401, 'unauthorized');
      assertError(await settle(app, 'invoices', mine.id, 'confirm', undefined, reader), 403, 'forbidden');
      for (const action of ['confirm', 'release', 'void'] as const) {
        assertError(await settle(app, 'receipts', theirs.id, action, undefined, taker), 403, 'forbidden');
      }
      assertError(await values(app, 'invoices', '', taker), 403, 'forbidden');
      assertError(await values(app, 'receipts', '', reader), 403, 'forbidden');
      assertError(await values(app, 'invoices'), 401, 'unauthorized');
      assert.deepEqual(await summary(app, 'receipts', admin), { confirmed_through: null, reserved: 1n, free: 0n }, 'the refused actions settled nothing');

      const listed = await values(app, 'invoices', '', reader);
      assert.equal(listed.statusCode, 200, listed.body);
      assert.ok(!listed.body.includes(mine.id), 'a read token never sees a reservation id');
      assert.equal((await settle(app, 'invoices', mine.id, 'void', { reason: 'typo' }, taker)).statusCode, 200);
      assert.equal((await settle(app, 'receipts', theirs.id, 'confirm', undefined, admin)).statusCode, 200);
    } finally {
      await app.close();
      await store.close();
    }
  });
});

describe('bad input on the gapless routes', () => {
  it('never answers a 5xx to odd ids, names, reasons, bodies and queries, and settles nothing it refuses', async () => {
    const running = await testApp();
    const { app } = running;
    try {
      await gapless(app, 'invoices');
      const held = await reserve(app, 'invoices');
      const odd = fc.oneof(
        fc.string({ maxLength: 80 }),
        fc.string({ unit: 'binary', maxLength: 80 }),
        fc.stringMatching(/^[A-Za-z0-9_-]{20,70}$/),
        fc.constantFrom('..', '.', '%', '%2F', '%00', '%ZZ', '%C3%28', 'A'.repeat(2000), '\u{1F600}'.repeat(30)),
      );
      const bodies = fc.oneof(
        fc.constant(undefined),
        fc.json().map((text) => ({ text, type: 'application/json' })),
        fc.string({ maxLength: 200 }).map((text) => ({ text, type: 'application/json' })),
        fc.record({ reason: fc.oneof(fc.string({ maxLength: 600 }), fc.integer(), fc.constant(null)) }).map((value) => ({ text: JSON.stringify(value), type: 'application/json' })),
        fc.constantFrom(
          { text: JSON.stringify({ reason: 'x'.repeat(60_000) }), type: 'application/json' },
          { text: 'x'.repeat(70_000), type: 'application/json' },
          { text: 'reason=x', type: 'application/x-www-form-urlencoded' },
          { text: '{"reason": "x"}', type: 'text/plain' },
          { text: '{"reason": "x"}', type: 'application/json; charset=latin1' },
          { text: '{"reason": "x"}', type: 'not a type' },
        ),
      );
      await fc.assert(
        fc.asyncProperty(odd, odd, fc.constantFrom<Action>('confirm', 'release', 'void'), bodies, async (name, id, action, sent) => {
          const path = (text: string): string => (/%/.test(text) ? text : encodeURIComponent(text));
          const response = await app.inject({
            method: 'POST',
            url: `/sequences/${path(name)}/reservations/${path(id)}/${action}`,
            ...(sent === undefined ? {} : { payload: sent.text, headers: { 'content-type': sent.type } }),
          });
          assert.ok(response.statusCode >= 400 && response.statusCode < 500, `${response.statusCode} ${response.body}`);
          assert.ok(typeof response.json<{ error: { code: string } }>().error.code === 'string', response.body);
          const listed = await app.inject({ method: 'GET', url: `/sequences/${path(name)}/values?state=${path(id)}&cursor=${path(id)}&limit=${path(id)}` });
          assert.ok(listed.statusCode < 500, `${listed.statusCode} ${listed.body}`);
        }),
        { numRuns: 300 },
      );
      assert.deepEqual(await summary(app, 'invoices'), { confirmed_through: null, reserved: 1n, free: 0n }, 'the reservation is untouched');
      assert.equal((await settle(app, 'invoices', held.id, 'confirm')).statusCode, 200);
    } finally {
      await running.close();
    }
  });
});
