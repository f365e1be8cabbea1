import type Database from 'better-sqlite3';
import { StoreOpenError } from '../../core/store.js';
import { checksumOf, EntryDecoder, encodeEntries, LogDamage } from './log-codec.js';
import type { SequenceRecord } from '../../core/store.js';
import { rowOfRecord, type RowOverlay, type SequenceRows } from './rows.js';
import { statementsOf } from './statements.js';

/**
 * Entries in the log after which a chunked fold pass starts (see
 * AllocationLog): bounds the overlay (memory) and the replay at start. A
 * pass writes each page of `sequences` it touches about once, so the larger
 * it is the fewer pages a name costs on average. `TAKEANUMBER_FOLD_ENTRIES`
 * changes it (the crash tests set a few).
 */
export const DEFAULT_FOLD_ENTRIES = 20_000;

/**
 * The fewest names a commit writes into `sequences` while a pass runs; a
 * commit whose batch logged more entries writes PACE times as many names
 * (see `step`). Work of a pass is so spread over the commits in proportion
 * to their batches: no commit carries much more than its own batch's worth,
 * which is what the p99 latency sees (a fixed 512 names a commit made one
 * commit in nine take 2.5-10 ms under 100,000 random names; the whole fold
 * of 20,000 in one go held the event loop for up to ~100 ms:
 * bench/results/2026-11-30-chunked-fold.md). `TAKEANUMBER_FOLD_CHUNK`
 * changes it (the crash and chaos tests set 2).
 */
export const DEFAULT_FOLD_CHUNK = 64;

/**
 * Names a commit of a pass writes for each entry its own batch logged. Above
 * 1, a pass always ends: it writes at least PACE names for each entry added
 * meanwhile, so a pass over N names (N at most the entries it covers) ends
 * after at most N / PACE more entries, and the log never holds much more
 * than (1 + 1 / PACE) times the threshold (plus one batch). No backstop fold
 * of the whole overlay is needed, at run time or after a start that replayed
 * a long log (the first commit after it starts a pass).
 */
export const FOLD_PACE = 2;

const positiveSetting = (setting: string | undefined, fallback: number): number => {
  const value = setting === undefined ? Number.NaN : Number(setting);
  return Number.isSafeInteger(value) && value > 0 ? value : fallback;
};

export const foldEntries = (env: NodeJS.ProcessEnv = process.env): number => positiveSetting(env.TAKEANUMBER_FOLD_ENTRIES, DEFAULT_FOLD_ENTRIES);

export const foldChunk = (env: NodeJS.ProcessEnv = process.env): number => positiveSetting(env.TAKEANUMBER_FOLD_CHUNK, DEFAULT_FOLD_CHUNK);

/** A chunked pass: the log rows up to `foldSeq` are deleted once every name of the snapshot is written. */
interface FoldPass {
  readonly foldSeq: bigint;
  /** The overlay's names at the snapshot, sorted (each chunk a narrow key range of the table). */
  readonly names: readonly string[];
  /** The index of the first name not yet written (committed). */
  next: number;
  /** The entries in the log rows up to foldSeq. */
  readonly entries: number;
}

/** What a batch's transaction wrote of the pass (AllocationLog.step), applied once it is committed. */
export interface FoldStep {
  readonly written: readonly SequenceRecord[];
  readonly next: number;
  /** Whether the log rows up to foldSeq were deleted: the pass is over. */
  readonly finished: boolean;
}

/**
 * An entry of a replayed log row, kept as the row's bytes until its record is
 * wanted: after a crash the log may hold tens of thousands of entries, and a
 * record object for each, read at start and all surviving, grew V8's young
 * generation to its limit. Opening a store with 36,000 unfolded entries:
 * V8's heap 53 MB with records, 28 MB with Logged (10 MB once folded); a
 * server with 1,000,000 sequences after kill -9, 150-152 MB against 144-148
 * (bench/results/2026-11-30-random-names-cpu.md).
 */
class Logged {
  constructor(
    readonly bytes: Buffer,
    readonly start: number,
  ) {}
}

export class AllocationLog implements RowOverlay {
  readonly #sql: (sql: string) => Database.Statement;
  /** The newest state of each name the log holds: a record, or (replayed, not read since) where its entry is. */
  readonly #overlay = new Map<string, SequenceRecord | Logged>();
  /** Checks replayed entries and reads them on demand, sharing each distinct set of options. */
  readonly #decoder = new EntryDecoder();
  /** The overlay's names (and their UTF-8 bytes) in byte order, built when a listing needs them. */
  #sorted: [string, Buffer][] | undefined;
  /** Entries in the log rows (all of them, replayed ones included). */
  #entries = 0;
  readonly #threshold = foldEntries();
  readonly #chunk = foldChunk();
  #pass: FoldPass | undefined;

  constructor(db: Database.Database) {
    this.#sql = statementsOf(db);
  }

  get(name: string): SequenceRecord | undefined {
    const held = this.#overlay.get(name);
    if (!(held instanceof Logged)) return held;
    // Checked at load: read once, then kept as the record (the same key: the map's order is unchanged).
    const record = this.#decoder.recordAt(held.bytes, held.start);
    this.#overlay.set(name, record);
    return record;
  }

  namesBetween(lower: string, after: boolean, upper: string | undefined, prefix: string, limit: number): string[] {
    const sorted = (this.#sorted ??= [...this.#overlay.keys()].map((name): [string, Buffer] => [name, Buffer.from(name)]).sort((a, b) => Buffer.compare(a[1], b[1])));
    const low = Buffer.from(lower);
    const high = upper === undefined ? undefined : Buffer.from(upper);
    const names: string[] = [];
    for (let index = firstAtOrAbove(sorted, low); index < sorted.length && names.length < limit; index += 1) {
      const [name, bytes] = sorted[index] as [string, Buffer];
      if (high !== undefined && Buffer.compare(bytes, high) >= 0) break;
      if ((!after || Buffer.compare(bytes, low) > 0) && name.startsWith(prefix)) names.push(name);
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

  /**
   * Inside a batch's transaction, after its log row of `logged` entries: the
   * running pass's next chunk of names (FOLD_PACE per entry logged, at least
   * the chunk setting) written with their current records, and the log rows
   * up to foldSeq deleted if that was the last; `committed` applies it.
   */
  step(rows: SequenceRows, logged: number): FoldStep | undefined {
    const pass = this.#pass;
    if (pass === undefined) return undefined;
    const written: SequenceRecord[] = [];
    const end = Math.min(pass.next + Math.max(this.#chunk, FOLD_PACE * logged), pass.names.length);
    for (let index = pass.next; index < end; index += 1) {
      // Absent only if a full fold ran since, which ends the pass: never here.
      const record = this.get(pass.names[index] as string);
      if (record === undefined) continue;
      rows.upsert(rowOfRecord(record));
      written.push(record);
    }
    const finished = end === pass.names.length;
    if (finished) this.#sql('DELETE FROM allocation_log WHERE seq <= ?').run(pass.foldSeq);
    return { written, next: end, finished };
  }

  /**
   * After the batch's commit: its rows become the overlay's, the pass's step
   * is applied (entries still the records written leave the overlay), and a
   * pass starts if the log holds enough entries and none runs.
   */
  committed(records: readonly SequenceRecord[], step: FoldStep | undefined): void {
    this.#overlaid(records);
    if (step !== undefined && this.#pass !== undefined) {
      for (const record of step.written) {
        if (this.#overlay.get(record.name) === record) this.#overlay.delete(record.name);
      }
      if (step.written.length > 0) this.#sorted = undefined;
      this.#pass.next = step.next;
      if (step.finished) {
        this.#entries -= this.#pass.entries;
        this.#pass = undefined;
      }
    }
    if (this.#pass === undefined && this.#entries >= this.#threshold) this.#snapshot();
  }

  #overlaid(records: readonly SequenceRecord[]): void {
    for (const record of records) this.#overlay.set(record.name, record);
    this.#entries += records.length;
    if (records.length > 0) this.#sorted = undefined;
  }

  /** A pass's start: foldSeq and the overlay's names (sorted by code unit: only locality depends on the order). */
  #snapshot(): void {
    const foldSeq = this.#sql('SELECT max(seq) FROM allocation_log').pluck().get() as bigint | null;
    if (foldSeq === null) return;
    this.#pass = { foldSeq, names: [...this.#overlay.keys()].sort(), next: 0, entries: this.#entries };
  }

  /**
   * Writes every overlaid row into `sequences` and deletes the log, inside
   * the caller's transaction; `folded()` once it is committed.
   */
  fold(rows: SequenceRows): void {
    for (const name of this.#overlay.keys()) rows.upsert(rowOfRecord(this.get(name) as SequenceRecord));
    this.#sql('DELETE FROM allocation_log').run();
  }

  /** The fold committed: the table holds every row, the overlay and the log are empty, a running pass is over. */
  folded(): void {
    this.#overlay.clear();
    this.#sorted = undefined;
    this.#entries = 0;
    this.#pass = undefined;
  }

  /** Reads the whole log into the overlay (last entry wins), checking every row (its entries kept as bytes: Logged); throws StoreOpenError naming the row. */
  load(path: string): void {
    let previous = 0n;
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
        // Every entry is checked now; the records are read when wanted (Logged).
        const spans = this.#decoder.spans(bytes);
        for (const { name, start } of spans) this.#overlay.set(name, new Logged(bytes, start));
        this.#entries += spans.length;
        this.#sorted = undefined;
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
