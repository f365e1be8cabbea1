/**
 * The ways a sequence could hand out a number twice through the admin API
 * (issue 11, items 1, 2, 7 and 12), on both stores through the HTTP app:
 * a direction change after a forward reset, an import of the opposite
 * direction, a delete with traffic still calling the name, and idempotency
 * keys shared between sequences.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../src/app.js';
import { fullEntries, ImportConflictError } from '../src/core/import-rules.js';
import { parseJsonLossless } from '../src/json.js';
import { resolveOptions } from '../src/core/sequence.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { SequenceStore } from '../src/core/store.js';
import { startPostgres } from './helpers/postgres.js';
import { tempDir } from './helpers/temp.js';

type Json = Record<string, unknown>;

interface Harness {
  readonly app: FastifyInstance;
  readonly store: SequenceStore;
  close(): Promise<void>;
}

const postgres = await startPostgres();

const backends: { name: string; open: () => Promise<SequenceStore> }[] = [
  { name: 'SQLite', open: () => Promise.resolve(SqliteStore.open(join(tempDir(), 'guards.db'), { mode: 'write' })) },
  {
    name: 'PostgreSQL',
    open: async () => PostgresStore.open({ url: await postgres.newDatabase(), poolSize: 4, statementTimeoutMs: 5000 }),
  },
];

async function harness(open: () => Promise<SequenceStore>): Promise<Harness> {
  const store = await open();
  const app = await buildApp({ store });
  await app.ready();
  return {
    app,
    store,
    async close() {
      await app.close();
      await store.close();
    },
  };
}

const json = (response: LightMyRequestResponse): Json => parseJsonLossless(response.body) as Json;

function send(app: FastifyInstance, method: 'PUT' | 'POST' | 'DELETE' | 'GET', url: string, payload?: Json, headers?: Record<string, string>) {
  return app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }) });
}

async function take(app: FastifyInstance, name: string, key?: string): Promise<bigint> {
  const response = await send(app, 'POST', `/next/${name}`, undefined, key === undefined ? undefined : { 'idempotency-key': key });
  assert.equal(response.statusCode, 200, response.body);
  return json(response).next_value as bigint;
}

function assertCode(response: LightMyRequestResponse, status: number, code: string): void {
  assert.equal(response.statusCode, status, response.body);
  assert.equal((json(response).error as Json).code, code);
}

for (const backend of backends) {
  describe(`never a number twice through the admin API: ${backend.name}`, () => {
    it('keeps the direction after a forward reset (high-water marks), until a forced reset back', async () => {
      const h = await harness(backend.open);
      const handed = [await take(h.app, 'flip'), await take(h.app, 'flip'), await take(h.app, 'flip')];
      assert.deepEqual(handed, [1n, 2n, 3n]);
      assert.equal((await send(h.app, 'POST', '/sequences/flip/reset', { next_value: 1000 })).statusCode, 200);
      // Counting down from 1000 would pass 3, 2 and 1 again.
      const flipped = await send(h.app, 'PUT', '/sequences/flip', { increment: -1, min_value: -1000 });
      assertCode(flipped, 409, 'options_conflict');
      assert.match((json(flipped).error as Json).message as string, /handed out values \(1 to 3\)/);
      // A reset back into the marks needs force even though the position was moved forward since.
      assert.equal((await send(h.app, 'POST', '/sequences/flip/reset', { next_value: 2000 })).statusCode, 200);
      assertCode(await send(h.app, 'POST', '/sequences/flip/reset', { next_value: 1500 }), 409, 'would_reissue');
      assert.equal(await take(h.app, 'flip'), 2000n);
      // With force the operator says the values may come again: the marks are forgotten, and a direction change is allowed.
      assert.equal((await send(h.app, 'POST', '/sequences/flip/reset', { next_value: 1, force: true })).statusCode, 200);
      const after = await send(h.app, 'PUT', '/sequences/flip', { increment: -1, min_value: -1000 });
      assert.equal(after.statusCode, 200, after.body);
      assert.equal(await take(h.app, 'flip'), 1n);
      assert.equal(await take(h.app, 'flip'), 0n);
      await h.close();
    });

    it('refuses an import entry of the opposite direction over a sequence that handed out values, changing nothing', async () => {
      const h = await harness(backend.open);
      for (let i = 0; i < 5; i += 1) await take(h.app, 'held');
      const down = resolveOptions({ increment: -1n, minValue: -100n, maxValue: 100n });
      // "Further along" by its own direction (it counts down from 3), it would hand out 3, 2, 1 again.
      await assert.rejects(
        h.store.importSequences(fullEntries([{ name: 'held', options: down, position: { lastValue: 3n, isCalled: false }, issued: undefined }])),
        ImportConflictError,
      );
      assert.equal(await take(h.app, 'held'), 6n);
      const shown = json(await send(h.app, 'GET', '/sequences/held'));
      assert.equal(shown.increment, 1n);
      await h.close();
    });

    it('continues after a deleted name while traffic keeps calling it: no number is handed out twice', async () => {
      const h = await harness(backend.open);
      const values: bigint[] = [];
      const callers = Array.from({ length: 8 }, async () => {
        for (let i = 0; i < 25; i += 1) {
          const response = await send(h.app, 'POST', '/next/busy');
          assert.equal(response.statusCode, 200, response.body);
          values.push(json(response).next_value as bigint);
        }
      });
      const deletes = (async () => {
        for (let i = 0; i < 5; i += 1) {
          await new Promise((resolve) => setTimeout(resolve, 5));
          const response = await send(h.app, 'DELETE', '/sequences/busy');
          // The name may be between a delete and its next use: then there is nothing to delete.
          if (response.statusCode !== 204) assertCode(response, 404, 'sequence_not_found');
        }
      })();
      await Promise.all([...callers, deletes]);
      assert.equal(values.length, 200);
      assert.equal(new Set(values).size, values.length, 'a number was handed out twice across deletes');
      // PUT after a delete re-creates it (201), after every value.
      assert.equal((await send(h.app, 'DELETE', '/sequences/busy')).statusCode, 204);
      const recreated = await send(h.app, 'PUT', '/sequences/busy', {});
      assert.equal(recreated.statusCode, 201, recreated.body);
      const highest = values.reduce((m, v) => (v > m ? v : m), 0n);
      assert.equal(json(recreated).next_value, highest + 1n);
      await h.close();
    });

    it('keeps idempotency keys per sequence: another sequence neither sees nor blocks a key', async () => {
      const h = await harness(backend.open);
      assert.equal(await take(h.app, 'tenant-a-orders', 'order-1'), 1n);
      await take(h.app, 'tenant-b-orders');
      // The same (predictable) key on another tenant's sequence: an independent request, not 422.
      assert.equal(await take(h.app, 'tenant-b-orders', 'order-1'), 2n);
      assert.equal(await take(h.app, 'tenant-a-orders', 'order-1'), 1n, 'replayed');
      assert.equal(await take(h.app, 'tenant-b-orders', 'order-1'), 2n, 'replayed');
      // In one batch (one commit) as well.
      const [x, y] = await Promise.all([
        send(h.app, 'POST', '/next/tenant-c', undefined, { 'idempotency-key': 'same' }),
        send(h.app, 'POST', '/next/tenant-d', undefined, { 'idempotency-key': 'same' }),
      ]);
      assert.deepEqual([x.statusCode, y.statusCode], [200, 200]);
      assert.deepEqual([json(x).next_value, json(y).next_value], [1n, 1n]);
      await h.close();
    });
  });
}
