import { resolve } from 'node:path';
import { SqliteStore } from './sqlite/sqlite-store.js';
import { StoreOpenError, type SequenceStore } from './store.js';

export const DEFAULT_STORE = 'sqlite:takeanumber.db';

export interface StoreLocation {
  readonly kind: 'sqlite';
  /** Absolute path of the SQLite file. */
  readonly path: string;
}

/**
 * Reads a store setting: `sqlite:PATH` or `sqlite://PATH` (relative to the
 * working directory; `sqlite:///abs/path` is absolute), or a plain file path.
 */
export function parseStoreLocation(setting: string, cwd: string = process.cwd()): StoreLocation {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(setting)?.[1]?.toLowerCase();
  // A one-letter "scheme" is a Windows drive letter, part of a plain path.
  if (scheme === undefined || scheme.length === 1) return sqliteAt(setting, setting, cwd);
  if (scheme === 'sqlite') {
    const rest = setting.slice('sqlite:'.length);
    return sqliteAt(rest.startsWith('//') ? rest.slice(2) : rest, setting, cwd);
  }
  if (scheme === 'postgres' || scheme === 'postgresql') {
    throw new StoreOpenError('PostgreSQL stores are not supported by this version of take-a-number; use sqlite:PATH.');
  }
  throw new StoreOpenError(`Unknown store '${setting}': expected sqlite:PATH.`);
}

function sqliteAt(path: string, setting: string, cwd: string): StoreLocation {
  if (path === '' || path === ':memory:') {
    throw new StoreOpenError(`The store '${setting}' names no file: expected sqlite:PATH.`);
  }
  return { kind: 'sqlite', path: resolve(cwd, path) };
}

export function openStore(location: StoreLocation, mode: 'write' | 'read'): SequenceStore {
  return SqliteStore.open(location.path, { mode });
}
