import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { identityRootPage, readIdentity } from '../src/store/sqlite/identity.js';
import { migrate } from '../src/store/sqlite/open.js';
import {
  parseIdentityPage,
  parseWalHeader,
  sameOrRestartedWal,
  WAL_HEADER_BYTES,
  WAL_INDEX_HEADER_BYTES,
  walIndexState,
} from '../src/store/sqlite/raw-format.js';
import { tempDir } from './helpers/temp.js';

/**
 * A store in WAL mode, kept open (its -wal and -shm exist), with automatic
 * checkpoints off; `read` reads a file of it through a descriptor closed only
 * after the connection (closing one earlier would drop SQLite's locks).
 */
function openStore(): { db: Database.Database; path: string; read(suffix: string, bytes: number): Buffer; close(): void } {
  const path = join(tempDir(), 'raw.db');
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('wal_autocheckpoint = 0');
  migrate(db);
  const fds = new Map<string, number>();
  return {
    db,
    path,
    read(suffix, bytes) {
      const fd = fds.get(suffix) ?? openSync(path + suffix, 'r');
      fds.set(suffix, fd);
      const buffer = Buffer.alloc(bytes);
      readSync(fd, buffer, 0, bytes, 0);
      return buffer;
    },
    close() {
      db.close();
      for (const fd of fds.values()) closeSync(fd);
    },
  };
}

describe('the SQLite bytes the file guard reads', () => {
  it('reads the identity row from its page of the database file, as SQLite wrote it', () => {
    const store = openStore();
    const { db, path } = store;
    db.prepare('UPDATE store_identity SET generation = ?').run(300_000);
    db.pragma('wal_checkpoint(TRUNCATE)');
    const root = identityRootPage(db) ?? 0;
    const page = readFileSync(path).subarray((root - 1) * 4096, root * 4096);
    assert.deepEqual(parseIdentityPage(page, 4096), { storeId: readIdentity(db)?.storeId, generation: 300_000n });
    store.close();
  });

  it('finds no identity in zeros, in another table page, or in a short read', () => {
    const store = openStore();
    store.db.pragma('wal_checkpoint(TRUNCATE)');
    const file = readFileSync(store.path);
    assert.equal(parseIdentityPage(Buffer.alloc(4096), 4096), undefined);
    assert.equal(parseIdentityPage(file.subarray(4096, 8192), 4096), undefined, 'page 2: the sequences table');
    assert.equal(parseIdentityPage(Buffer.alloc(100), 4096), undefined);
    store.close();
  });

  it('reads and checks the WAL header, and tells a restarted WAL from a foreign one', () => {
    const store = openStore();
    const { db } = store;
    const read = (): Buffer => store.read('-wal', WAL_HEADER_BYTES);
    const first = parseWalHeader(read());
    assert.ok(first !== undefined);
    db.pragma('wal_checkpoint(PASSIVE)');
    db.exec("INSERT INTO sequences (name, last_value, created_at, updated_at) VALUES ('a', 1, 0, 0)");
    const restarted = parseWalHeader(read());
    assert.ok(restarted !== undefined);
    assert.equal(restarted.salt1, (first.salt1 + 1) >>> 0, 'a restart moves salt-1 on by one');
    assert.ok(sameOrRestartedWal(restarted, first));
    assert.ok(sameOrRestartedWal(restarted, restarted));
    assert.ok(!sameOrRestartedWal(first, restarted), 'the older log');
    assert.ok(!sameOrRestartedWal({ ...restarted, salt1: (first.salt1 + 5000) >>> 0 }, first), 'a foreign log');
    assert.ok(!sameOrRestartedWal({ ...first, salt2: (first.salt2 + 1) >>> 0 }, first));
    const damaged = read();
    damaged[20] = (damaged[20] ?? 0) ^ 1;
    assert.equal(parseWalHeader(damaged), undefined, 'the checksum no longer matches');
    assert.equal(parseWalHeader(Buffer.alloc(WAL_HEADER_BYTES)), undefined);
    store.close();
  });

  it('reads the frame count, database size and copied frames from the -shm', () => {
    const store = openStore();
    const { db } = store;
    const state = (): ReturnType<typeof walIndexState> => walIndexState(store.read('-shm', WAL_INDEX_HEADER_BYTES));
    const before = state();
    assert.ok(before.frames > 0);
    assert.equal(before.backfilled, 0);
    assert.equal(before.pages, db.pragma('page_count', { simple: true }));
    const [result] = db.pragma('wal_checkpoint(PASSIVE)') as { log: number; checkpointed: number }[];
    assert.deepEqual({ frames: state().frames, backfilled: state().backfilled }, { frames: result?.log, backfilled: result?.checkpointed });
    store.close();
  });
});
