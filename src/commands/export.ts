import { createWriteStream } from 'node:fs';
import { Readable, type Writable } from 'node:stream';
import { resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { resolveStore } from '../config.js';
import { helpOption } from '../help.js';
import { SERVE_SETTINGS } from '../settings.js';
import { openStore, type StoreLocation } from '../store/open-store.js';
import { allSequences, lastIssuedValues } from '../core/paging.js';
import type { SequenceRecord, SequenceStore } from '../core/store.js';
import { replaceFile } from './atomic-file.js';
import { command, DEFAULT_POOL, HELP_LINE, STORE_OPTION, UsageError } from './command.js';
import { checkDestination } from './destination.js';
import { FULL_FORMAT, FULL_FORMAT_VERSION, fullFormatEntry, fullFormatTombstone } from './full-format.js';

const CHUNK_CHARS = 64 * 1024;

/** The store as the Python service's `sequences.json`: `{"name": last_issued_value}`, exact integers. */
async function* sequencesJson(store: SequenceStore): AsyncGenerator<string> {
  let chunk = '';
  let count = 0;
  for await (const [name, lastValue] of lastIssuedValues(store)) {
    chunk += `${count === 0 ? '{\n' : ',\n'}  ${JSON.stringify(name)}: ${lastValue}`;
    count += 1;
    if (chunk.length >= CHUNK_CHARS) {
      yield chunk;
      chunk = '';
    }
  }
  yield count === 0 ? '{}\n' : `${chunk}\n}\n`;
}

/**
 * The full format: every option, the exact position and the high-water marks
 * of each sequence, then the deleted names with theirs, a page at a time.
 */
async function* fullJson(store: SequenceStore): AsyncGenerator<string> {
  let chunk = `{"format": "${FULL_FORMAT}", "version": ${FULL_FORMAT_VERSION}, "sequences": [`;
  for (const [deleted, entry] of [[false, liveEntry], [true, tombstoneEntry]] as const) {
    if (deleted) chunk += '\n], "deleted": [';
    let count = 0;
    for await (const record of allSequences(store, { deleted })) {
      const line = await entry(store, record);
      if (line === undefined) continue;
      chunk += `${count === 0 ? '\n' : ',\n'}  ${line}`;
      count += 1;
      if (chunk.length >= CHUNK_CHARS) {
        yield chunk;
        chunk = '';
      }
    }
  }
  yield `${chunk}\n]}\n`;
}

/**
 * A live sequence's entry; a gapless one with its values and open
 * reservations. Beside a running server those are read after its row was
 * listed, so the row is read again after them: every value they hold then
 * lies within the position written (undefined: deleted meanwhile, its
 * tombstone follows).
 */
async function liveEntry(store: SequenceStore, record: SequenceRecord): Promise<string | undefined> {
  if (!record.options.gapless) return fullFormatEntry(record);
  const gapless = await store.readGapless(record.name);
  const current = await store.getSequence(record.name);
  if (current === undefined) return undefined;
  // Turned off meanwhile (possible only with nothing reserved or free): a plain entry.
  if (!current.options.gapless) return fullFormatEntry(current);
  // Turned on meanwhile: read it again, as the gapless sequence it is now.
  if (gapless === undefined) return liveEntry(store, current);
  return fullFormatEntry(current, gapless);
}

const tombstoneEntry = (_store: SequenceStore, record: SequenceRecord): Promise<string> => Promise.resolve(fullFormatTombstone(record));

export type ExportFormat = 'plain' | 'full';

/**
 * `take-a-number export [FILE]`: reads the store (beside a running server)
 * and writes it to FILE, atomically (atomic-file.ts), or to `out` when no
 * file is given.
 */
export async function exportSequences(
  location: StoreLocation,
  file: string | undefined,
  out: Writable,
  format: ExportFormat = 'plain',
): Promise<void> {
  const chunks = (store: SequenceStore): AsyncGenerator<string> => (format === 'full' ? fullJson(store) : sequencesJson(store));
  // Never over the store's own files (the rename would replace them), as backup refuses: DestinationError, exit status 1.
  if (file !== undefined) checkDestination(resolve(file), location.kind === 'sqlite' ? location.path : undefined, { verb: 'export', noun: 'the export' });
  const store = await openStore(location, { ...DEFAULT_POOL, mode: 'read' });
  try {
    if (file === undefined) {
      await pipeline(Readable.from(chunks(store)), out, { end: false });
      return;
    }
    await replaceFile(file, (temporary) => pipeline(Readable.from(chunks(store)), createWriteStream(temporary)));
  } finally {
    await store.close();
  }
}

const { store } = SERVE_SETTINGS;

export const exportCommand = command({
  name: 'export',
  summary: { synopsis: 'export [FILE]', text: 'Write the store as sequences.json (to stdout without FILE)' },
  usage: `Usage: take-a-number export [FILE] [--format plain|full] [--store STORE]

Writes the store to FILE (replaced atomically) or to stdout. Works while a
server uses the store.

Options:
${helpOption('--format plain', `(default) the Python service's sequences.json:
{"name": last_issued_value}`)}
${helpOption('--format full', `every sequence with all its options and exact position,
for moving between stores (SQLite to PostgreSQL); import
reads either format`)}
${helpOption('--store STORE', `sqlite:PATH of an existing store, or postgres://… (env
${store.env}, else ${store.fallbackEnv}; default ${store.default}
in the working directory)`)}
${HELP_LINE}`,
  options: { ...STORE_OPTION, format: { type: 'string' } },
  positionals: { min: 0, max: 1 },
  async run({ values, positionals: [file] }, { stdout, stderr, env }) {
    const format = values.format ?? 'plain';
    if (format !== 'plain' && format !== 'full') throw new UsageError(`--format must be plain or full, got '${format}'.`);
    await exportSequences(resolveStore(values.store, env), file, stdout, format);
    if (file !== undefined) stderr.write(`Exported the store to ${file}.\n`);
  },
});
