import { resolve } from 'node:path';
import { StoreOpenError } from '../core/store.js';

/**
 * Where a store is, as a store setting names it (--store, TAKEANUMBER_STORE,
 * DATABASE_URL). Apart from open-store.ts so that reading settings needs
 * none of the stores' code.
 */
export type StoreLocation =
  | {
      readonly kind: 'sqlite';
      /** Absolute path of the SQLite file. */
      readonly path: string;
    }
  | {
      readonly kind: 'postgres';
      readonly url: string;
    };

/**
 * Reads a store setting: `sqlite:PATH` or `sqlite://PATH` (relative to the
 * working directory; `sqlite:///abs/path` is absolute), a plain file path, or
 * `postgres://` / `postgresql://` URL.
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
    try {
      new URL(setting);
    } catch {
      throw new StoreOpenError(`The PostgreSQL URL is malformed: expected postgres://user:password@host:port/database.`);
    }
    return { kind: 'postgres', url: setting };
  }
  throw new StoreOpenError(`Unknown store '${setting}': expected sqlite:PATH or postgres://user:password@host:port/database.`);
}

function sqliteAt(path: string, setting: string, cwd: string): StoreLocation {
  if (path === '' || path === ':memory:') {
    throw new StoreOpenError(`The store '${setting}' names no file: expected sqlite:PATH.`);
  }
  return { kind: 'sqlite', path: resolve(cwd, path) };
}
