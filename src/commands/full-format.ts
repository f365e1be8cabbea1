import { isInt64 } from '../core/int64.js';
import type { GaplessImport } from '../core/gapless.js';
import type { Restart } from '../core/period.js';
import { impliedIssued, InvalidOptionsError, MAX_LEASE_SECONDS, peekNext, reissues, resolveOptions, type IssuedRange } from '../core/sequence.js';
import { sequenceNameProblem } from '../core/sequence-name.js';
import type { ImportedSequence, ImportedTombstone, SequenceRecord } from '../core/store.js';
import { gaplessFields, readGaplessFields } from './full-format-gapless.js';
import { periodFields, readPeriod, readPeriodOptions } from './full-format-periods.js';

/**
 * The full export format: every sequence with all its options, its exact
 * position and its high-water marks (the lowest and highest value it ever
 * handed out, null for none), and every deleted name with its marks, so a
 * store moves to another (SQLite to PostgreSQL) losing nothing.
 *
 *   {"format": "takeanumber-full", "version": 4, "sequences": [
 *     {"name": "orders", "last_value": 41, "is_called": true, "start": 1, "increment": 1,
 *      "min_value": 1, "max_value": 9223372036854775807, "cycle": false, "cache": 1,
 *      "gapless": false, "lease_seconds": 300, "restart": "never", "time_zone": "UTC",
 *      "format": null, "period": null, "issued_low": 1, "issued_high": 41}
 *   ], "deleted": [
 *     {"name": "old", "issued_low": 1, "issued_high": 7}
 *   ]}
 *
 * A gapless sequence's entry adds its series, values and open reservations
 * (full-format-gapless.ts); the period options and the recorded period are
 * described in full-format-periods.ts. Versions 1 (before high-water marks
 * and tombstones: its entries get the marks their position proves,
 * impliedIssued), 2 (before gapless sequences: not gapless, the default
 * lease) and 3 (before periods: restart never, UTC, no format) are still read.
 */
export const FULL_FORMAT = 'takeanumber-full';
export const FULL_FORMAT_VERSION = 4n;

const marks = (issued: IssuedRange | undefined): string =>
  `"issued_low": ${issued?.low ?? 'null'}, "issued_high": ${issued?.high ?? 'null'}`;

/** One sequence as a line of the full format (exact integers, never through a float). */
export function fullFormatEntry(record: SequenceRecord, gapless?: GaplessImport): string {
  const { options, position } = record;
  return (
    `{"name": ${JSON.stringify(record.name)}, "last_value": ${position.lastValue}, "is_called": ${position.isCalled}, ` +
    `"start": ${options.start}, "increment": ${options.increment}, "min_value": ${options.minValue}, ` +
    `"max_value": ${options.maxValue}, "cycle": ${options.cycle}, "cache": ${options.cache}, ` +
    `"gapless": ${options.gapless}, "lease_seconds": ${options.leaseSeconds}, ${periodFields(record)}, ${marks(record.issued)}` +
    `${gapless === undefined ? '' : gaplessFields(gapless)}}`
  );
}

/** One deleted name (a tombstone) as a line of the full format. */
export function fullFormatTombstone(record: SequenceRecord): string {
  return `{"name": ${JSON.stringify(record.name)}, ${marks(record.issued)}}`;
}

export function isFullFormat(data: unknown): data is Record<string, unknown> {
  return typeof data === 'object' && data !== null && !Array.isArray(data) && (data as Record<string, unknown>).format === FULL_FORMAT;
}

const int64 = (value: unknown): value is bigint => typeof value === 'bigint' && isInt64(value);

/** A sequence of the full format; a gapless one with what it carries beyond its row. */
export interface FullSequence extends ImportedSequence {
  readonly gapless?: GaplessImport | undefined;
}

export interface FullFormatContent {
  readonly sequences: FullSequence[];
  readonly deleted: ImportedTombstone[];
  readonly problems: string[];
}

type Fields = Record<string, unknown>;

/** The marks of an entry (version 2): both null, or two 64-bit integers, low ≤ high; a string if they are not. */
function readMarks(e: Fields): IssuedRange | undefined | string {
  if (e.issued_low === null && e.issued_high === null) return undefined;
  if (!int64(e.issued_low) || !int64(e.issued_high)) return 'issued_low and issued_high must both be null or both 64-bit integers';
  if (e.issued_low > e.issued_high) return `issued_low ${e.issued_low} lies above issued_high ${e.issued_high}`;
  return { low: e.issued_low, high: e.issued_high };
}

/** Why the gapless options of a version 3 entry cannot be read (gapless a boolean, lease_seconds a whole number; resolveOptions checks the range); the gapless fields only on gapless entries. */
function gaplessOptionsProblem(e: Fields): string | undefined {
  if (typeof e.gapless !== 'boolean') return 'gapless must be true or false';
  if (!int64(e.lease_seconds) || e.lease_seconds < 1n || e.lease_seconds > BigInt(MAX_LEASE_SECONDS)) {
    return `lease_seconds must be a whole number from 1 to ${MAX_LEASE_SECONDS}`;
  }
  if (!e.gapless && (e.series_first !== undefined || e.values !== undefined || e.reservations !== undefined)) {
    return 'series_first, values and reservations belong to gapless sequences only';
  }
  return undefined;
}

/** Checks a parsed full-format file; returns its sequences and deleted names, or the problems found (each naming the entry). */
export function readFullFormat(data: Record<string, unknown>): FullFormatContent {
  const version = data.version;
  if (version !== 1n && version !== 2n && version !== 3n && version !== FULL_FORMAT_VERSION) {
    return { sequences: [], deleted: [], problems: [`version must be 1, 2, 3 or ${FULL_FORMAT_VERSION}, got ${JSON.stringify(String(version))}`] };
  }
  if (!Array.isArray(data.sequences)) return { sequences: [], deleted: [], problems: ['"sequences" must be an array'] };
  if (version === 1n ? data.deleted !== undefined : !Array.isArray(data.deleted)) {
    return { sequences: [], deleted: [], problems: [version === 1n ? 'version 1 has no "deleted"' : '"deleted" must be an array'] };
  }
  const sequences: FullSequence[] = [];
  const deleted: ImportedTombstone[] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  /** The entry's name, or undefined after recording why it is unusable. */
  const named = (entry: unknown, where: string): { name: string; e: Fields; label: string } | undefined => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      problems.push(`${where}: must be an object`);
      return undefined;
    }
    const e = entry as Fields;
    const name = typeof e.name === 'string' ? e.name : undefined;
    const nameProblem = name === undefined ? 'the name must be a string' : sequenceNameProblem(name);
    if (name === undefined || nameProblem !== undefined) {
      problems.push(`${where}: ${nameProblem ?? 'bad name'}`);
      return undefined;
    }
    const label = `${where} ${JSON.stringify(name)}`;
    if (seen.has(name)) {
      problems.push(`${label}: appears twice`);
      return undefined;
    }
    seen.add(name);
    return { name, e, label };
  };
  for (const [index, entry] of (data.sequences as unknown[]).entries()) {
    const found = named(entry, `sequences[${index}]`);
    if (found === undefined) continue;
    const { name, e, label } = found;
    const integers = ['last_value', 'start', 'increment', 'min_value', 'max_value', 'cache'] as const;
    const bad = integers.filter((field) => !int64(e[field]));
    const gaplessProblem = version >= 3n ? gaplessOptionsProblem(e) : undefined;
    const periodOptions = version >= 4n ? readPeriodOptions(e) : undefined;
    const period = version >= 4n ? readPeriod(e.period) : undefined;
    if (typeof periodOptions === 'string' || typeof period === 'string') {
      problems.push(`${label}: ${[periodOptions, period].filter((p) => typeof p === 'string').join('; ')}`);
      continue;
    }
    if (bad.length > 0 || typeof e.is_called !== 'boolean' || typeof e.cycle !== 'boolean' || gaplessProblem !== undefined) {
      problems.push(`${label}: ${[...bad.map((f) => `${f} must be a 64-bit integer`), ...(typeof e.is_called !== 'boolean' ? ['is_called must be true or false'] : []), ...(typeof e.cycle !== 'boolean' ? ['cycle must be true or false'] : []), ...(gaplessProblem === undefined ? [] : [gaplessProblem])].join('; ')}`);
      continue;
    }
    try {
      const options = resolveOptions({
        start: e.start as bigint,
        increment: e.increment as bigint,
        minValue: e.min_value as bigint,
        maxValue: e.max_value as bigint,
        cycle: e.cycle,
        cache: e.cache as bigint,
        // Versions 1 and 2 have no gapless sequences: not gapless, the default lease.
        ...(version >= 3n ? { gapless: e.gapless as boolean, leaseSeconds: Number(e.lease_seconds) } : {}),
        // Versions 1 to 3 have no periods: restart never, UTC, no format. resolveOptions checks these.
        ...(periodOptions === undefined ? {} : { ...periodOptions, restart: periodOptions.restart as Restart }),
      });
      const lastValue = e.last_value as bigint;
      if (lastValue < options.minValue || lastValue > options.maxValue) {
        problems.push(`${label}: last_value ${lastValue} lies outside min_value..max_value`);
        continue;
      }
      const position = { lastValue, isCalled: e.is_called };
      const issued = version === 1n ? impliedIssued(options, position) : readMarks(e);
      if (typeof issued === 'string') {
        problems.push(`${label}: ${issued}`);
        continue;
      }
      if (!options.cycle && reissues(issued, options, position)) {
        problems.push(`${label}: its next value ${peekNext(position, options)} lies within the values it handed out (issued_low..issued_high)`);
        continue;
      }
      if (!options.gapless) {
        sequences.push({ name, options, position, issued, period });
        continue;
      }
      const gapless = readGaplessFields(e, options, position, issued, period);
      if (Array.isArray(gapless)) problems.push(...gapless.map((problem) => `${label}: ${problem}`));
      else sequences.push({ name, options, position, issued, period, gapless });
    } catch (error) {
      if (!(error instanceof InvalidOptionsError)) throw error;
      problems.push(`${label}: ${error.message}`);
    }
  }
  for (const [index, entry] of ((data.deleted ?? []) as unknown[]).entries()) {
    const found = named(entry, `deleted[${index}]`);
    if (found === undefined) continue;
    const issued = readMarks(found.e);
    if (typeof issued === 'string') problems.push(`${found.label}: ${issued}`);
    else deleted.push({ name: found.name, issued });
  }
  return { sequences, deleted, problems };
}
