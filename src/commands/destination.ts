import { lstatSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { CliError } from './command.js';

/**
 * The FILE a command was told to write cannot be written: it is the store
 * itself or one of its files, or its folder is missing, or it is a folder.
 * The message says why; exit status 1, nothing written.
 */
export class DestinationError extends CliError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 1, options);
    this.name = 'DestinationError';
  }
}

/** Files SQLite and the writer lock keep beside a store: never a command's output. */
const COMPANIONS = ['', '-wal', '-shm', '-journal', '.lock', '.lock-journal'];

function sameFile(a: string, b: string): boolean {
  try {
    const [x, y] = [statSync(a), statSync(b)];
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

function realOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/**
 * Where `path` leads: through its symbolic links (also one whose target does
 * not exist yet, such as a -wal between two runs) and its folder's.
 */
function resolved(path: string, depth = 0): string {
  try {
    return realpathSync(path);
  } catch {
    // Missing, or a link to a missing file.
  }
  try {
    if (depth < 40 && lstatSync(path).isSymbolicLink()) return resolved(resolve(dirname(path), readlinkSync(path)), depth + 1);
  } catch {
    // Missing: resolved through its folder below.
  }
  return join(realOrSelf(dirname(path)), basename(path));
}

export interface Output {
  /** What the command does to the store, for messages: `back up`, `export`. */
  readonly verb: string;
  /** What it writes, for messages: `the backup`, `the export`. */
  readonly noun: string;
}

/**
 * Refuses `target` (absolute) if it is the SQLite store at `store` or one of
 * its files, by whatever path (`..`, symbolic links to the file or its
 * folder, a hard link), or if it cannot be written: its folder is missing or
 * not a folder, or it is a folder. `store` is undefined for PostgreSQL.
 */
export function checkDestination(target: string, store: string | undefined, output: Output): void {
  if (store !== undefined) {
    const realTarget = resolved(target);
    const realStore = realOrSelf(store);
    for (const suffix of COMPANIONS) {
      const file = store + suffix;
      if (target === file || realTarget === resolved(file) || realTarget === realStore + suffix || sameFile(target, file)) {
        throw new DestinationError(
          `Cannot ${output.verb} the store ${store} to ${target}: that is ${suffix === '' ? 'the store itself' : `the store's ${suffix} file`}. ` +
            'Give a path outside the store, for example on another disk.',
        );
      }
    }
  }
  const folder = dirname(target);
  let folderStats;
  try {
    folderStats = statSync(folder);
  } catch (error) {
    throw new DestinationError(`Cannot write ${output.noun} to ${target}: the folder ${folder} does not exist (${(error as Error).message}).`, {
      cause: error,
    });
  }
  if (!folderStats.isDirectory()) throw new DestinationError(`Cannot write ${output.noun} to ${target}: ${folder} is not a folder.`);
  let isFolder = false;
  try {
    isFolder = statSync(target).isDirectory();
  } catch {
    // No such file yet: it will be created.
  }
  if (isFolder) throw new DestinationError(`Cannot write ${output.noun} to ${target}: it is a folder; name a file.`);
}
