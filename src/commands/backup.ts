import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { resolveStore } from '../config.js';
import { helpOption } from '../help.js';
import { SERVE_SETTINGS } from '../settings.js';
import { describeLocation, type StoreLocation } from '../store/open-store.js';
import { COPY_SIDE_FILES, CopyCheckError, SqliteSnapshot } from '../store/sqlite/backup.js';
import { replaceFile } from './atomic-file.js';
import { CliError, command, HELP_LINE, STORE_OPTION } from './command.js';
import { checkDestination, DestinationError } from './destination.js';

/** The backup cannot be made (a PostgreSQL store, a bad FILE); the message says why. Exit status 1. */
export class BackupError extends CliError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 1, options);
    this.name = 'BackupError';
  }
}

export interface BackupSummary {
  /** Absolute path of the backup written. */
  readonly file: string;
  /** The store copied, as messages name it. */
  readonly store: string;
  readonly sequences: number;
  readonly bytes: number;
}

/**
 * `take-a-number backup FILE`: a consistent copy of a SQLite store, made
 * with SQLite's online backup API beside a running server (the store is
 * opened read-only and checked first). The copy goes to a temporary file
 * beside FILE, is checked, fsynced, then renamed over FILE.
 */
export async function backupStore(location: StoreLocation, file: string, cwd: string = process.cwd()): Promise<BackupSummary> {
  if (location.kind !== 'sqlite') {
    throw new BackupError(
      `take-a-number backup copies SQLite stores; ${describeLocation(location)} is a PostgreSQL database. ` +
        "Back it up with PostgreSQL's own tools (pg_dump, or your provider's snapshots and point-in-time recovery), " +
        "or write its sequences with 'take-a-number export --format full'.",
    );
  }
  const target = resolve(cwd, file);
  try {
    checkDestination(target, location.path, { verb: 'back up', noun: 'the backup' });
  } catch (error) {
    if (error instanceof DestinationError) throw new BackupError(error.message, { cause: error });
    throw error;
  }
  const snapshot = SqliteSnapshot.open(location.path);
  let sequences = 0;
  try {
    await replaceFile(
      target,
      async (temporary) => {
        sequences = await snapshot.copyTo(temporary);
      },
      COPY_SIDE_FILES,
    );
    const { size } = await stat(target);
    return { file: target, store: describeLocation(location), sequences, bytes: size };
  } catch (error) {
    if (error instanceof BackupError) throw error;
    if (error instanceof CopyCheckError) throw new BackupError(error.message, { cause: error });
    throw new BackupError(`Cannot write the backup to ${target}: ${(error as Error).message}`, { cause: error });
  } finally {
    snapshot.close();
  }
}

const { store } = SERVE_SETTINGS;

export const backupCommand = command({
  name: 'backup',
  summary: { synopsis: 'backup FILE', text: 'Copy a SQLite store to FILE, also while a server uses it' },
  usage: `Usage: take-a-number backup FILE [--store STORE]

Copies a SQLite store to FILE while a server may be using it: a consistent
snapshot (SQLite's online backup API), checked, written to a temporary file,
fsynced, then renamed over FILE. The copy is a store: 'serve --store FILE'
opens it. Restoring it moves counters back to the snapshot; see the README
(Backup and restore). For PostgreSQL stores use pg_dump.

Options:
${helpOption('--store STORE', `sqlite:PATH of an existing store (env ${store.env},
else ${store.fallbackEnv}; default ${store.default} in the
working directory)`)}
${HELP_LINE}`,
  options: STORE_OPTION,
  positionals: { min: 1, max: 1 },
  async run({ values, positionals }, { stdout, env }) {
    const [file] = positionals as [string];
    const summary = await backupStore(resolveStore(values.store, env), file);
    stdout.write(`Backed up ${summary.sequences} sequences from ${summary.store} to ${summary.file} (${summary.bytes} bytes).\n`);
  },
});
