import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { generateToken, hashToken, type Scope } from '../../src/tokens/tokens.js';
import { tempDir } from './temp.js';

/**
 * The real app on a real SQLite file with API tokens in its store, reloaded
 * every 25 ms, for `app.inject()` tests of authentication and rate limits.
 */
export interface Harness {
  readonly app: FastifyInstance;
  readonly store: SqliteStore;
  readonly dir: string;
  readonly logs: string[];
  /** Creates a token in the store and returns it (the app sees it after its next refresh). */
  add(name: string, scopes: Scope[], extra?: { prefix?: string; expiresAt?: number }): Promise<string>;
  close(): Promise<void>;
}

/** A harness with these tokens in the store before the app starts; `token(name)` gives each one back. */
export async function harness(
  options: { rateLimit?: number; trustProxy?: boolean | string[]; tokens?: [string, Scope[], { prefix?: string; expiresAt?: number }?][] } = {},
) {
  const dir = tempDir();
  const store = SqliteStore.open(join(dir, 'tokens.db'), { mode: 'write' });
  const add = async (name: string, scopes: Scope[], extra: { prefix?: string; expiresAt?: number } = {}): Promise<string> => {
    const token = generateToken();
    await store.tokens.createToken({ name, hash: hashToken(token), scopes, prefix: extra.prefix, createdAt: Date.now(), expiresAt: extra.expiresAt });
    return token;
  };
  const created = new Map<string, string>();
  for (const [name, scopes, extra] of options.tokens ?? []) created.set(name, await add(name, scopes, extra));
  const logs: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(chunk.toString());
      callback();
    },
  });
  const app = await buildApp({
    store,
    tokens: store.tokens,
    tokenRefreshMs: 25,
    rateLimit: options.rateLimit,
    trustProxy: options.trustProxy,
    logger: { level: 'info', stream },
  });
  await app.ready();
  const h: Harness = {
    app,
    store,
    dir,
    logs,
    add,
    async close() {
      await app.close();
      await store.close();
    },
  };
  return { h, token: (name: string) => created.get(name) as string };
}

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
