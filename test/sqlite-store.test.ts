import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { seedEntries } from '../src/core/import-rules.js';
import { INT64_MAX } from '../src/core/int64.js';
import { lastIssuedValues } from '../src/core/paging.js';
import { APPLICATION_ID, LATEST_SCHEMA_VERSION } from '../src/store/sqlite/migrations.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { StoreLockedError, StoreOpenError, type SequenceStore } from '../src/core/store.js';
import { tempDir } from './helpers/temp.js';

const storePath = (): string => join(tempDir(), 'store.db');
const one = (name: string) => ({ name, count: 1n, create: true });
const some = (name: string, count: bigint) => ({ name, count, create: true });

async function all(store: SequenceStore): Promise<Record<string, bigint>> {
  const result: Record<string, bigint> = {};
  for await (const [name, value] of lastIssuedValues(store)) result[name] = value;
  return result;
}

// The behaviour every store shares is in test/helpers/store-contract.ts; these are SQLite's own.
describe('SqliteStore', () => {
  it('refuses a request that does not fit below 2^63 whole, without consuming anything', async () => {
    const store = SqliteStore.open(storePath(), { mode: 'write' });
    await store.importSequences(seedEntries(new Map([['edge', INT64_MAX - 2n]])));
    const outcomes = await store.allocateBatch([some('edge', 3n), some('edge', 2n), one('edge')]);
    assert.deepEqual(outcomes, [
      { ok: false, reason: 'exhausted' },
      { ok: true, first: INT64_MAX - 1n, last: INT64_MAX, replayed: false, grant: undefined, tookExpired: false, labels: undefined },
      { ok: false, reason: 'exhausted' },
    ]);
    assert.deepEqual(await all(store), { edge: INT64_MAX });
    await store.close();
  });

  it('keeps values when reopened, with the schema version and application id recorded', async () => {
    const path = storePath();
    const store = SqliteStore.open(path, { mode: 'write' });
    await store.allocateBatch([one('kept'), one('kept')]);
    await store.close();
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), LATEST_SCHEMA_VERSION);
    assert.equal(db.pragma('application_id', { simple: true }), APPLICATION_ID);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.prepare("SELECT typeof(last_value) FROM sequences WHERE name = 'kept'").pluck().get(), 'integer');
    db.close();
    const again = SqliteStore.open(path, { mode: 'write' });
    assert.deepEqual(await again.allocateBatch([one('kept')]), [{ ok: true, first: 3n, last: 3n, replayed: false, grant: undefined, tookExpired: false, labels: undefined }]);
    await again.close();
  });

  it('allows one writer at a time; readers beside it', async () => {
    const path = storePath();
    const writer = SqliteStore.open(path, { mode: 'write' });
    await writer.allocateBatch([one('r')]);
    assert.throws(() => SqliteStore.open(path, { mode: 'write' }), StoreLockedError);
    const reader = SqliteStore.open(path, { mode: 'read' });
    assert.deepEqual(await all(reader), { r: 1n });
    await reader.close();
    await writer.close();
    const next = SqliteStore.open(path, { mode: 'write' });
    await next.close();
  });

  it('refuses, untouched, a file that is not a SQLite database', () => {
    const path = storePath();
    const garbage = Buffer.from('{"orders": 41, "half-writ');
    writeFileSync(path, garbage);
    assert.throws(
      () => SqliteStore.open(path, { mode: 'write' }),
      (error: unknown) => error instanceof StoreOpenError && error.message.includes(path) && /not a readable SQLite/.test(error.message),
    );
    assert.deepEqual(readFileSync(path), garbage);
  });

  it('refuses a SQLite database that is not a TakeANumber store', () => {
    const path = storePath();
    const other = new Database(path);
    other.exec('CREATE TABLE customers (id INTEGER)');
    other.close();
    assert.throws(() => SqliteStore.open(path, { mode: 'write' }), /not a TakeANumber store/);
  });

  it('refuses a store written by a newer schema version', async () => {
    const path = storePath();
    await SqliteStore.open(path, { mode: 'write' }).close();
    const db = new Database(path);
    db.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 1}`);
    db.close();
    for (const mode of ['write', 'read'] as const) {
      assert.throws(() => SqliteStore.open(path, { mode }), /newer take-a-number/);
    }
  });

  it('refuses a damaged store rather than resetting counters', async () => {
    const path = storePath();
    const store = SqliteStore.open(path, { mode: 'write' });
    await store.allocateBatch(Array.from({ length: 3000 }, (_, i) => one(`sequence-${i}`)));
    await store.close();
    // Overwrite the middle of the file (table pages), keeping the header intact.
    const bytes = readFileSync(path);
    assert.ok(bytes.length > 16_384);
    bytes.fill(0xa5, 8192, bytes.length - 4096);
    writeFileSync(path, bytes);
    assert.throws(
      () => SqliteStore.open(path, { mode: 'write' }),
      (error: unknown) => error instanceof StoreOpenError && error.message.includes(path),
    );
  });

  it('opens read-only only an existing store', () => {
    const path = storePath();
    assert.throws(() => SqliteStore.open(path, { mode: 'read' }), /does not exist/);
  });

  it('rejects allocations once closed', async () => {
    const store = SqliteStore.open(storePath(), { mode: 'write' });
    await store.close();
    await assert.rejects(store.allocateBatch([one('late')]));
    await assert.rejects(store.ping());
  });
});
