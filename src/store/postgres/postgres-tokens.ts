import type pg from 'pg';
import type { Scope } from '../../tokens/tokens.js';
import { TokenNameTakenError, type NewToken, type TokenRecord, type TokenStore } from '../../tokens/token-store.js';

interface TokenRow {
  name: string;
  token_hash: string;
  scopes: string;
  name_prefix: string | null;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
}

/** API tokens in `takeanumber_api_tokens` (schema version 2). */
export class PostgresTokens implements TokenStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async createToken(token: NewToken): Promise<void> {
    try {
      await this.#pool.query(
        `INSERT INTO takeanumber_api_tokens (name, token_hash, scopes, name_prefix, created_at, expires_at)
         VALUES ($1, $2, $3, $4, to_timestamp($5::double precision / 1000), to_timestamp($6::double precision / 1000))`,
        [token.name, token.hash, token.scopes.join(' '), token.prefix ?? null, token.createdAt, token.expiresAt ?? null],
      );
    } catch (error) {
      const { code, constraint } = error as { code?: string; constraint?: string };
      if (code === '23505' && constraint === 'takeanumber_api_tokens_pkey') throw new TokenNameTakenError(token.name);
      throw error;
    }
  }

  async listTokens(): Promise<TokenRecord[]> {
    const { rows } = await this.#pool.query<TokenRow>(
      'SELECT name, token_hash, scopes, name_prefix, created_at, expires_at, last_used_at FROM takeanumber_api_tokens ORDER BY name',
    );
    return rows.map((row) => ({
      name: row.name,
      hash: row.token_hash,
      scopes: row.scopes.split(' ') as Scope[],
      prefix: row.name_prefix ?? undefined,
      createdAt: row.created_at.getTime(),
      expiresAt: row.expires_at?.getTime(),
      lastUsedAt: row.last_used_at?.getTime(),
    }));
  }

  async revokeToken(name: string): Promise<boolean> {
    const result = await this.#pool.query('DELETE FROM takeanumber_api_tokens WHERE name = $1', [name]);
    return (result.rowCount ?? 0) > 0;
  }

  async recordUse(used: ReadonlyMap<string, number>): Promise<void> {
    if (used.size === 0) return;
    await this.#pool.query(
      `UPDATE takeanumber_api_tokens t SET last_used_at = greatest(t.last_used_at, to_timestamp(u.at / 1000))
       FROM unnest($1::text[], $2::double precision[]) AS u(name, at) WHERE t.name = u.name`,
      [[...used.keys()], [...used.values()]],
    );
  }
}
