import { resolve } from 'node:path';
import { StoreOpenError, type SequenceStore } from '../core/store.js';
import type { TokenStore } from '../tokens/token-store.js';
import { redactUrl } from './postgres/connection.js';
import { PostgresStore } from './postgres/postgres-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';

/**
 * Where stores are and how they open: a store setting's scheme leads to its
 * kind, and each kind knows how to read the rest of the setting, how to name
 * the store in messages, and how to open it (its sequences, or only its
 * tokens). A new kind of store is a new row of STORE_KINDS.
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

/** PostgreSQL's connection pool: serve's settings, or their defaults (SERVE_DEFAULTS in settings.ts) for the other commands. */
export interface PoolOptions {
  readonly poolSize: number;
  readonly statementTimeoutMs: number;
}

export interface OpenOptions extends PoolOptions {
  /** `write`: serve and import (SQLite: the writer lock; PostgreSQL: migrations run). `read`: export. */
  readonly mode: 'write' | 'read';
  readonly onIdleError?: (error: Error) => void;
}

/** A store as opened: the sequence contract, and the API tokens kept beside the sequences. */
export type OpenedStore = SequenceStore & { readonly tokens: TokenStore };

/** A store's tokens alone (`token create|list|revoke`, beside a running server). */
export interface OpenedTokens {
  readonly tokens: TokenStore;
  close(): Promise<void>;
}

interface StoreKind<L extends StoreLocation> {
  /** The setting's schemes (lower case) that name this kind. */
  readonly schemes: readonly string[];
  /** The location a setting names (`cwd` for relative paths). */
  locate(setting: string, cwd: string): L;
  /** How messages and logs name it (never with a password). */
  describe(location: L): string;
  open(location: L, options: OpenOptions): Promise<OpenedStore>;
  openTokens(location: L, options: PoolOptions): Promise<OpenedTokens>;
}

const SQLITE: StoreKind<Extract<StoreLocation, { kind: 'sqlite' }>> = {
  schemes: ['sqlite'],
  locate(setting, cwd) {
    // `sqlite:PATH` or `sqlite://PATH` (relative to cwd; `sqlite:///abs/path` is absolute), or a plain path.
    const rest = /^sqlite:/i.test(setting) ? setting.slice('sqlite:'.length) : setting;
    const path = rest.startsWith('//') && rest !== setting ? rest.slice(2) : rest;
    if (path === '' || path === ':memory:') {
      throw new StoreOpenError(`The store '${setting}' names no file: expected sqlite:PATH.`);
    }
    return { kind: 'sqlite', path: resolve(cwd, path) };
  },
  describe: (location) => `sqlite:${location.path}`,
  open: (location, options) => Promise.resolve(SqliteStore.open(location.path, { mode: options.mode })),
  openTokens: (location) => Promise.resolve(SqliteStore.openTokens(location.path)),
};

const POSTGRES: StoreKind<Extract<StoreLocation, { kind: 'postgres' }>> = {
  schemes: ['postgres', 'postgresql'],
  locate(setting) {
    try {
      new URL(setting);
    } catch {
      throw new StoreOpenError(`The PostgreSQL URL is malformed: expected postgres://user:password@host:port/database.`);
    }
    return { kind: 'postgres', url: setting };
  },
  describe: (location) => redactUrl(location.url),
  open: (location, options) =>
    PostgresStore.open(
      { url: location.url, poolSize: options.poolSize, statementTimeoutMs: options.statementTimeoutMs },
      { migrate: options.mode === 'write', onIdleError: options.onIdleError ?? (() => undefined) },
    ),
  openTokens: (location, options) => POSTGRES.open(location, { ...options, mode: 'write' }),
};

/** Every kind of store, by the `kind` of its locations. */
const STORE_KINDS = { sqlite: SQLITE, postgres: POSTGRES } as const;

type KindOf<L extends StoreLocation> = StoreKind<L>;
const kindOf = <L extends StoreLocation>(location: L): KindOf<L> => STORE_KINDS[location.kind] as unknown as KindOf<L>;

/**
 * Reads a store setting: `sqlite:PATH` or `sqlite://PATH` (relative to the
 * working directory; `sqlite:///abs/path` is absolute), a plain file path, or
 * a `postgres://` / `postgresql://` URL.
 */
export function parseStoreLocation(setting: string, cwd: string = process.cwd()): StoreLocation {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(setting)?.[1]?.toLowerCase();
  // No scheme, or a one-letter one (a Windows drive letter): a plain path to a SQLite file.
  if (scheme === undefined || scheme.length === 1) return SQLITE.locate(setting, cwd);
  const kind = Object.values(STORE_KINDS).find((candidate) => candidate.schemes.includes(scheme));
  if (kind === undefined) {
    throw new StoreOpenError(`Unknown store '${setting}': expected sqlite:PATH or postgres://user:password@host:port/database.`);
  }
  return kind.locate(setting, cwd);
}

/** How the store is named in messages (PostgreSQL passwords redacted). */
export function describeLocation(location: StoreLocation): string {
  return kindOf(location).describe(location);
}

export function openStore(location: StoreLocation, options: OpenOptions): Promise<OpenedStore> {
  return kindOf(location).open(location, options);
}

/** The token table of a store, for `token create|list|revoke`, which work while servers run on the store. */
export function openTokenStore(location: StoreLocation, options: PoolOptions): Promise<OpenedTokens> {
  return kindOf(location).openTokens(location, options);
}
