import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { APPLICATION_ID, LATEST_SCHEMA_VERSION, MIGRATIONS } from '../src/store/sqlite/migrations.js';
import { promisedTables } from '../src/store/sqlite/open.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { tempDir } from './helpers/temp.js';

/** Writes a store as the first release left it: schema version 1, last issued value per name (0 = none). */
function writeVersion1Store(path: string, rows: [string, bigint][]): void {
  const db = new Database(path);
  const v1 = MIGRATIONS.find((migration) => migration.version === 1);
  assert.ok(v1);
  db.exec(v1.sql);
  db.pragma('user_version = 1');
  db.pragma(`application_id = ${APPLICATION_ID}`);
  const insert = db.prepare('INSERT INTO sequences (name, last_value, created_at, updated_at) VALUES (?, ?, 0, 0)');
  for (const [name, value] of rows) insert.run(name, value);
  db.close();
}

describe('schema migrations', () => {
  it('upgrades a version 1 store in place, keeping every counter where it was', async () => {
    const path = join(tempDir(), 'v1.db');
    writeVersion1Store(path, [
      ['used', 41n],
      ['never', 0n],
      ['huge', 9223372036854775806n],
    ]);
    const store = SqliteStore.open(path, { mode: 'write' });
    const outcomes = await store.allocateBatch(
      ['used', 'never', 'huge', 'huge'].map((name) => ({ name, count: 1n, create: false })),
    );
    assert.deepEqual(outcomes, [
      { ok: true, first: 42n, last: 42n, replayed: false, grant: undefined, tookExpired: false, labels: undefined },
      { ok: true, first: 1n, last: 1n, replayed: false, grant: undefined, tookExpired: false, labels: undefined },
      { ok: true, first: 9223372036854775807n, last: 9223372036854775807n, replayed: false, grant: undefined, tookExpired: false, labels: undefined },
      { ok: false, reason: 'exhausted' },
    ]);
    const used = await store.getSequence('used');
    assert.deepEqual(used?.options, {
      start: 1n,
      increment: 1n,
      minValue: 1n,
      maxValue: 9223372036854775807n,
      cycle: false,
      cache: 1n,
      gapless: false,
      leaseSeconds: 300,
      restart: 'never',
      timeZone: 'UTC',
      format: null,
    });
    await store.close();
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), LATEST_SCHEMA_VERSION);
    db.close();
  });

  it('upgrades a version 6 store: gapless values and reservations keep their state, under no period, with the partial index rebuilt', async () => {
    const path = join(tempDir(), 'v6.db');
    const db = new Database(path);
    for (const migration of MIGRATIONS.filter(({ version }) => version <= 6)) db.exec(migration.sql);
    db.pragma('user_version = 6');
    db.pragma(`application_id = ${APPLICATION_ID}`);
    db.exec(`
      INSERT INTO sequences (name, last_value, is_called, gapless, lease_seconds, issued_low, issued_high, series_first, created_at, updated_at)
        VALUES ('g', 3, 1, 1, 300, 1, 3, 1, 0, 0);
      INSERT INTO gapless_values (name, value, state, reservation, expires_at, reason, updated_at) VALUES
        ('g', 2, 'free', NULL, NULL, NULL, 0), ('g', 3, 'reserved', 'r3xxxxxxxxxxxxxxxxxxxx', 9999999999999, NULL, 0);
      INSERT INTO reservations (name, id, value, expires_at, state) VALUES ('g', 'r3xxxxxxxxxxxxxxxxxxxx', 3, 9999999999999, 'reserved');
    `);
    db.close();
    const store = SqliteStore.open(path, { mode: 'write' });
    const [again] = await store.allocateBatch([{ name: 'g', count: 1n, create: false }]);
    assert.deepEqual(again?.ok === true ? [again.first, again.labels] : again, [2n, undefined]);
    const [confirmed] = await store.settleBatch([{ name: 'g', id: 'r3xxxxxxxxxxxxxxxxxxxx', action: 'confirm', reason: undefined }]);
    assert.deepEqual(confirmed, { ok: true, answer: { value: 3n, state: 'confirmed', reason: undefined, labels: undefined }, replayed: false });
    const record = await store.getSequence('g');
    assert.deepEqual([record?.options.restart, record?.options.timeZone, record?.options.format, record?.period], ['never', 'UTC', null, undefined]);
    await store.close();
    const check = new Database(path, { readonly: true });
    // The partial index of the open values was rebuilt with the table, on the new key.
    const index = check.prepare("SELECT sql FROM sqlite_schema WHERE name = 'gapless_values_open'").pluck().get() as string | undefined;
    assert.match(index ?? '', /ON gapless_values \(name, period, value\) WHERE state IN \('reserved', 'free'\)/);
    check.close();
  });

  it('upgrades a version 7 store: an empty allocation log, and its sequences continue from the table', async () => {
    const path = join(tempDir(), 'v7.db');
    const db = new Database(path);
    for (const migration of MIGRATIONS.filter(({ version }) => version <= 7)) db.exec(migration.sql);
    db.pragma('user_version = 7');
    db.pragma(`application_id = ${APPLICATION_ID}`);
    db.exec("INSERT INTO sequences (name, last_value, is_called, issued_low, issued_high, created_at, updated_at) VALUES ('orders', 41, 1, 1, 41, 0, 0)");
    db.close();
    const store = SqliteStore.open(path, { mode: 'write' });
    const [next] = await store.allocateBatch([{ name: 'orders', count: 1n, create: false }]);
    assert.equal(next?.ok === true ? next.first : undefined, 42n);
    const check = new Database(path, { readonly: true });
    // The allocation goes to the log, not to the table, until the log is folded.
    assert.deepEqual(check.prepare('SELECT count(*), sum(length(entries) > 0) FROM allocation_log').raw(true).get(), [1, 1]);
    assert.equal(check.prepare("SELECT last_value FROM sequences WHERE name = 'orders'").pluck().get(), 41);
    check.close();
    await store.close();
    const folded = new Database(path, { readonly: true });
    assert.equal(folded.prepare("SELECT last_value FROM sequences WHERE name = 'orders'").pluck().get(), 42);
    assert.equal(folded.prepare('SELECT count(*) FROM allocation_log').pluck().get(), 0);
    folded.close();
  });

  it('numbers its migrations 1, 2, … without gaps', () => {
    assert.deepEqual(
      MIGRATIONS.map((migration) => migration.version),
      Array.from({ length: MIGRATIONS.length }, (_, i) => i + 1),
    );
  });

  it('knows the tables a store of each version has: exactly those of a new store at the latest', async () => {
    const path = join(tempDir(), 'tables.db');
    const store = SqliteStore.open(path, { mode: 'write' });
    await store.close();
    const db = new Database(path, { readonly: true });
    const actual = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all() as string[];
    db.close();
    assert.deepEqual([...promisedTables(LATEST_SCHEMA_VERSION)].sort(), actual);
    // Version 4 rebuilt the idempotency keys under a temporary name, renamed back.
    assert.deepEqual([...promisedTables(4)].sort(), ['api_tokens', 'idempotency_keys', 'sequences']);
  });
});
