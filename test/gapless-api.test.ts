/**
 * Gapless sequences over HTTP (issue 13, "API"): the options, /next's
 * reservation, confirm/release/void and their refusals, the values listing,
 * reset and delete, metrics. On SQLite through app.inject(); the behaviour
 * that depends on the store (leases, listing) runs on both stores in
 * test/gapless-leases.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testApp } from './helpers/app.js';
import { assertError, body, gapless, put, reserve, settle, summary, values, view, type Json } from './helpers/gapless.js';

const RESERVATION_ID = /^[A-Za-z0-9_-]{22,64}$/;
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('gapless options', () => {
  it('creates a gapless sequence and shows gapless, lease_seconds and its summary; others show the two options only', async () => {
    const running = await testApp();
    const { app } = running;
    try {
      const created = await gapless(app, 'invoices', { lease_seconds: 60 });
      assert.equal(created.gapless, true);
      assert.equal(created.lease_seconds, 60n);
      assert.equal(created.confirmed_through, null);
      assert.equal(created.reserved, 0n);
      assert.equal(created.free, 0n);
      const keys = Object.keys(created);
      // The fields every sequence has, then the gapless summary.
      assert.deepEqual(keys.slice(keys.indexOf('cache')), ['cache', 'gapless', 'lease_seconds', 'restart', 'time_zone', 'format', 'period', 'created_at', 'updated_at', 'confirmed_through', 'reserved', 'free']);

      const plain = body(await put(app, 'orders', {}));
      assert.equal(plain.gapless, false);
      assert.equal(plain.lease_seconds, 300n, 'the default lease');
      for (const key of ['confirmed_through', 'reserved', 'free']) assert.ok(!(key in plain), `${key} only on gapless sequences`);

      const list = body(await app.inject({ method: 'GET', url: '/sequences' })).sequences as Json[];
      assert.deepEqual(
        list.map((s) => [s.name, s.gapless, s.lease_seconds, s.reserved]),
        [
          ['invoices', true, 60n, 0n],
          ['orders', false, 300n, undefined],
        ],
      );
    } finally {
      await running.close();
    }
  });

  it('refuses a lease out of 1..86400 or not a whole number, and gapless with cache or cycle, naming the field', async () => {
    const running = await testApp();
    const { app } = running;
    try {
      for (const lease of [0, -1, 86_401, 1.5, '1.5', 'abc', true, null, '99999999999999999999999', 1e300]) {
        assertError(await put(app, 'bad', { gapless: true, lease_seconds: lease }), 400, 'invalid_options', 'lease_seconds');
      }
      assertError(await put(app, 'bad', { gapless: true, cache: 5 }), 400, 'invalid_options', 'gapless');
      assertError(await put(app, 'bad', { gapless: true, cycle: true }), 400, 'invalid_options', 'gapless');
      assertError(await put(app, 'bad', { gapless: 'yes' }), 400, 'invalid_options', 'gapless');
      assert.equal((await app.inject({ method: 'GET', url: '/sequences/bad' })).statusCode, 404, 'nothing was created');
      // The edges are allowed, as a JSON integer or a string of digits.
      assert.equal(body(await put(app, 'edge', { gapless: true, lease_seconds: 1 })).lease_seconds, 1n);
      assert.equal(body(await put(app, 'edge', { lease_seconds: '86400' })).lease_seconds, 86_400n);
      // An existing gapless sequence keeps cache 1 and no cycle.
      assertError(await put(app, 'edge', { cache: 2 }), 400, 'invalid_options', 'gapless');
      assertError(await put(app, 'edge', { cycle: true }), 400, 'invalid_options', 'gapless');
    } finally {
      await running.close();
    }
  });

  it('turns gapless on after values were handed out (they count as confirmed) and refuses to turn it off while values are reserved or free', async () => {
    const running = await testApp();
    const { app } = running;
    try {
      for (let i = 0; i < 3; i += 1) await app.inject({ method: 'POST', url: '/next/books' });
      const on = await put(app, 'books', { gapless: true });
      assert.equal(on.statusCode, 200, on.body);
      assert.equal(body(on).confirmed_through, 3n, 'what came before counts as confirmed');
      const r4 = await reserve(app, 'books');
      assert.equal(r4.value, 4n);
      assert.deepEqual(await summary(app, 'books'), { confirmed_through: 3n, reserved: 1n, free: 0n });
      assertError(await put(app, 'books', { gapless: false }), 409, 'options_conflict');
      assert.equal((await settle(app, 'books', r4.id, 'release')).statusCode, 200);
      assertError(await put(app, 'books', { gapless: false }), 409, 'options_conflict');
      const again = await reserve(app, 'books');
      assert.equal(again.value, 4n, 'the released value comes back first');
      assert.equal((await settle(app, 'books', again.id, 'confirm')).statusCode, 200);
      const off = await put(app, 'books', { gapless: false });
      assert.equal(off.statusCode, 200, off.body);
      assert.equal(body(off).gapless, false);
      const plain = await app.inject({ method: 'POST', url: '/next/books' });
      assert.equal(plain.body, '{"sequence_id":"books","next_value":5}');
    } finally {
      await running.close();
    }
  });
});

describe('/next on a gapless sequence', () => {
  it('answers a reservation with its lease; GET too; non-gapless answers stay as they were, byte for byte', async () => {
    const running = await testApp();
    const { app } = running;
    try {
      await gapless(app, 'invoices', { lease_seconds: 300 });
      const before = Date.now();
      const response = await app.inject({ method: 'POST', url: '/next/invoices' });
      assert.equal(response.statusCode, 200);
      assert.match(response.body, /^\{"sequence_id":"invoices","next_value":1,"reservation":"[A-Za-z0-9_-]+","expires_at":"[^"]+"\}$/);
      const answer = body(response);
      assert.match(answer.reservation as string, RESERVATION_ID);
      assert.match(answer.expires_at as string, ISO_MS);
      const expires = Date.parse(answer.expires_at as string);
      assert.ok(expires >= before + 300_000 && expires <= Date.now() + 300_000, `${answer.expires_at as string} is the lease from now`);
      const viaGet = body(await app.inject({ method: 'GET', url: '/next/invoices' }));
      assert.equal(viaGet.next_value, 2n);
      assert.notEqual(viaGet.reservation, answer.reservation);

      assert.equal((await app.inject({ method: 'POST', url: '/next/orders' })).body, '{"sequence_id":"orders","next_value":1}');
      assert.equal((await app.inject({ method: 'POST', url: '/next/orders?count=3' })).body, '{"sequence_id":"orders","next_value":2,"last_value":4,"count":3}');
    } finally {
      await running.close();
    }
  });

  it('refuses ?count above 1 with invalid_count, taking nothing; ?count=1 answers the batch shape with the reservation', async () => {
    const running = await testApp();
    const { app } = running;
    try {
      await gapless(app, 'invoices');
      assertError(await app.inject({ method: 'POST', url: '/next/invoices?count=2' }), 400, 'invalid_count');
      assertError(await app.inject({ method: 'GET', url: '/next/invoices?count=100' }), 400, 'invalid_count');
      const one = body(await app.inject({ method: 'POST', url: '/next/invoices?count=1' }));
      assert.deepEqual(Object.keys(one), ['sequence_id', 'next_value', 'last_value', 'count', 'reservation', 'expires_at']);
      assert.equal(one.next_value, 1n, 'the refused requests took nothing');
      assert.equal(one.last_value, 1n);
    } finally {
      await running.close();
    }
  });

  it('replays the same reservation to an Idempotency-Key retry, also after it was settled', async () => {
    const running = await testApp();
    const { app } = running;
    try {
      await gapless(app, 'invoices');
      const headers = { 'idempotency-key': 'invoice-7' };
      const first = await app.inject({ method: 'POST', url: '/next/invoices', headers });
      const retry = await app.inject({ method: 'POST', url: '/next/invoices', headers });
      assert.equal(retry.body, first.body);
      assert.equal(retry.headers['idempotent-replayed'], 'true');
      const { reservation } = body(first);
      assert.equal((await settle(app, 'invoices', reservation as string, 'confirm')).statusCode, 200);
      const late = await app.inject({ method: 'GET', url: '/next/invoices', headers });
      assert.equal(late.body, first.body, 'the recorded answer, whatever became of the reservation');
      assert.deepEqual(await summary(app, 'invoices'), { confirmed_through: 1n, reserved: 0n, free: 0n });
    } finally {
      await running.close();
    }
  });
});

describe('confirm, release and void', () => {
  it('settles with the exact answers, repeats the same action with the same answer and refuses another with reservation_settled', async () => {
    const running = await testApp();
    const { app } = running;
    try {
      await gapless(app, 'invoices');
      const [a, b, c, d] = [await reserve(app, 'invoices'), await reserve(app, 'invoices'), await reserve(app, 'invoices'), await reserve(app, 'invoices')];
      const confirmed = await settle(app, 'invoices', a.id, 'confirm');
      assert.equal(confirmed.statusCode, 200);
      assert.equal(confirmed.body, '{"sequence_id":"invoices","value":1,"state":"confirmed"}');
      assert.equal((await settle(app, 'invoices', b.id, 'release')).body, '{"sequence_id":"invoices","value":2,"state":"free"}');
      assert.equal((await settle(app, 'invoices', c.id, 'void', { reason: 'customer cancelled' })).body, '{"sequence_id":"invoices","value":3,"state":"void","reason":"customer cancelled"}');
      assert.equal((await settle(app, 'invoices', d.id, 'void')).body, '{"sequence_id":"invoices","value":4,"state":"void","reason":null}');

      // The same action again: the same answer (a void keeps its first reason).
      assert.equal((await settle(app, 'invoices', a.id, 'confirm')).body, confirmed.body);
      assert.equal((await settle(app, 'invoices', b.id, 'release')).body, '{"sequence_id":"invoices","value":2,"state":"free"}');
      assert.equal((await settle(app, 'invoices', c.id, 'void', { reason: 'another reason' })).body, '{"sequence_id":"invoices","value":3,"state":"void","reason":"customer cancelled"}');
      assert.equal((await settle(app, 'invoices', d.id, 'void', { reason: null })).body, '{"sequence_id":"invoices","value":4,"state":"void","reason":null}');

      for (const [id, others] of [
        [a.id, ['release', 'void']],
        [b.id, ['confirm', 'void']],
        [c.id, ['confirm', 'release']],
      ] as const) {
        for (const action of others) assertError(await settle(app, 'invoices', id, action), 409, 'reservation_settled');
      }
      // Value 2 was released: handed out again before any new value; its old id stays released.
      const again = await reserve(app, 'invoices');
      assert.equal(again.value, 2n);
      assertError(await settle(app, 'invoices', b.id, 'confirm'), 409, 'reservation_settled');
      assert.deepEqual(await summary(app, 'invoices'), { confirmed_through: 1n, reserved: 1n, free: 0n });
      assert.equal((await settle(app, 'invoices', again.id, 'confirm')).statusCode, 200);
      assert.deepEqual(await summary(app, 'invoices'), { confirmed_through: 4n, reserved: 0n, free: 0n }, '1 and 2 confirmed, 3 and 4 void');
    } finally {
      await running.close();
    }
  });

  it('answers reservation_not_found for ids never issued, of another shape, of another sequence, or on unknown and non-gapless sequences', async () => {
    const running = await testApp();
    const { app } = running;
    try {
      await gapless(app, 'invoices');
      await gapless(app, 'receipts');
      await put(app, 'orders', {});
      const held = await reserve(app, 'receipts');
      const unknown = 'A'.repeat(22);
      for (const action of ['confirm', 'release', 'void'] as const) {
        assertError(await settle(app, 'invoices', unknown, action), 404, 'reservation_not_found');
        assertError(await settle(app, 'invoices', held.id, action), 404, 'reservation_not_found');
        assertError(await settle(app, 'missing', held.id, action), 404, 'reservation_not_found');
        assertError(await settle(app, 'orders', held.id, action), 404, 'reservation_not_found');
        for (const odd of ['short', 'A'.repeat(21), 'A'.repeat(65), `${'A'.repeat(21)}.`, encodeURIComponent(`${'A'.repeat(21)}é`), '%00'.repeat(22)]) {
          assertError(await settle(app, 'invoices', odd, action), 404, 'reservation_not_found');
        }
      }
      // The reservation still holds its value: nothing above touched it.
      assert.equal((await settle(app, 'receipts', held.id, 'confirm')).statusCode, 200);
      assertError(await settle(app, '', held.id, 'confirm'), 404, 'not_found');
      assertError(await settle(app, 'bad\u0001name', held.id, 'confirm'), 400, 'invalid_sequence_name');
    } finally {
      await running.close();
    }
  });

  it("checks a void's body: reason up to 500 characters, JSON only, no other field", async () => {
    const running = await testApp();
    const { app } = running;
    try {
      await gapless(app, 'invoices');
      const r = await reserve(app, 'invoices');
      assertError(await settle(app, 'invoices', r.id, 'void', { reason: 'x'.repeat(501) }), 400, 'invalid_options', 'reason');
      assertError(await settle(app, 'invoices', r.id, 'void', { reason: '😀'.repeat(501) }), 400, 'invalid_options', 'reason');
      assertError(await settle(app, 'invoices', r.id, 'void', { reason: 42 }), 400, 'invalid_options', 'reason');
      assertError(await settle(app, 'invoices', r.id, 'void', { reason: 'a\u0000b' }), 400, 'invalid_options', 'reason');
      assertError(await settle(app, 'invoices', r.id, 'void', '{"reason": "\\ud800"}'), 400, 'invalid_options', 'reason');
      assertError(await settle(app, 'invoices', r.id, 'void', { why: 'x' }), 400, 'invalid_options', 'why');
      assertError(await settle(app, 'invoices', r.id, 'void', '["x"]'), 400, 'invalid_body');
      assertError(await settle(app, 'invoices', r.id, 'void', '{"reason": '), 400, 'invalid_body');
      assertError(await settle(app, 'invoices', r.id, 'void', '{"reason": "a", "reason": "b"}'), 400, 'invalid_body');
      assertError(await settle(app, 'invoices', r.id, 'void', 'reason=x', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'unsupported_media_type');
      assertError(await settle(app, 'invoices', r.id, 'void', 'x', { 'content-type': 'text/plain' }), 415, 'unsupported_media_type');
      assert.deepEqual(await summary(app, 'invoices'), { confirmed_through: null, reserved: 1n, free: 0n }, 'nothing was settled');
      // 500 characters (1000 UTF-16 units) are fine; a +json type too.
      const reason = '😀'.repeat(500);
      const voided = await settle(app, 'invoices', r.id, 'void', { reason }, { 'content-type': 'application/merge-patch+json' });
      assert.equal(voided.statusCode, 200, voided.body);
      assert.equal(body(voided).reason, reason);
      // confirm and release take no body, and ignore one that is not JSON (as /next does).
      const other = await reserve(app, 'invoices');
      assert.equal((await settle(app, 'invoices', other.id, 'confirm', 'whatever', { 'content-type': 'text/plain' })).statusCode, 200);
    } finally {
      await running.close();
    }
  });
});

describe('GET /sequences/{name}/values', () => {
  it('lists reserved, free and void values ascending, a page at a time, never with reservation ids', async () => {
    const running = await testApp();
    const { app } = running;
    try {
      await gapless(app, 'invoices');
      const r1 = await reserve(app, 'invoices');
      const r2 = await reserve(app, 'invoices');
      const r3 = await reserve(app, 'invoices');
      const r4 = await reserve(app, 'invoices');
      const r5 = await reserve(app, 'invoices');
      const r6 = await reserve(app, 'invoices');
      const r = [r1, r2, r3, r4, r5, r6];
      await settle(app, 'invoices', r1.id, 'confirm');
      await settle(app, 'invoices', r2.id, 'void', { reason: 'printer jam' });
      await settle(app, 'invoices', r3.id, 'release');
      await settle(app, 'invoices', r5.id, 'void');
      const all = await values(app, 'invoices');
      assert.equal(all.statusCode, 200, all.body);
      for (const { id } of r) assert.ok(!all.body.includes(id), 'no reservation id is shown');
      const listed = body(all);
      assert.equal(listed.next_cursor, null);
      const entries = listed.values as Json[];
      assert.deepEqual(entries.map((e) => [e.value, e.state]), [[2n, 'void'], [3n, 'free'], [4n, 'reserved'], [5n, 'void'], [6n, 'reserved']]);
      assert.deepEqual(Object.keys(entries[0] as Json), ['value', 'state', 'updated_at', 'reason']);
      assert.equal((entries[0] as Json).reason, 'printer jam');
      assert.deepEqual(Object.keys(entries[1] as Json), ['value', 'state', 'updated_at']);
      assert.deepEqual(Object.keys(entries[2] as Json), ['value', 'state', 'updated_at', 'expires_at']);
      assert.equal((entries[2] as Json).expires_at, r4.expiresAt);
      assert.equal((entries[3] as Json).reason, null);
      assert.match((entries[1] as Json).updated_at as string, ISO_MS);
      assert.equal((entries[4] as Json).expires_at, r6.expiresAt);

      const states = async (query: string): Promise<unknown[]> => (body(await values(app, 'invoices', query)).values as Json[]).map((e) => e.value);
      assert.deepEqual(await states('?state=void'), [2n, 5n]);
      assert.deepEqual(await states('?state=free'), [3n]);
      assert.deepEqual(await states('?state=reserved'), [4n, 6n]);

      const seen: unknown[] = [];
      let cursor: unknown = '';
      let pages = 0;
      do {
        const page = body(await values(app, 'invoices', `?limit=2${cursor === '' ? '' : `&cursor=${cursor as string}`}`));
        seen.push(...(page.values as Json[]).map((e) => e.value));
        cursor = page.next_cursor;
        pages += 1;
      } while (cursor !== null);
      assert.deepEqual(seen, [2n, 3n, 4n, 5n, 6n]);
      assert.equal(pages, 3);
      const voids = body(await values(app, 'invoices', '?state=void&limit=1'));
      assert.deepEqual((body(await values(app, 'invoices', `?state=void&limit=1&cursor=${voids.next_cursor as string}`)).values as Json[]).map((e) => e.value), [5n]);
    } finally {
      await running.close();
    }
  });

  it('refuses bad queries, answers 404 for unknown sequences and an empty list for non-gapless ones', async () => {
    const running = await testApp();
    const { app } = running;
    try {
      await gapless(app, 'invoices');
      await put(app, 'orders', {});
      for (const query of ['?state=confirmed', '?state=', '?state=free&state=void', '?limit=0', '?limit=1001', '?limit=x']) {
        assertError(await values(app, 'invoices', query), 400, 'bad_request');
      }
      const cursor = (text: string): string => Buffer.from(text).toString('base64url');
      for (const bad of ['!!', cursor('abc'), cursor('01'), cursor('-0'), cursor('99999999999999999999'), cursor('1.5'), `${cursor('5')}=`]) {
        assertError(await values(app, 'invoices', `?cursor=${encodeURIComponent(bad)}`), 400, 'invalid_cursor');
      }
      assert.equal((await values(app, 'invoices', `?cursor=${cursor('-5')}`)).statusCode, 200);
      assertError(await values(app, 'missing'), 404, 'sequence_not_found');
      assert.equal((await values(app, 'orders')).body, '{"values":[],"next_cursor":null}');
    } finally {
      await running.close();
    }
  });
});

describe('reset and delete of a gapless sequence', () => {
  it('needs force to reset; a forced reset and a delete forget every reservation and value', async () => {
    const running = await testApp();
    const { app } = running;
    try {
      await gapless(app, 'invoices');
      const a = await reserve(app, 'invoices');
      const b = await reserve(app, 'invoices');
      await settle(app, 'invoices', b.id, 'void', { reason: 'x' });
      const reset = (payload: Json) =>
        app.inject({ method: 'POST', url: '/sequences/invoices/reset', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(payload) });
      assertError(await reset({ next_value: 100 }), 409, 'options_conflict');
      assertError(await reset({ next_value: 1 }), 409, 'options_conflict');
      const forced = await reset({ next_value: 100, force: true });
      assert.equal(forced.statusCode, 200, forced.body);
      assert.deepEqual(await summary(app, 'invoices'), { confirmed_through: null, reserved: 0n, free: 0n });
      assert.equal((await values(app, 'invoices')).body, '{"values":[],"next_cursor":null}');
      assertError(await settle(app, 'invoices', a.id, 'confirm'), 404, 'reservation_not_found');
      assertError(await settle(app, 'invoices', b.id, 'void'), 404, 'reservation_not_found');
      const c = await reserve(app, 'invoices');
      assert.equal(c.value, 100n);

      assert.equal((await app.inject({ method: 'DELETE', url: '/sequences/invoices' })).statusCode, 204);
      assertError(await settle(app, 'invoices', c.id, 'confirm'), 404, 'reservation_not_found');
      assertError(await values(app, 'invoices'), 404, 'sequence_not_found');
      await gapless(app, 'invoices');
      assertError(await settle(app, 'invoices', c.id, 'confirm'), 404, 'reservation_not_found');
      const d = await reserve(app, 'invoices');
      assert.equal(d.value, 101n, 'the name continues after every value it handed out');
      assert.deepEqual(await summary(app, 'invoices'), { confirmed_through: null, reserved: 1n, free: 0n });
      assert.equal((await view(app, 'invoices')).gapless, true);
    } finally {
      await running.close();
    }
  });
});

describe('reservation metrics', () => {
  it('counts reservations by outcome, a repeated action once', async () => {
    const running = await testApp();
    const { app } = running;
    try {
      await gapless(app, 'invoices');
      for (const action of ['confirm', 'release', 'void', 'confirm'] as const) {
        const { id } = await reserve(app, 'invoices');
        assert.equal((await settle(app, 'invoices', id, action)).statusCode, 200);
        assert.equal((await settle(app, 'invoices', id, action)).statusCode, 200);
      }
      const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      const count = (outcome: string): string | undefined => new RegExp(`^takeanumber_reservations_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(text)?.[1];
      assert.deepEqual(['confirmed', 'released', 'voided', 'expired'].map(count), ['2', '1', '1', '0']);
    } finally {
      await running.close();
    }
  });
});
