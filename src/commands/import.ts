import { readFile } from 'node:fs/promises';
import { resolveStore } from '../config.js';
import { INT64_MAX } from '../core/int64.js';
import { parseJsonLossless } from '../json.js';
import { sequenceNameProblem } from '../core/sequence-name.js';
import { settingHelp } from '../settings.js';
import { describeLocation, openStore, type StoreLocation } from '../store/open-store.js';
import { fullEntries, ImportConflictError, seedEntries } from '../core/import-rules.js';
import type { ImportedTombstone, ImportSummary } from '../core/store.js';
import { CliError, command, DEFAULT_POOL, HELP_LINE, STORE_OPTION } from './command.js';
import { isFullFormat, readFullFormat, type FullSequence } from './full-format.js';

/** The file cannot be imported; nothing was changed. Exit status 1. */
export class ImportFileError extends CliError {
  constructor(message: string) {
    super(message);
    this.name = 'ImportFileError';
  }
}

const MAX_REPORTED_PROBLEMS = 10;

/**
 * Reads a Python TakeANumber `sequences.json` (`{"name": last_issued_value}`)
 * exactly: integers of any size stay exact, and anything else is refused.
 */
export function parseSequencesFile(text: string, file: string): Map<string, bigint> {
  return seedValues(parseJsonFile(text, file), file);
}

/** An import file: the seed format, or the full format (`export --format full`). */
export type ImportContent =
  | { readonly format: 'seed'; readonly entries: Map<string, bigint> }
  | { readonly format: 'full'; readonly sequences: FullSequence[]; readonly deleted: ImportedTombstone[] };

export function parseImportFile(text: string, file: string): ImportContent {
  const data = parseJsonFile(text, file);
  if (!isFullFormat(data)) return { format: 'seed', entries: seedValues(data, file) };
  const { sequences, deleted, problems } = readFullFormat(data);
  refuseProblems(problems, file);
  return { format: 'full', sequences, deleted };
}

function parseJsonFile(text: string, file: string): unknown {
  try {
    return parseJsonLossless(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    throw new ImportFileError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
}

function refuseProblems(problems: readonly string[], file: string): void {
  if (problems.length === 0) return;
  const more = problems.length > MAX_REPORTED_PROBLEMS ? `\n  … and ${problems.length - MAX_REPORTED_PROBLEMS} more` : '';
  throw new ImportFileError(
    `${file} cannot be imported (nothing was changed):\n  ${problems.slice(0, MAX_REPORTED_PROBLEMS).join('\n  ')}${more}`,
  );
}

function seedValues(data: unknown, file: string): Map<string, bigint> {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new ImportFileError(`${file} must hold a JSON object of {"sequence name": last issued value}.`);
  }
  const entries = new Map<string, bigint>();
  const problems: string[] = [];
  for (const [name, value] of Object.entries(data)) {
    const nameProblem = sequenceNameProblem(name);
    if (nameProblem !== undefined) problems.push(`${JSON.stringify(name)}: ${nameProblem}`);
    else if (typeof value !== 'bigint') problems.push(`${JSON.stringify(name)}: the value must be an integer, got ${JSON.stringify(value)}`);
    else if (value < 0n || value > INT64_MAX) problems.push(`${JSON.stringify(name)}: the value ${value} is outside 0..${INT64_MAX}`);
    else entries.set(name, value);
  }
  refuseProblems(problems, file);
  return entries;
}

/**
 * `take-a-number import FILE`: raises counters to the file's values, never
 * lowers one, and never makes a sequence hand out a value again (an entry
 * that would, refuses the whole import). Either format; all or nothing.
 */
export async function importFile(file: string, location: StoreLocation): Promise<ImportSummary> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ImportFileError(`Cannot read ${file}: ${(error as Error).message}`);
  }
  const content = parseImportFile(text, file);
  const store = await openStore(location, { ...DEFAULT_POOL, mode: 'write' });
  try {
    return await store.importSequences(content.format === 'seed' ? seedEntries(content.entries) : fullEntries(content.sequences, content.deleted));
  } catch (error) {
    if (!(error instanceof ImportConflictError)) throw error;
    const listed = error.conflicts.slice(0, MAX_REPORTED_PROBLEMS).map((c) => `${JSON.stringify(c.name)}: ${c.reason}`);
    const more = error.conflicts.length > MAX_REPORTED_PROBLEMS ? `\n  … and ${error.conflicts.length - MAX_REPORTED_PROBLEMS} more` : '';
    throw new ImportFileError(
      `${file} cannot be imported without handing out numbers again (nothing was changed):\n  ${listed.join('\n  ')}${more}\n` +
        'Remove these entries from the file (or change the sequences in the store) and import again.',
    );
  } finally {
    await store.close();
  }
}

export const importCommand = command({
  name: 'import',
  summary: { synopsis: 'import FILE', text: 'Load a sequences.json (or a full export) into the store' },
  usage: `Usage: take-a-number import FILE [--store STORE]

Reads a Python TakeANumber sequences.json ({"name": last_issued_value}), or
a file of 'export --format full', and raises each counter to its value; a
counter already further along is never moved back.
An invalid file changes nothing. Refused while a server uses the store.

Options:
${settingHelp('store')}
${HELP_LINE}`,
  options: STORE_OPTION,
  positionals: { min: 1, max: 1 },
  async run({ values, positionals }, { stdout, env }) {
    const [file] = positionals as [string];
    const location = resolveStore(values.store, env);
    const summary = await importFile(file, location);
    const total = summary.created + summary.raised + summary.unchanged;
    stdout.write(
      `Imported ${total} sequences from ${file} into ${describeLocation(location)}: ` +
        `${summary.created} created, ${summary.raised} raised, ${summary.unchanged} already at or beyond the file's value` +
        `${summary.deleted > 0 ? `; ${summary.deleted} deleted names kept with the values they handed out` : ''}.\n`,
    );
  },
});
