import { resolve } from 'node:path';
import { redactUrl } from './postgres/connection.js';
import { PostgresStore } from './postgres/postgres-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import { openChecked } from './sqlite/open.js';
import { LATEST_SCHEMA_VERSION } from './sqlite/migrations.js';
import { SqliteTokens } from './sqlite/sqlite-tokens.js';
import { StoreLockedError, StoreOpenError, type SequenceStore } from '../core/store.js';
import type { TokenStore } from '../tokens/token-store.js';

export const DEFAULT_STORE = 'sqlite:takeanumber.db';

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

/** How the store is named in messages (PostgreSQL passwords redacted). */
export function describeLocation(location: StoreLocation): string {
  return location.kind === 'sqlite' ? `sqlite:${location.path}` : redactUrl(location.url);
}

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

export interface OpenOptions {
  /** `write`: serve and import (SQLite: the writer lock; PostgreSQL: migrations run). `read`: export. */
  readonly mode: 'write' | 'read';
  readonly poolSize?: number;
  readonly statementTimeoutMs?: number;
  readonly onIdleError?: (error: Error) => void;
}

/** A store as opened: the sequence contract, and the API tokens kept beside the sequences. */
export type OpenedStore = SequenceStore & { readonly tokens: TokenStore };

export async function openStore(location: StoreLocation, options: OpenOptions): Promise<OpenedStore> {
  if (location.kind === 'sqlite') return SqliteStore.open(location.path, { mode: options.mode });
  return PostgresStore.open(
    { url: location.url, poolSize: options.poolSize ?? 10, statementTimeoutMs: options.statementTimeoutMs ?? 2000 },
    { migrate: options.mode === 'write', onIdleError: options.onIdleError ?? (() => undefined) },
  );
}

/**
 * The token table of a store, for `token create|list|revoke`, which work
 * while a server runs on the store. A SQLite store whose writer lock is free
 * is opened as `import` opens it (created and migrated if need be); one held
 * by a server gets a second connection: tokens live in their own table, and
 * SQLite's locking orders the two writers.
 */
export async function openTokenStore(location: StoreLocation): Promise<{ tokens: TokenStore; close(): Promise<void> }> {
  if (location.kind === 'postgres') return openStore(location, { mode: 'write' });
  try {
    return SqliteStore.open(location.path, { mode: 'write' });
  } catch (error) {
    if (!(error instanceof StoreLockedError)) throw error;
  }
  const db = openChecked(location.path, 'write');
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version !== LATEST_SCHEMA_VERSION) {
    db.close();
    throw new StoreOpenError(
      `The store ${location.path} is served by a take-a-number with schema version ${version}; this one needs ` +
        `${LATEST_SCHEMA_VERSION}. Upgrade the server first (it migrates the store at start).`,
    );
  }
  db.pragma('busy_timeout = 5000');
  // Only the server checkpoints, checked and recorded (file-guard.ts).
  db.pragma('wal_autocheckpoint = 0');
  const transaction = db.transaction((work: () => unknown) => work());
  return {
    tokens: new SqliteTokens(db, <T>(work: () => T) => transaction.immediate(work) as T),
    close: () => {
      db.close();
      return Promise.resolve();
    },
  };
}
