import { closeSync, existsSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { StoreOpenError } from '../../core/store.js';
import { createStoreFile } from './create-store.js';
import { StoreFileGuard } from './file-guard.js';
import { identityRootPage, RAISE_GENERATION, readFileIdentity, readIdentity, type IdentityLayout } from './identity.js';
import { isEmptyDatabase, migrate, openChecked } from './open.js';
import { parseWalHeader, WAL_HEADER_BYTES } from './raw-format.js';
import { realStorePath, refuseHardLinks } from './store-path.js';
import { WriterLock, type StoreRecord } from './writer-lock.js';

/** A store opened for writing: its connection, its writer lock (and record), and the guard of its files. */
export interface WritableStore {
  /** The real path of the database file. */
  readonly path: string;
  readonly db: Database.Database;
  readonly lock: WriterLock;
  readonly guard: StoreFileGuard;
}

/** How every refusal at start ends: the way to accept the files as they are, on purpose. */
function acceptBy(path: string, lock: WriterLock): string {
  return `If you restored this file on purpose, first raise its counters (README, "Restore"), then remove ${lock.path} to accept it.`;
}

/**
 * Opens the store at `givenPath` for `serve`, `import`, `migrate` and
 * `token`: takes the writer lock on its real path first (a second writer is
 * refused at once, whatever path it was given), refuses a store whose files
 * tell that numbers would be handed out again (found damaged by the last
 * server, lost its contents, an older copy, another store's file, a lost
 * -wal), creates a new store only where no trace of one is left, checks and
 * upgrades it, then checkpoints so that the database file carries the
 * identity and every commit before the first request.
 */
export function openWritable(givenPath: string): WritableStore {
  try {
    mkdirSync(dirname(givenPath), { recursive: true });
  } catch (error) {
    throw new StoreOpenError(`Cannot create the folder for the store ${givenPath}: ${(error as Error).message}`, { cause: error });
  }
  const path = realStorePath(givenPath);
  // The lock comes first: a second writer is refused at once, before any
  // (possibly long) integrity check of a large store.
  const lock = WriterLock.acquire(path, undefined, path === givenPath ? path : `${givenPath} (the file ${path})`);
  let db: Database.Database | undefined;
  let mainFd: number | undefined;
  let guard: StoreFileGuard | undefined;
  try {
    const record = lock.record;
    if (record?.damaged !== undefined) {
      throw new StoreOpenError(
        `The store ${path} is refused: the last server on it found its files damaged. What it saw: ${record.damaged}`,
      );
    }
    refuseHardLinks(path);
    const traces = [`${path}-wal`, `${path}-shm`].filter((file) => existsSync(file));
    if (lock.showsStore) traces.push(lock.path);
    const size = statSync(path, { throwIfNoEntry: false })?.size;
    if (size === undefined || size === 0) {
      refuseLostContents(path, size === undefined ? 'is missing' : 'is empty (0 bytes)', traces);
      createStoreFile(path);
    }
    refuseLostWal(path, record);
    mainFd = openSync(path, 'r');
    db = openChecked(path, 'write');
    if (isEmptyDatabase(db)) {
      // An older release's new store whose -wal was lost looks like this: a database with nothing in it.
      refuseLostContents(path, 'is an empty database', traces);
      db.close();
      db = undefined;
      closeSync(mainFd);
      mainFd = undefined;
      createStoreFile(path);
      mainFd = openSync(path, 'r');
      db = openChecked(path, 'write');
    }
    checkAgainstRecord(path, db, mainFd, lock);
    const journal = db.pragma('journal_mode = WAL', { simple: true }) as string;
    if (journal !== 'wal') throw new StoreOpenError(`The store ${path} cannot use WAL mode (got ${journal}).`);
    db.pragma('synchronous = FULL');
    // This process checkpoints itself, checked and recorded (file-guard.ts).
    db.pragma('wal_autocheckpoint = 0');
    migrate(db);
    const identity = readIdentity(db);
    const rootPage = identityRootPage(db);
    if (identity === undefined || rootPage === undefined) throw new StoreOpenError(`The store ${path} has no identity row after its upgrade.`);
    // A commit: from here on the -wal and its index exist, with a header the guard checks.
    db.prepare(RAISE_GENERATION).run();
    const layout: IdentityLayout = { storeId: identity.storeId, rootPage, pageSize: db.pragma('page_size', { simple: true }) as number };
    guard = new StoreFileGuard(path, db, lock, layout, mainFd, record?.generation);
    mainFd = undefined;
    guard.checkpoint();
    lock.write({ storeId: identity.storeId, generation: guard.generation, damaged: undefined, stoppedCleanly: false });
    return { path, db, lock, guard };
  } catch (error) {
    db?.close();
    // The guard's descriptors and this one only after SQLite's connection: closing one drops its locks.
    guard?.closeFiles();
    if (mainFd !== undefined) closeSync(mainFd);
    lock.discard();
    if (error instanceof StoreOpenError) throw error;
    throw new StoreOpenError(`Cannot prepare the store ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** A missing or empty database file where a store was used before: refused, never a new store handing out 1 again. */
function refuseLostContents(path: string, state: string, traces: readonly string[]): void {
  if (traces.length === 0) return;
  throw new StoreOpenError(
    `The store ${path} has lost its contents: the file ${state}, but ${traces.join(', ')} ${traces.length === 1 ? 'is' : 'are'} ` +
      'still there from a store used here before. A new store here would hand out numbers again from the start, so it is ' +
      'refused. Restore the store from a backup (README, "Restore"); or, to start a new, empty store here on purpose, ' +
      `remove ${traces.join(' and ')} and start again.`,
  );
}

/**
 * After a server that did not stop cleanly (killed, or crashed), its -wal
 * holds the latest commits: a missing, empty or headerless -wal then means
 * they are lost, and the database file alone would hand their numbers out
 * again.
 */
function refuseLostWal(path: string, record: StoreRecord | undefined): void {
  if (record === undefined || record.stoppedCleanly) return;
  const wal = `${path}-wal`;
  let header: Buffer | undefined;
  try {
    const fd = openSync(wal, 'r');
    try {
      header = Buffer.alloc(WAL_HEADER_BYTES);
      if (readSync(fd, header, 0, WAL_HEADER_BYTES, 0) < WAL_HEADER_BYTES) header = undefined;
    } finally {
      // SQLite has not opened the -wal in this process yet: no lock of its is dropped.
      closeSync(fd);
    }
  } catch {
    header = undefined;
  }
  if (header !== undefined && parseWalHeader(header) !== undefined) return;
  throw new StoreOpenError(
    `The store ${path} was not stopped cleanly (its server was killed or crashed), so its latest commits are in ${wal}, ` +
      `and that file is ${existsSync(wal) ? 'empty or overwritten' : 'missing'}: those numbers would be handed out again. ` +
      `Put the -wal file back; or restore the store from a backup and raise its counters (README, "Restore"), then remove ${path}.lock to accept it.`,
  );
}

/** The database file must be the store the lock file's record describes, no older than it last was. */
function checkAgainstRecord(path: string, db: Database.Database, mainFd: number, lock: WriterLock): void {
  const record = lock.record;
  if (record === undefined) return;
  const identity = readIdentity(db);
  const rootPage = identityRootPage(db);
  if (identity === undefined || rootPage === undefined) {
    throw new StoreOpenError(
      `The store file ${path} has no store identity, yet the store used here had one (${record.storeId}): the file is an ` +
        `older copy, from before this release, or another store's. ${acceptBy(path, lock)}`,
    );
  }
  if (identity.storeId !== record.storeId) {
    throw new StoreOpenError(
      `The store file ${path} is another store's (store id ${identity.storeId}; the store used here is ${record.storeId}). ${acceptBy(path, lock)}`,
    );
  }
  if (record.generation === undefined) return;
  const inFile = readFileIdentity(mainFd, { rootPage, pageSize: db.pragma('page_size', { simple: true }) as number });
  if (inFile?.storeId !== record.storeId || inFile.generation < record.generation) {
    throw new StoreOpenError(
      `The store file ${path} is an older copy of the store used here: it holds generation ${inFile?.generation ?? 'none'} of it, ` +
        `and the store had reached generation ${record.generation}. Numbers handed out since the copy was made would be ` +
        `handed out again, so it is refused. ${acceptBy(path, lock)}`,
    );
  }
}
