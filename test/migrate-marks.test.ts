/**
 * The upgrade to high-water marks, tombstones and per-sequence idempotency
 * keys (SQLite schema 4, PostgreSQL schema 3), on stores written by the
 * version before: every sequence gets the marks its position proves
 * (impliedIssued, written once more in each migration's SQL), every key
 * still replays, and keys no longer collide across sequences.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { impliedIssued, resolveOptions, type SequenceOptions, type SequencePosition } from '../src/core/sequence.js';
import { POSTGRES_MIGRATIONS } from '../src/store/postgres/migrations.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { APPLICATION_ID, MIGRATIONS } from '../src/store/sqlite/migrations.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { SequenceStore } from '../src/core/store.js';
import { startPostgres } from './helpers/postgres.js';
import { tempDir } from './helpers/temp.js';

interface OldRow {
  readonly name: string;
  readonly options: SequenceOptions;
  readonly position: SequencePosition;
}

const ROWS: OldRow[] = [
  { name: 'used', options: resolveOptions({}), position: { lastValue: 41n, isCalled: true } },
  { name: 'never', options: resolveOptions({}), position: { lastValue: 1n, isCalled: false } },
  { name: 'reset-forward', options: resolveOptions({}), position: { lastValue: 1000n, isCalled: false } },
  { name: 'below-start', options: resolveOptions({ start: 50n }), position: { lastValue: 10n, isCalled: true } },
  { name: 'down-used', options: resolveOptions({ increment: -5n }), position: { lastValue: -11n, isCalled: true } },
  { name: 'down-reset', options: resolveOptions({ increment: -1n }), position: { lastValue: -100n, isCalled: false } },
  { name: 'down-never', options: resolveOptions({ increment: -1n, start: -10n }), position: { lastValue: -10n, isCalled: false } },
  { name: 'edge', options: resolveOptions({ minValue: -9223372036854775808n }), position: { lastValue: -9223372036854775808n, isCalled: false } },
];

async function checkUpgraded(store: SequenceStore): Promise<void> {
  for (const row of ROWS) {
    const record = await store.getSequence(row.name);
    assert.ok(record !== undefined, row.name);
    assert.deepEqual(record.issued, impliedIssued(row.options, row.position), `${row.name}: the marks its position proves`);
    assert.deepEqual(record.position, row.position, `${row.name}: the counter did not move`);
  }
  // The key recorded before replays; the same key on another sequence is now its own request.
  assert.deepEqual(await store.allocateBatch([{ name: 'used', count: 1n, create: false, idempotency: { key: 'k1', requestCount: undefined } }]), [
    { ok: true, first: 41n, last: 41n, replayed: true, grant: undefined, tookExpired: false, labels: undefined },
  ]);
  assert.deepEqual(await store.allocateBatch([{ name: 'never', count: 1n, create: false, idempotency: { key: 'k1', requestCount: undefined } }]), [
    { ok: true, first: 1n, last: 1n, replayed: false, grant: undefined, tookExpired: false, labels: undefined },
  ]);
  // The direction of a sequence that was reset forward before the upgrade is protected too.
  assert.deepEqual((await store.getSequence('reset-forward'))?.issued, { low: 1n, high: 999n });
}

describe('upgrading to high-water marks and per-sequence keys', () => {
  it('SQLite: a schema 3 store', async () => {
    const path = join(tempDir(), 'v3.db');
    const db = new Database(path);
    for (const migration of MIGRATIONS.filter((m) => m.version <= 3)) db.exec(migration.sql);
    db.pragma('user_version = 3');
    db.pragma(`application_id = ${APPLICATION_ID}`);
    const insert = db.prepare(
      `INSERT INTO sequences (name, last_value, is_called, start_value, increment, min_value, max_value, cycle, cache, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 0, 1, 0, 0)`,
    );
    for (const { name, options, position } of ROWS) {
      insert.run(name, position.lastValue, position.isCalled ? 1 : 0, options.start, options.increment, options.minValue, options.maxValue);
    }
    db.prepare("INSERT INTO idempotency_keys (key, name, request_count, first_value, last_value, created_at) VALUES ('k1', 'used', NULL, 41, 41, ?)").run(Date.now());
    db.close();

    const store = SqliteStore.open(path, { mode: 'write' });
    await checkUpgraded(store);
    await store.close();
  });

  it('PostgreSQL: a schema 2 database', async () => {
    const server = await startPostgres();
    const url = await server.newDatabase();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query('CREATE TABLE takeanumber_schema_migrations (version int PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
      for (const migration of POSTGRES_MIGRATIONS.filter((m) => m.version <= 2)) {
        await client.query(migration.sql);
        await client.query('INSERT INTO takeanumber_schema_migrations (version, description) VALUES ($1, $2)', [migration.version, migration.description]);
      }
      for (const { name, options, position } of ROWS) {
        await client.query(
          `INSERT INTO takeanumber_sequences (name, last_value, is_called, start_value, increment, min_value, max_value, cycle, cache)
           VALUES ($1, $2, $3, $4, $5, $6, $7, false, 1)`,
          [name, position.lastValue, position.isCalled, options.start, options.increment, options.minValue, options.maxValue].map((v) =>
            typeof v === 'bigint' ? v.toString() : v,
          ),
        );
      }
      await client.query("INSERT INTO takeanumber_idempotency_keys (key, name, request_count, first_value, last_value) VALUES ('k1', 'used', NULL, 41, 41)");
    } finally {
      await client.end();
    }
    const store = await PostgresStore.open({ url, poolSize: 2, statementTimeoutMs: 5000 });
    await checkUpgraded(store);
    await store.close();
  });
});
