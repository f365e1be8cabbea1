import { statSync } from 'node:fs';
import { StoreOpenError } from '../store.js';

/**
 * Notices when a store's files are removed or replaced under a running server.
 * SQLite keeps writing to the files it has open, so after an `rm` (or a
 * restore copied over the path) every commit would go to a file no one will
 * open again, and the next start would begin afresh: numbers handed out twice.
 * Checked before every write (two stat calls a transaction), it turns that into
 * a refusal (`503` `store_unavailable`) and a log line saying why.
 */
export class StoreFileGuard {
  readonly #path: string;
  readonly #inode: number;
  #walInode: number | undefined;
  #failure: StoreOpenError | undefined;

  constructor(path: string) {
    this.#path = path;
    this.#inode = statSync(path).ino;
  }

  /** Throws (now and from then on) if the database or its WAL is no longer the file that was opened. */
  check(): void {
    if (this.#failure !== undefined) throw this.#failure;
    const database = statSync(this.#path, { throwIfNoEntry: false });
    if (database?.ino !== this.#inode) throw this.#fail(this.#path);
    const wal = statSync(`${this.#path}-wal`, { throwIfNoEntry: false });
    // SQLite deletes the WAL only when the last connection closes; this one stays open.
    if (this.#walInode === undefined) this.#walInode = wal?.ino;
    else if (wal?.ino !== this.#walInode) throw this.#fail(`${this.#path}-wal`);
  }

  #fail(file: string): StoreOpenError {
    this.#failure = new StoreOpenError(
      `The store file ${file} was removed or replaced while this server used it: writes would go to a file ` +
        'no one opens again, and a new store would hand out the same numbers again, so this server allocates ' +
        `nothing more. While it runs, the removed file can still be copied from /proc/${process.pid}/fd/. ` +
        'Restore the store (with its -wal file) before starting a server on it again.',
    );
    return this.#failure;
  }
}
