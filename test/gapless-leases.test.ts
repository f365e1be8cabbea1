/**
 * Gapless leases and what depends on the store (its clock, its SQL), on both
 * stores through the HTTP app: a reservation past its lease is refused with
 * 409 reservation_expired, its value is free at once (GET and the values
 * listing count it, the next /next hands it out, lowest first), its id keeps
 * answering expired, and a settled reservation answers the same after its
 * lease. Leases of 1 s with waits of 1.5 s past expires_at: never a timing
 * assertion.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { SequenceStore } from '../src/core/store.js';
import { startPostgres } from './helpers/postgres.js';
import { tempDir } from './helpers/temp.js';
import { assertError, body, gapless, pastLease, reserve, settle, summary, values, type Json } from './helpers/gapless.js';

const postgres = await startPostgres();

const backends: { name: string; open: () => Promise<SequenceStore> }[] = [
  { name: 'SQLite', open: () => Promise.resolve(SqliteStore.open(join(tempDir(), 'leases.db'), { mode: 'write' })) },
  { name: 'PostgreSQL', open: async () => PostgresStore.open({ url: await postgres.newDatabase(), poolSize: 4, statementTimeoutMs: 5000 }) },
];

async function withApp(open: () => Promise<SequenceStore>, run: (app: FastifyInstance) => Promise<void>): Promise<void> {
  const store = await open();
  const app = await buildApp({ store });
  await app.ready();
  try {
    await run(app);
  } finally {
    await app.close();
    await store.close();
  }
}

const listed = async (app: FastifyInstance, name: string, query = ''): Promise<[unknown, unknown][]> =>
  (body(await values(app, name, query)).values as Json[]).map((e) => [e.value, e.state]);

for (const { name: backend, open } of backends) {
  describe(`gapless leases on ${backend}`, () => {
    it('refuses every action after the lease, frees the value at once and hands it out again lowest first; the old id stays expired', async () => {
      await withApp(open, async (app) => {
        await gapless(app, 'invoices', { lease_seconds: 1 });
        const lapsed = await reserve(app, 'invoices');
        const second = await reserve(app, 'invoices');
        assert.deepEqual([lapsed.value, second.value], [1n, 2n]);
        await pastLease(second.expiresAt);

        // No sweep: GET and the listing count both as free from expires_at on.
        assert.deepEqual(await summary(app, 'invoices'), { confirmed_through: null, reserved: 0n, free: 2n });
        assert.deepEqual(await listed(app, 'invoices'), [[1n, 'free'], [2n, 'free']]);
        assert.deepEqual(await listed(app, 'invoices', '?state=reserved'), []);
        for (const action of ['confirm', 'release', 'void'] as const) {
          assertError(await settle(app, 'invoices', lapsed.id, action), 409, 'reservation_expired');
        }

        const again = await reserve(app, 'invoices');
        assert.equal(again.value, 1n, 'the lowest free value first');
        assert.notEqual(again.id, lapsed.id);
        assert.deepEqual(await listed(app, 'invoices'), [[1n, 'reserved'], [2n, 'free']]);
        // The old id keeps its answer, though its value is held by another reservation now.
        assertError(await settle(app, 'invoices', lapsed.id, 'confirm'), 409, 'reservation_expired');
        assert.equal((await settle(app, 'invoices', again.id, 'confirm')).statusCode, 200);
        assertError(await settle(app, 'invoices', lapsed.id, 'release'), 409, 'reservation_expired');
        assert.equal((await reserve(app, 'invoices')).value, 2n);
        assert.equal((await reserve(app, 'invoices')).value, 3n, 'a new value only when none is free');
        assert.deepEqual(await summary(app, 'invoices'), { confirmed_through: 1n, reserved: 2n, free: 0n });

        const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
        assert.match(text, /^takeanumber_reservations_total\{outcome="expired"\} 2$/m, 'both lapsed values were handed out again');
        assert.match(text, /^takeanumber_reservations_total\{outcome="confirmed"\} 1$/m);
      });
    });

    it('answers a settled reservation the same after its lease would have ended, and a replayed /next the same reservation', async () => {
      await withApp(open, async (app) => {
        await gapless(app, 'receipts', { lease_seconds: 1 });
        const key = { 'idempotency-key': 'receipt-1' };
        const confirmed = await reserve(app, 'receipts', key);
        const released = await reserve(app, 'receipts');
        const voided = await reserve(app, 'receipts');
        const answers = [
          (await settle(app, 'receipts', confirmed.id, 'confirm')).body,
          (await settle(app, 'receipts', released.id, 'release')).body,
          (await settle(app, 'receipts', voided.id, 'void', { reason: 'duplicate' })).body,
        ];
        await pastLease(voided.expiresAt);
        assert.deepEqual(
          [
            (await settle(app, 'receipts', confirmed.id, 'confirm')).body,
            (await settle(app, 'receipts', released.id, 'release')).body,
            (await settle(app, 'receipts', voided.id, 'void')).body,
          ],
          answers,
        );
        assertError(await settle(app, 'receipts', confirmed.id, 'void'), 409, 'reservation_settled');
        const replay = await reserve(app, 'receipts', key);
        assert.deepEqual(replay, confirmed, 'the recorded reservation, long expired and settled');
        assert.deepEqual(await listed(app, 'receipts'), [[2n, 'free'], [3n, 'void']]);
        assert.deepEqual(await summary(app, 'receipts'), { confirmed_through: 1n, reserved: 0n, free: 1n });
      });
    });

    it('keeps an unexpired reservation to its holder: no other /next gets its value', async () => {
      await withApp(open, async (app) => {
        await gapless(app, 'orders', { lease_seconds: 300 });
        const held = await Promise.all(Array.from({ length: 20 }, () => reserve(app, 'orders')));
        const taken = held.map((r) => r.value).sort((a, b) => (a < b ? -1 : 1));
        assert.deepEqual(taken, Array.from({ length: 20 }, (_, i) => BigInt(i + 1)), 'twenty distinct values, one each');
        assert.equal(new Set(held.map((r) => r.id)).size, 20);
        // Release every other one, concurrently; the next twenty take those ten first.
        await Promise.all(held.filter((r) => r.value % 2n === 0n).map((r) => settle(app, 'orders', r.id, 'release')));
        const next = await Promise.all(Array.from({ length: 10 }, () => reserve(app, 'orders')));
        assert.deepEqual(
          next.map((r) => r.value).sort((a, b) => (a < b ? -1 : 1)),
          Array.from({ length: 10 }, (_, i) => BigInt(2 * (i + 1))),
        );
        assert.deepEqual(await summary(app, 'orders'), { confirmed_through: null, reserved: 20n, free: 0n });
      });
    });
  });
}
