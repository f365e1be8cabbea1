import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { resolveStore } from '../config.js';
import { helpOption } from '../help.js';
import { SERVE_SETTINGS } from '../settings.js';
import { describeLocation, type StoreLocation } from '../store/open-store.js';
import { openChecked } from '../store/sqlite/open.js';
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
 * Pages per step of the online backup after the first: more than any store
 * has, so the whole copy is made in one step, inside one read transaction of
 * the source. That is what makes it a snapshot: in WAL mode the reader never
 * blocks the server's commits, and a step that copies everything cannot be
 * restarted half-way by them.
 */
const ALL_PAGES = 0x7fffffff;

/**
 * Checks the copy as `serve` would check it (a TakeANumber store, a known
 * schema version, SQLite's quick check), switches it to a rollback journal
 * so the file stands alone (serve switches it back to WAL), and counts its
 * sequences.
 */
function verifyCopy(path: string): number {
  let db: Database.Database;
  try {
    db = openChecked(path, 'write');
  } catch (error) {
    throw new BackupError(`The copy ${path} failed its check, so no backup was written: ${(error as Error).message}`, { cause: error });
  }
  try {
    db.pragma('journal_mode = DELETE');
    return db.prepare('SELECT count(*) FROM sequences').pluck().get() as number;
  } finally {
    db.close();
  }
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
  const source = openChecked(location.path, 'read');
  let sequences = 0;
  try {
    // SQLite may leave a -journal, -wal or -shm beside the copy if it fails half-way.
    await replaceFile(
      target,
      async (temporary) => {
        try {
          await source.backup(temporary, { progress: () => ALL_PAGES });
        } catch (error) {
          throw new BackupError(`Cannot write the backup to ${target}: ${(error as Error).message}`, { cause: error });
        } finally {
          source.close();
        }
        sequences = verifyCopy(temporary);
      },
      ['-journal', '-wal', '-shm'],
    );
    const { size } = await stat(target);
    return { file: target, store: describeLocation(location), sequences, bytes: size };
  } catch (error) {
    if (error instanceof BackupError) throw error;
    throw new BackupError(`Cannot write the backup to ${target}: ${(error as Error).message}`, { cause: error });
  } finally {
    if (source.open) source.close();
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
