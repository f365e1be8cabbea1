import { INT64_MAX, INT64_MIN } from '../int64.js';
import { InvalidOptionsError, resolveOptions } from '../sequence.js';
import { sequenceNameProblem } from '../sequence-name.js';
import type { ImportedSequence, SequenceRecord } from '../store/store.js';

/**
 * The full export format: every sequence with all its options and its exact
 * position, so a store moves to another (SQLite to PostgreSQL) losing nothing.
 *
 *   {"format": "takeanumber-full", "version": 1, "sequences": [
 *     {"name": "orders", "last_value": 41, "is_called": true, "start": 1, "increment": 1,
 *      "min_value": 1, "max_value": 9223372036854775807, "cycle": false, "cache": 1}
 *   ]}
 */
export const FULL_FORMAT = 'takeanumber-full';
export const FULL_FORMAT_VERSION = 1n;

/** One sequence as a line of the full format (exact integers, never through a float). */
export function fullFormatEntry(record: SequenceRecord): string {
  const { options, position } = record;
  return (
    `{"name": ${JSON.stringify(record.name)}, "last_value": ${position.lastValue}, "is_called": ${position.isCalled}, ` +
    `"start": ${options.start}, "increment": ${options.increment}, "min_value": ${options.minValue}, ` +
    `"max_value": ${options.maxValue}, "cycle": ${options.cycle}, "cache": ${options.cache}}`
  );
}

export function isFullFormat(data: unknown): data is Record<string, unknown> {
  return typeof data === 'object' && data !== null && !Array.isArray(data) && (data as Record<string, unknown>).format === FULL_FORMAT;
}

const int64 = (value: unknown): value is bigint => typeof value === 'bigint' && value >= INT64_MIN && value <= INT64_MAX;

/** Checks a parsed full-format file; returns its sequences, or the problems found (each naming the entry). */
export function readFullFormat(data: Record<string, unknown>): { sequences: ImportedSequence[]; problems: string[] } {
  if (data.version !== FULL_FORMAT_VERSION) {
    return { sequences: [], problems: [`version must be ${FULL_FORMAT_VERSION}, got ${JSON.stringify(String(data.version))}`] };
  }
  if (!Array.isArray(data.sequences)) return { sequences: [], problems: ['"sequences" must be an array'] };
  const sequences: ImportedSequence[] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const [index, entry] of (data.sequences as unknown[]).entries()) {
    const where = `sequences[${index}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      problems.push(`${where}: must be an object`);
      continue;
    }
    const e = entry as Record<string, unknown>;
    const name = typeof e.name === 'string' ? e.name : undefined;
    const nameProblem = name === undefined ? 'the name must be a string' : sequenceNameProblem(name);
    if (name === undefined || nameProblem !== undefined) {
      problems.push(`${where}: ${nameProblem ?? 'bad name'}`);
      continue;
    }
    const label = `${where} ${JSON.stringify(name)}`;
    if (seen.has(name)) {
      problems.push(`${label}: appears twice`);
      continue;
    }
    seen.add(name);
    const integers = ['last_value', 'start', 'increment', 'min_value', 'max_value', 'cache'] as const;
    const bad = integers.filter((field) => !int64(e[field]));
    if (bad.length > 0 || typeof e.is_called !== 'boolean' || typeof e.cycle !== 'boolean') {
      problems.push(`${label}: ${[...bad.map((f) => `${f} must be a 64-bit integer`), ...(typeof e.is_called !== 'boolean' ? ['is_called must be true or false'] : []), ...(typeof e.cycle !== 'boolean' ? ['cycle must be true or false'] : [])].join('; ')}`);
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
      });
      const lastValue = e.last_value as bigint;
      if (lastValue < options.minValue || lastValue > options.maxValue) {
        problems.push(`${label}: last_value ${lastValue} lies outside min_value..max_value`);
        continue;
      }
      sequences.push({ name, options, position: { lastValue, isCalled: e.is_called } });
    } catch (error) {
      if (!(error instanceof InvalidOptionsError)) throw error;
      problems.push(`${label}: ${error.message}`);
    }
  }
  return { sequences, problems };
}
