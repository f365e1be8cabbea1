import type Database from 'better-sqlite3';
import type { Scope } from '../../tokens/tokens.js';
import { settle } from './settle.js';
import { TokenNameTakenError, type NewToken, type TokenRecord, type TokenStore } from '../../tokens/token-store.js';

type TokenRow = [string, string, string, string | null, bigint, bigint | null, bigint | null];

const optionalTime = (value: bigint | null): number | undefined => (value === null ? undefined : Number(value));

/** Runs `work` as one write transaction of the store (for a server, with the checks of its files: file-guard.ts). */
export type WriteTransaction = <T>(work: () => T) => T;

/** API tokens in the `api_tokens` table of a SQLite store (schema version 3). */
export class SqliteTokens implements TokenStore {
  readonly #db: Database.Database;
  readonly #write: WriteTransaction;

  constructor(db: Database.Database, write: WriteTransaction) {
    this.#db = db;
    this.#write = write;
  }

  createToken(token: NewToken): Promise<void> {
    return settle(() => {
      try {
        this.#write(() =>
          this.#db
            .prepare('INSERT INTO api_tokens (name, token_hash, scopes, name_prefix, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)')
            .run(token.name, token.hash, token.scopes.join(' '), token.prefix ?? null, token.createdAt, token.expiresAt ?? null),
        );
      } catch (error) {
        if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new TokenNameTakenError(token.name);
        throw error;
      }
    });
  }

  listTokens(): Promise<TokenRecord[]> {
    return settle(() => {
      const rows = this.#db
        .prepare('SELECT name, token_hash, scopes, name_prefix, created_at, expires_at, last_used_at FROM api_tokens ORDER BY name')
        .raw(true)
        .safeIntegers(true)
        .all() as TokenRow[];
      return rows.map(([name, hash, scopes, prefix, createdAt, expiresAt, lastUsedAt]) => ({
        name,
        hash,
        scopes: scopes.split(' ') as Scope[],
        prefix: prefix ?? undefined,
        createdAt: Number(createdAt),
        expiresAt: optionalTime(expiresAt),
        lastUsedAt: optionalTime(lastUsedAt),
      }));
    });
  }

  revokeToken(name: string): Promise<boolean> {
    return settle(() => this.#write(() => this.#db.prepare('DELETE FROM api_tokens WHERE name = ?').run(name).changes > 0));
  }

  recordUse(used: ReadonlyMap<string, number>): Promise<void> {
    return settle(() => {
      const update = this.#db.prepare('UPDATE api_tokens SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE name = ?');
      this.#write(() => {
        for (const [name, at] of used) update.run(at, name);
      });
    });
  }
}
