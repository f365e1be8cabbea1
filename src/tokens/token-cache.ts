import type { TokenRecord, TokenStore } from './token-store.js';
import { hashToken } from './tokens.js';

export const DEFAULT_TOKEN_REFRESH_MS = 2000;

/**
 * The tokens of the store, held in memory and reloaded every couple of
 * seconds, so checking a request costs a hash and a map lookup, never a store
 * round trip, and a token created or revoked on any instance counts
 * everywhere within one refresh. Last-use times are gathered in memory and
 * written at each refresh.
 *
 * A lookup is by the SHA-256 of the presented token: how long it takes
 * depends on that hash, which an attacker cannot steer towards a real token's,
 * so it leaks nothing about the tokens held.
 */
export class TokenCache {
  readonly #store: TokenStore;
  readonly #refreshMs: number;
  readonly #onError: (error: unknown) => void;
  #byHash = new Map<string, TokenRecord>();
  #used = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> | undefined;

  constructor(store: TokenStore, options: { refreshMs?: number; onError?: (error: unknown) => void } = {}) {
    this.#store = store;
    this.#refreshMs = options.refreshMs ?? DEFAULT_TOKEN_REFRESH_MS;
    this.#onError = options.onError ?? (() => undefined);
  }

  /** Loads the tokens (rejects if the store cannot be read), then keeps them fresh. */
  async start(): Promise<void> {
    await this.refresh();
    this.#timer = setInterval(() => {
      this.refresh().catch(this.#onError);
    }, this.#refreshMs);
    this.#timer.unref();
  }

  /** Whether requests need a token: once any token exists (expired ones included). */
  get enabled(): boolean {
    return this.#byHash.size > 0;
  }

  /** The token's record if it is known and not expired; notes its use. */
  check(token: string, now: number = Date.now()): TokenRecord | undefined {
    const record = this.#byHash.get(hashToken(token));
    if (record === undefined || (record.expiresAt !== undefined && record.expiresAt <= now)) return undefined;
    this.#used.set(record.name, now);
    return record;
  }

  /** Writes pending last-use times and reloads the tokens; one at a time. */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#refresh().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  async #refresh(): Promise<void> {
    if (this.#used.size > 0) {
      const used = this.#used;
      this.#used = new Map();
      // Last-use times are informative: failing to write them must not keep tokens stale.
      await this.#store.recordUse(used).catch(this.#onError);
    }
    const tokens = await this.#store.listTokens();
    this.#byHash = new Map(tokens.map((token) => [token.hash, token]));
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#refreshing?.catch(() => undefined);
    if (this.#used.size > 0) await this.#store.recordUse(this.#used).catch(this.#onError);
  }
}
