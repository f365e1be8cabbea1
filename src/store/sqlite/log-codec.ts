import { crc32 } from 'node:zlib';
import { sequenceNameProblem } from '../../core/sequence-name.js';
import { InvalidOptionsError, resolveOptions, type SequenceOptions } from '../../core/sequence.js';
import type { SequenceRecord } from '../../core/store.js';
import { toRecord, type SequenceRow as LiveRow } from './rows.js';

/**
 * The bytes of one allocation_log row (allocation-log.ts): the absolute rows
 * of the plain sequences one commit changed, each as the columns of
 * `sequences` but deleted_at (always NULL: the log holds live sequences
 * only), in the order of rows.ts's COLUMNS. Each field is a tag byte, then
 * for an integer its two's complement big-endian in 1 (INT8), 6 (INT48) or
 * 8 (INT64) bytes, the shortest that holds it, and for a text a 32-bit
 * length and its UTF-8 bytes. The row's checksum is the CRC-32 of these
 * bytes. Schema 8 wrote every integer as INT64; those rows read the same.
 */

const NULL = 0;
const INT64 = 1;
const TEXT = 2;
const INT8 = 3;
const INT48 = 4;

/** Integers INT48 holds: Buffer's writeIntBE takes a Number, exact up to 2^47 in 6 bytes. */
const INT48_MIN = -(2n ** 47n);
const INT48_MAX = 2n ** 47n - 1n;

/** What each column may hold: t text, i integer, and a ? when it may be NULL. */
const KINDS = ['t', 'i', 'i', 'i', 'i', 'i', 'i', 'i', 'i', 'i', 'i', 'i?', 'i?', 'i?', 't', 't', 't?', 't?', 'i?', 'i?', 'i', 'i'] as const;

export const checksumOf = (bytes: Uint8Array): number => crc32(bytes);

/**
 * The bytes of `rows` (see above). One pass into a buffer sized for the
 * longest encoding (UTF-8 takes at most 3 bytes per UTF-16 unit), cut to
 * what was written: a log row is written per commit, with up to a batch of
 * entries, on the path of every answer.
 */
export function encodeEntries(rows: readonly LiveRow[]): Buffer {
  let bound = 0;
  for (const row of rows) {
    for (let column = 0; column < KINDS.length; column += 1) {
      const field = row[column];
      bound += typeof field === 'string' ? 5 + 3 * field.length : 9;
    }
  }
  const out = Buffer.allocUnsafe(bound);
  let offset = 0;
  // deleted_at, the last column, is left out: always NULL here.
  for (const row of rows) {
    for (let column = 0; column < KINDS.length; column += 1) {
      const field = row[column];
      if (field === null || field === undefined) {
        out[offset++] = NULL;
      } else if (typeof field === 'bigint') {
        if (field >= -128n && field <= 127n) {
          out[offset++] = INT8;
          out.writeInt8(Number(field), offset);
          offset += 1;
        } else if (field >= INT48_MIN && field <= INT48_MAX) {
          out[offset++] = INT48;
          out.writeIntBE(Number(field), offset, 6);
          offset += 6;
        } else {
          out[offset++] = INT64;
          out.writeBigInt64BE(field, offset);
          offset += 8;
        }
      } else {
        out[offset++] = TEXT;
        const length = out.write(field, offset + 4, 'utf8');
        out.writeUInt32BE(length, offset);
        offset += 4 + length;
      }
    }
  }
  return out.subarray(0, offset);
}

/** Undecodable or impossible bytes in the log; the message says what, the caller says where. */
export class LogDamage extends Error {}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The fields of each entry, each of its column's kind; throws LogDamage on any other byte. */
function decodeRows(bytes: Buffer, starts?: number[]): LiveRow[] {
  const rows: LiveRow[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    starts?.push(offset);
    const entry = readEntry(bytes, offset, rows.length + 1);
    rows.push(entry.row);
    offset = entry.end;
  }
  if (rows.length === 0) throw new LogDamage('it has no entry');
  return rows;
}

/** The entry (the `index`th of its row, for messages) whose first byte is at `offset`, and where it ends. */
function readEntry(bytes: Buffer, start: number, index: number): { row: LiveRow; end: number } {
  let offset = start;
  const need = (count: number): void => {
    if (offset + count > bytes.length) throw new LogDamage(`entry ${index} is cut short at byte ${offset}`);
  };
  const fields: (bigint | string | null)[] = [];
  for (const [column, kind] of KINDS.entries()) {
    need(1);
    const tag = bytes[offset++];
    if (tag === NULL && kind.endsWith('?')) {
      fields.push(null);
    } else if (tag === INT64 && kind.startsWith('i')) {
      need(8);
      fields.push(bytes.readBigInt64BE(offset));
      offset += 8;
    } else if (tag === INT48 && kind.startsWith('i')) {
      need(6);
      fields.push(BigInt(bytes.readIntBE(offset, 6)));
      offset += 6;
    } else if (tag === INT8 && kind.startsWith('i')) {
      need(1);
      fields.push(BigInt(bytes.readInt8(offset)));
      offset += 1;
    } else if (tag === TEXT && kind.startsWith('t')) {
      need(4);
      const length = bytes.readUInt32BE(offset);
      offset += 4;
      need(length);
      try {
        fields.push(utf8.decode(bytes.subarray(offset, offset + length)));
      } catch {
        throw new LogDamage(`entry ${index}, column ${column + 1}: its text is not UTF-8`);
      }
      offset += length;
    } else {
      throw new LogDamage(`entry ${index}, column ${column + 1}: tag ${tag} is not a ${kind}`);
    }
  }
  fields.push(null);
  return { row: fields as LiveRow, end: offset };
}

/**
 * Decodes log rows strictly into records: each must be what the store could
 * have written (a valid name, options, position and marks). Options are
 * checked once per distinct set and shared by the records that have it (the
 * overlay's memory: most sequences have the same options).
 */
export class EntryDecoder {
  readonly #options = new Map<string, SequenceOptions>();

  /**
   * Checks every entry of a log row (`check`), keeping none of the
   * records: each entry's name and the byte its entry starts at, for
   * `recordAt` to read when the record is wanted (a replayed log is kept as
   * its bytes: a record for each entry would take several times the memory).
   */
  spans(bytes: Buffer): { name: string; start: number }[] {
    const starts: number[] = [];
    return decodeRows(bytes, starts).map((row, index) => ({ name: this.check(row, index + 1).name, start: starts[index] as number }));
  }

  /** The record of the entry starting at byte `start` of a row `spans` checked. */
  recordAt(bytes: Buffer, start: number): SequenceRecord {
    return this.check(readEntry(bytes, start, 1).row, 1);
  }

  /** The record of a decoded row, or LogDamage saying why it cannot be one. */
  check(row: LiveRow, index: number): SequenceRecord {
    const [name, , isCalled, , , , , cycle, , gapless] = row;
    const fail = (what: string): never => {
      throw new LogDamage(`entry ${index} (${JSON.stringify(name)}): ${what}`);
    };
    const nameProblem = sequenceNameProblem(name);
    if (nameProblem !== undefined) fail(nameProblem);
    for (const [flag, value] of [['is_called', isCalled], ['cycle', cycle], ['gapless', gapless]] as const) {
      if (value !== 0n && value !== 1n) fail(`${flag} is ${value}, not 0 or 1`);
    }
    if (gapless === 1n) fail('a gapless sequence, which the log never holds');
    if ((row[11] === null) !== (row[12] === null)) fail('one of issued_low and issued_high is NULL');
    const periodNulls = [row[17], row[18], row[19]].filter((field) => field === null).length;
    if (periodNulls !== 0 && periodNulls !== 3) fail('its period is partly NULL');
    const record = toRecord(row);
    if (record.issued !== undefined && record.issued.low > record.issued.high) fail(`issued_low ${record.issued.low} is above issued_high ${record.issued.high}`);
    const key = [...row.slice(3, 11), ...row.slice(14, 17)].join('|');
    let options = this.#options.get(key);
    if (options === undefined) {
      try {
        options = resolveOptions(record.options);
      } catch (error) {
        if (error instanceof InvalidOptionsError) fail(`invalid options: ${error.message}`);
        throw error;
      }
      if (BigInt(options.leaseSeconds) !== row[10]) fail(`lease_seconds ${row[10]} is out of range`);
      this.#options.set(key, options);
    }
    return { ...record, options };
  }
}

/** Decodes a log row's entries strictly, as EntryDecoder does, into rows. */
export function decodeEntries(bytes: Buffer): LiveRow[] {
  const decoder = new EntryDecoder();
  const rows = decodeRows(bytes);
  rows.forEach((row, index) => decoder.check(row, index + 1));
  return rows;
}
