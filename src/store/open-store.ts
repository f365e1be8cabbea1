import { redactUrl } from './postgres/connection.js';
import { PostgresStore } from './postgres/postgres-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import { openChecked } from './sqlite/open.js';
import { LATEST_SCHEMA_VERSION } from './sqlite/migrations.js';
import { SqliteTokens } from './sqlite/sqlite-tokens.js';
import { StoreLockedError, StoreOpenError, type SequenceStore } from '../core/store.js';
import type { StoreLocation } from './location.js';
import { SERVE_DEFAULTS } from '../settings.js';
import type { TokenStore } from '../tokens/token-store.js';

export { parseStoreLocation, type StoreLocation } from './location.js';

/** How the store is named in messages (PostgreSQL passwords redacted). */
export function describeLocation(location: StoreLocation): string {
  return location.kind === 'sqlite' ? `sqlite:${location.path}` : redactUrl(location.url);
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
    { url: location.url, poolSize: options.poolSize ?? SERVE_DEFAULTS.poolSize, statementTimeoutMs: options.statementTimeoutMs ?? SERVE_DEFAULTS.statementTimeoutMs },
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
