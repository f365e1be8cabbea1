import type Database from 'better-sqlite3';
import { StoreOpenError } from '../../core/store.js';
import { checksumOf, EntryDecoder, encodeEntries, LogDamage } from './log-codec.js';
import type { SequenceRecord } from '../../core/store.js';
import { rowOfRecord, type RowOverlay, type SequenceRows } from './rows.js';
import { statementsOf } from './statements.js';

/**
 * Entries logged after which the server folds the log into `sequences`:
 * bounds the overlay (memory) and the replay at start. Each fold writes
 * every overlaid row at once, so the larger it is the fewer pages a commit
 * costs on average, and the longer one fold holds the event loop.
 * `TAKEANUMBER_FOLD_ENTRIES` changes it (the crash tests set a few).
 */
export const DEFAULT_FOLD_ENTRIES = 20_000;

export function foldEntries(env: NodeJS.ProcessEnv = process.env): number {
  const setting = env.TAKEANUMBER_FOLD_ENTRIES;
  const entries = setting === undefined ? Number.NaN : Number(setting);
  return Number.isSafeInteger(entries) && entries > 0 ? entries : DEFAULT_FOLD_ENTRIES;
}

/**
 * The allocation log: why a commit of many names writes a few pages, not
 * every page of `sequences` it touches. A batch's plain (not gapless)
 * sequences are not written into `sequences`: one row of `allocation_log`,
 * appended in the batch's transaction (the rightmost leaf of its b-tree),
 * carries each one's whole row as the batch leaves it (log-codec.ts), with a
 * checksum. Absolute rows make replay idempotent: the last entry of a name
 * wins. The rows logged since the last fold live in memory too (the overlay,
 * read before the table: rows.ts), so each sequence's latest state is in
 * exactly one place, the overlay (and log) or the table.
 *
 * A fold writes every overlaid row into `sequences` and deletes every log
 * row, in one transaction: after a crash either the log still holds them
 * (replayed at the next open) or the table does. It runs once the overlay
 * reaches foldEntries(), before every admin write and at close. Opening
 * replays the log: every row's checksum and entries checked, its entries
 * read into the overlay in order (the last one of a name wins), folded
 * later as if logged by this process; a damaged log refuses the store
 * (StoreOpenError), it is never skipped. A read-only store (export) reads
 * the log into its overlay and never folds.
 */
export class AllocationLog implements RowOverlay {
  readonly #sql: (sql: string) => Database.Statement;
  readonly #overlay = new Map<string, SequenceRecord>();
  /** The overlay's names (and their UTF-8 bytes) in byte order, built when a listing needs them. */
  #sorted: [string, Buffer][] | undefined;
  #entries = 0;
  readonly #threshold = foldEntries();

  constructor(db: Database.Database) {
    this.#sql = statementsOf(db);
  }

  get(name: string): SequenceRecord | undefined {
    return this.#overlay.get(name);
  }

  namesBetween(lower: string, after: boolean, upper: string | undefined): string[] {
    const sorted = (this.#sorted ??= [...this.#overlay.keys()].map((name): [string, Buffer] => [name, Buffer.from(name)]).sort((a, b) => Buffer.compare(a[1], b[1])));
    const low = Buffer.from(lower);
    const high = upper === undefined ? undefined : Buffer.from(upper);
    const names: string[] = [];
    for (let index = firstAtOrAbove(sorted, low); index < sorted.length; index += 1) {
      const [name, bytes] = sorted[index] as [string, Buffer];
      if (high !== undefined && Buffer.compare(bytes, high) >= 0) break;
      if (!after || Buffer.compare(bytes, low) > 0) names.push(name);
    }
    return names;
  }

  /** The overlay's names. */
  names(): string[] {
    return [...this.#overlay.keys()];
  }

  /** Appends one log row for the batch's rows; inside the batch's transaction. */
  append(records: readonly SequenceRecord[]): void {
    if (records.length === 0) return;
    const bytes = encodeEntries(records.map(rowOfRecord));
    this.#sql('INSERT INTO allocation_log (entries, checksum) VALUES (?, ?)').run(bytes, checksumOf(bytes));
  }

  /** After the batch's commit: its rows become the overlay's. */
  committed(records: readonly SequenceRecord[]): void {
    for (const record of records) this.#overlay.set(record.name, record);
    this.#entries += records.length;
    if (records.length > 0) this.#sorted = undefined;
  }

  /** Whether enough was logged since the last fold to fold now. */
  get due(): boolean {
    return this.#entries >= this.#threshold;
  }

  /**
   * Writes every overlaid row into `sequences` and deletes the log, inside
   * the caller's transaction; `folded()` once it is committed.
   */
  fold(rows: SequenceRows): void {
    for (const record of this.#overlay.values()) rows.upsert(rowOfRecord(record));
    this.#sql('DELETE FROM allocation_log').run();
  }

  /** The fold committed: the table holds every row, the overlay is empty. */
  folded(): void {
    this.#overlay.clear();
    this.#sorted = undefined;
    this.#entries = 0;
  }

  /** Reads the whole log into the overlay (last entry wins), checking every row; throws StoreOpenError naming the row. */
  load(path: string): void {
    let previous = 0n;
    const decoder = new EntryDecoder();
    for (const [seq, entries, checksum] of this.#sql('SELECT seq, entries, checksum FROM allocation_log ORDER BY seq').raw(true).iterate() as Iterable<
      [bigint, unknown, unknown]
    >) {
      const where = `the allocation log of the store ${path}, row ${seq}`;
      const refuse = (what: string): never => {
        throw new StoreOpenError(`${where} is damaged: ${what}. It is left untouched and no counter is reset: restore the store from a backup.`);
      };
      if (seq <= previous) refuse(`its seq is not above the row before (${previous})`);
      previous = seq;
      if (!Buffer.isBuffer(entries) || typeof checksum !== 'bigint') refuse('its entries are not bytes or its checksum not an integer');
      const bytes = entries as Buffer;
      if (BigInt(checksumOf(bytes)) !== checksum) refuse(`its checksum ${String(checksum)} does not match its entries (${checksumOf(bytes)})`);
      try {
        this.committed(decoder.decode(bytes));
      } catch (error) {
        if (error instanceof LogDamage) refuse(error.message);
        throw error;
      }
    }
  }
}

/** The index of the first name whose bytes are not below `bytes` (binary search). */
function firstAtOrAbove(sorted: readonly [string, Buffer][], bytes: Buffer): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (Buffer.compare((sorted[middle] as [string, Buffer])[1], bytes) < 0) low = middle + 1;
    else high = middle;
  }
  return low;
}
