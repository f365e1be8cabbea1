import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { StoreOpenError } from '../../core/store.js';
import { damagedFile, LOST_COMMITS, LOST_FILE, removedLock, replacedFile } from './file-damage.js';
import { RAISE_GENERATION, readFileIdentity, type IdentityLayout } from './identity.js';
import {
  frameOffset,
  parseWalHeader,
  sameOrRestartedWal,
  WAL_FRAME_HEADER_BYTES,
  WAL_HEADER_BYTES,
  WAL_INDEX_HEADER_BYTES,
  walIndexState,
  type WalHeader,
} from './raw-format.js';
import type { WriterLock } from './writer-lock.js';

/**
 * WAL frames after which the server checkpoints: SQLite's own default (about
 * 4 MB of WAL with 4 KiB pages). A commit writes one frame per page it
 * changes; each checkpoint costs a commit of the identity row, the copy of the
 * pages changed since the last one, an fsync of the database file and a write
 * of the lock file's record. Measured on the 2-core machine (store level,
 * batches of 60): a WAL kept this small makes every commit cheaper than one
 * four times larger (one hot sequence: about 230 µs a commit against 300 µs),
 * which outweighs the more frequent checkpoints (100,000 random names: no
 * difference beyond noise). `TAKEANUMBER_CHECKPOINT_FRAMES` changes it (the
 * tests set 1: a checkpoint after every commit).
 */
export const DEFAULT_CHECKPOINT_FRAMES = 1000;

export function checkpointFrames(env: NodeJS.ProcessEnv = process.env): number {
  const setting = env.TAKEANUMBER_CHECKPOINT_FRAMES;
  const frames = setting === undefined ? Number.NaN : Number(setting);
  return Number.isSafeInteger(frames) && frames > 0 ? frames : DEFAULT_CHECKPOINT_FRAMES;
}

interface CheckpointResult {
  readonly busy: number;
  readonly log: number;
  readonly checkpointed: number;
}

/**
 * Notices when a store's files are removed, replaced or rewritten under a
 * running server. SQLite keeps writing to the files it has open and trusts
 * its page cache, so after an `rm`, an old copy restored over the path or
 * copied into the file, a truncation, or an emptied -wal, commits would go
 * where no restart finds them, and the next start would hand out numbers
 * again. In WAL mode only checkpoints write the database file; after a
 * complete one the WAL starts again, and what was copied lives only in the
 * file. So this process checkpoints itself (SQLite's automatic checkpoints
 * are off), after a commit once the WAL holds `checkpointFrames()` frames and
 * when the store closes, and each checkpoint first commits a new generation
 * of the store's identity row (identity.ts): a complete checkpoint copies it
 * into the file with everything else, so an older copy of the file carries
 * a lower generation. A checkpoint held back by a reader (`export`,
 * `backup`) copies only the pages whose latest version that reader has seen,
 * never the identity row just written: until the next complete checkpoint,
 * the guard keeps what it copied and compares it with the file.
 *
 * The guard checks:
 * - the database file, its -wal and the lock file are still the files opened
 *   (inodes): before every write;
 * - the -wal did not shrink, still has a valid header, and is still the same
 *   log (salts) or a newer one (a `token` command's connection may restart
 *   it): after every commit, before its answers go out, and before each checkpoint;
 * - the database file holds this store's identity at a generation no lower
 *   than last seen, and the pages a partial checkpoint wrote: before every write.
 * After each checkpoint the lock file records the generation the database
 * file carries, so the next start refuses an older copy put in place while
 * no server ran. On the first failed check the guard refuses every write
 * from then on (`503` `store_unavailable`, `/readyz` 503, an error log line
 * from the allocator saying which file and what was seen), and records the
 * damage in the lock file so that every later start refuses the store. The
 * database file, -wal and -shm are read through descriptors opened once and
 * closed only after SQLite's connection: closing any descriptor of a file
 * drops the process's POSIX locks on it, SQLite's included.
 */
export class StoreFileGuard {
  readonly #path: string;
  readonly #db: Database.Database;
  readonly #lock: WriterLock;
  readonly #layout: IdentityLayout;
  readonly #inode: number;
  readonly #walInode: number;
  readonly #lockInode: number;
  readonly #fds: { readonly main: number; readonly wal: number; readonly shm: number };
  readonly #page: Buffer;
  readonly #walHeaderBytes = Buffer.alloc(WAL_HEADER_BYTES);
  readonly #indexHeaderBytes = Buffer.alloc(WAL_INDEX_HEADER_BYTES);
  #walSize: number;
  #walHeader: WalHeader;
  /** The generation the database file carries at least (undefined until it carries the identity: a store just upgraded). */
  #generation: bigint | undefined;
  #failure: StoreOpenError | undefined;
  /** Pages written into the database file by partial checkpoints since the last complete one, as written. */
  readonly #partlyCopied = new Map<number, Buffer>();
  readonly #threshold = checkpointFrames();
  #nextCheckpointAt = this.#threshold;
  #filesClosed = false;

  /**
   * Starts guarding a store whose connection has committed at least once in
   * WAL mode (so the -wal and -shm exist). `mainFd` is a descriptor on the
   * database file, now owned by the guard; `generation` the lowest the
   * database file may carry, from the lock file's record.
   */
  constructor(path: string, db: Database.Database, lock: WriterLock, layout: IdentityLayout, mainFd: number, generation: bigint | undefined) {
    this.#path = path;
    this.#db = db;
    this.#lock = lock;
    this.#layout = layout;
    this.#page = Buffer.alloc(layout.pageSize);
    this.#generation = generation;
    let wal: number | undefined;
    let shm: number | undefined;
    try {
      wal = openSync(`${path}-wal`, 'r');
      shm = openSync(`${path}-shm`, 'r');
      this.#inode = statSync(path).ino;
      this.#lockInode = statSync(lock.path).ino;
      this.#walInode = fstatSync(wal).ino;
      this.#walSize = fstatSync(wal).size;
      const header = this.#readWalHeader(wal);
      if (header === undefined) throw new StoreOpenError(`The store file ${path}-wal has no valid WAL header after a commit.`);
      this.#walHeader = header;
    } catch (error) {
      // Only after SQLite's connection is closed (by the caller) may `mainFd` be closed.
      for (const fd of [wal, shm]) if (fd !== undefined) closeSync(fd);
      throw error;
    }
    this.#fds = { main: mainFd, wal, shm };
  }

  /** The generation the database file was last seen to carry. */
  get generation(): bigint | undefined {
    return this.#generation;
  }

  /**
   * Before every write: throws (now and from then on) if the store's files
   * are no longer at their paths, or the database file no longer holds what
   * this server wrote into it (read through its descriptor). The -wal is
   * checked after every commit (`committed`), before any answer goes out: a
   * commit into a damaged -wal is refused then, so checking it before too
   * would only refuse a commit sooner.
   */
  check(): void {
    if (this.#failure !== undefined) throw this.#failure;
    this.#checkPaths();
    this.#checkDatabaseFile();
    this.#checkPartlyCopied();
  }

  /** Every check at once: before a write, and the -wal too (readiness, checkpoints). */
  checkAll(): void {
    this.check();
    this.#checkWal();
  }

  #checkPaths(): void {
    const database = statSync(this.#path, { throwIfNoEntry: false });
    if (database?.ino !== this.#inode) throw this.#replaced(this.#path);
    const wal = statSync(`${this.#path}-wal`, { throwIfNoEntry: false });
    // SQLite deletes the WAL only when the last connection closes; this one stays open.
    if (wal?.ino !== this.#walInode) throw this.#replaced(`${this.#path}-wal`);
    if (statSync(this.#lock.path, { throwIfNoEntry: false })?.ino !== this.#lockInode) throw this.#lockRemoved();
  }

  /** After each commit of this connection: the WAL is checked again, and checkpointed once it is long enough. */
  committed(): void {
    this.#checkWal();
    const frames = this.#walIndex().frames;
    if (frames < this.#nextCheckpointAt) return;
    try {
      this.checkpoint();
    } catch (error) {
      if (error === this.#failure) throw error;
      // SQLite could not checkpoint now (a full disk, a lock): the WAL keeps every commit; try again a little later.
      this.#nextCheckpointAt = frames + this.#retryStep();
    }
  }

  /**
   * Commits a new generation of the identity row, copies the WAL into the
   * database file (as far as readers allow) and records the generation the
   * file then carries. Throws if the files fail their check before, or if
   * SQLite cannot commit or checkpoint.
   */
  checkpoint(): { complete: boolean } {
    this.checkAll();
    this.#db.prepare(RAISE_GENERATION).run();
    this.#checkWal();
    const before = this.#walIndex();
    const [result] = this.#db.pragma('wal_checkpoint(PASSIVE)') as CheckpointResult[];
    if (result === undefined) throw new Error('wal_checkpoint returned no row');
    // Partial while a reader (export, backup) holds an older snapshot: the rest stays in the WAL for the next one.
    const complete = result.busy === 0 && result.log === result.checkpointed;
    if (complete) this.#partlyCopied.clear();
    else if (result.checkpointed > before.backfilled) this.#rememberCopied(before.backfilled, result.checkpointed, result.log, before.pages);
    this.#checkDatabaseFile();
    const record = this.#lock.record;
    if (record?.generation !== this.#generation || record?.storeId !== this.#layout.storeId) {
      this.#lock.write({ storeId: this.#layout.storeId, generation: this.#generation, damaged: undefined, stoppedCleanly: false });
    }
    this.#nextCheckpointAt = complete ? this.#threshold : result.log + this.#retryStep();
    return { complete };
  }

  /** From the -shm's WAL-index: frames in the WAL, frames already copied into the database file, and the database's size in pages. */
  #walIndex(): { frames: number; backfilled: number; pages: number } {
    readSync(this.#fds.shm, this.#indexHeaderBytes, 0, WAL_INDEX_HEADER_BYTES, 0);
    return walIndexState(this.#indexHeaderBytes);
  }

  /**
   * After a partial checkpoint, which copied frames (from, to] of the WAL
   * (of `frames`): keeps what it wrote into the database file. SQLite copies
   * a page only from its latest frame, and only if that frame is within the
   * range (wal.c, walCheckpoint); those frames stay in the WAL until it
   * starts again, after the next complete checkpoint.
   */
  #rememberCopied(from: number, to: number, frames: number, databasePages: number): void {
    const size = this.#layout.pageSize;
    const frameHeader = Buffer.alloc(WAL_FRAME_HEADER_BYTES);
    const latest = new Map<number, number>();
    for (let frame = from + 1; frame <= frames; frame += 1) {
      readSync(this.#fds.wal, frameHeader, 0, WAL_FRAME_HEADER_BYTES, frameOffset(frame, size));
      latest.set(frameHeader.readUInt32BE(0), frame);
    }
    for (const [page, frame] of latest) {
      if (frame > to || page > databasePages) continue;
      const content = Buffer.alloc(size);
      readSync(this.#fds.wal, content, 0, size, frameOffset(frame, size) + WAL_FRAME_HEADER_BYTES);
      this.#partlyCopied.set(page, content);
    }
  }

  #checkPartlyCopied(): void {
    for (const [page, written] of this.#partlyCopied) {
      const read = readSync(this.#fds.main, this.#page, 0, this.#layout.pageSize, (page - 1) * this.#layout.pageSize);
      if (read !== this.#layout.pageSize || !this.#page.equals(written)) {
        throw this.#damaged(
          this.#path,
          `was overwritten (page ${page} no longer holds what this server's last checkpoint wrote into it: an older copy put in place?)`,
          LOST_FILE,
        );
      }
    }
  }

  /**
   * Before the connection closes: a last checkpoint, and the record that the
   * database file then holds everything (a missing -wal is then no loss).
   * Nothing if the files were found damaged before; throws if they are now.
   */
  closing(): void {
    if (this.#failure !== undefined) return;
    try {
      const { complete } = this.checkpoint();
      const record = this.#lock.record;
      if (complete && record !== undefined) this.#lock.write({ ...record, stoppedCleanly: true });
    } catch (error) {
      if (error === this.#failure) throw error;
      // Not checkpointed (a full disk): the WAL keeps every commit, and the record says it is needed.
    }
  }

  /** After SQLite's connection is closed: closes the guard's own descriptors. */
  closeFiles(): void {
    if (this.#filesClosed) return;
    this.#filesClosed = true;
    for (const fd of Object.values(this.#fds)) closeSync(fd);
  }

  #retryStep(): number {
    return Math.max(1, Math.floor(this.#threshold / 4));
  }

  #readWalHeader(fd: number): WalHeader | undefined {
    const read = readSync(fd, this.#walHeaderBytes, 0, WAL_HEADER_BYTES, 0);
    return read === WAL_HEADER_BYTES ? parseWalHeader(this.#walHeaderBytes) : undefined;
  }

  #checkWal(): void {
    const file = `${this.#path}-wal`;
    const size = fstatSync(this.#fds.wal).size;
    if (size < this.#walSize) throw this.#damaged(file, `shrank from ${this.#walSize} to ${size} bytes`, LOST_COMMITS);
    const header = this.#readWalHeader(this.#fds.wal);
    if (header === undefined) throw this.#damaged(file, 'no longer begins with a valid WAL header', LOST_COMMITS);
    const seen = this.#walHeader;
    // A restart of the log (after a complete checkpoint; a `token` command's connection may make it) moves salt-1 forward.
    if (!sameOrRestartedWal(header, seen)) {
      throw this.#damaged(
        file,
        `was overwritten with another log (salts ${header.salt1}/${header.salt2}, checkpoint sequence ${header.checkpointSequence}; ` +
          `this server had seen ${seen.salt1}/${seen.salt2}, ${seen.checkpointSequence})`,
        LOST_COMMITS,
      );
    }
    this.#walSize = size;
    this.#walHeader = header;
  }

  #checkDatabaseFile(): void {
    const found = readFileIdentity(this.#fds.main, this.#layout, this.#page);
    const expected = this.#generation;
    if (found === undefined) {
      if (expected === undefined) return;
      throw this.#damaged(this.#path, 'no longer holds the store: its identity page reads as something else (a truncated or overwritten file)', LOST_FILE);
    }
    if (found.storeId !== this.#layout.storeId) {
      throw this.#damaged(this.#path, `was overwritten with another store's file (store id ${found.storeId}; this store is ${this.#layout.storeId})`, LOST_FILE);
    }
    if (expected !== undefined && found.generation < expected) {
      throw this.#damaged(
        this.#path,
        `was overwritten with an older copy of the store (it holds generation ${found.generation}; this server had seen ${expected} in it)`,
        LOST_FILE,
      );
    }
    this.#generation = found.generation;
  }

  #replaced(file: string): StoreOpenError {
    return this.#record(replacedFile(file, this.#lock.path));
  }

  #lockRemoved(): StoreOpenError {
    this.#failure = removedLock(this.#lock.path);
    return this.#failure;
  }

  #damaged(file: string, what: string, consequence: string): StoreOpenError {
    return this.#record(damagedFile(file, what, consequence, this.#lock.path));
  }

  /** Keeps the failure (every later write is refused) and writes it into the lock file's record for the next start. */
  #record(failure: StoreOpenError): StoreOpenError {
    this.#failure = failure;
    try {
      this.#lock.write({
        storeId: this.#layout.storeId,
        generation: this.#lock.record?.generation,
        damaged: failure.message,
        stoppedCleanly: false,
      });
    } catch {
      // The lock file cannot be written (a full disk): the refusal stands while this server runs.
    }
    return failure;
  }
}
