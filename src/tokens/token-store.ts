import type { Scope } from './tokens.js';

/**
 * The API token contract. Stores keep tokens beside the sequences (so every
 * instance of a PostgreSQL deployment sees the same ones), and only as a
 * SHA-256 hash: the token itself is shown once, by `token create`, and never
 * written anywhere.
 */
export interface TokenRecord {
  readonly name: string;
  /** SHA-256 of the token, hex. */
  readonly hash: string;
  readonly scopes: readonly Scope[];
  /** Only sequence names starting with this, when set. */
  readonly prefix: string | undefined;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
  readonly expiresAt: number | undefined;
  readonly lastUsedAt: number | undefined;
}

export type NewToken = Omit<TokenRecord, 'lastUsedAt'>;

export interface TokenStore {
  /** Adds a token; rejects with TokenNameTakenError when one of that name exists. */
  createToken(token: NewToken): Promise<void>;
  /** Every token, ordered by name. */
  listTokens(): Promise<TokenRecord[]>;
  /** Deletes the named token; false when there was none. */
  revokeToken(name: string): Promise<boolean>;
  /** Records when tokens were last used (by name, ms since epoch), never moving a time back. */
  recordUse(used: ReadonlyMap<string, number>): Promise<void>;
}

export class TokenNameTakenError extends Error {
  constructor(name: string) {
    super(`A token named '${name}' exists already; revoke it first or pick another name.`);
    this.name = 'TokenNameTakenError';
  }
}
