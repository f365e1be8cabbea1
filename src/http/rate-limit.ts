import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors.js';

/**
 * `--rate-limit N`: at most N requests a second per key, counted in fixed
 * one-second windows on this instance. Keys are `token:NAME` for requests
 * authorized with a token and `ip:ADDRESS` for the others: every request while
 * no token exists, and, once tokens exist, every request that fails
 * authentication (see http/auth.ts).
 */
export class RateLimit {
  readonly #perSecond: number;
  #windowStart = 0;
  #counts = new Map<string, number>();

  constructor(perSecond: number) {
    this.#perSecond = perSecond;
  }

  #window(): Map<string, number> {
    const now = Date.now();
    if (now - this.#windowStart >= 1000) {
      // A new window: the whole map goes, so it never holds more than one second of clients.
      this.#windowStart = now;
      this.#counts = new Map();
    }
    return this.#counts;
  }

  /** Counts a request of `key`; false if it is over the limit in this window. */
  take(key: string): boolean {
    const counts = this.#window();
    const count = (counts.get(key) ?? 0) + 1;
    counts.set(key, count);
    return count <= this.#perSecond;
  }

  /** Whether `key` has used up this window (counts nothing). */
  exhausted(key: string): boolean {
    return (this.#window().get(key) ?? 0) >= this.#perSecond;
  }
}

/** The key of a request that has no token (or whose token failed): its client address. */
export function addressKey(ip: string): string {
  return `ip:${ip}`;
}

/** The key of a request authorized with a token. */
export function tokenKey(name: string): string {
  return `token:${name}`;
}

/**
 * Limits the API routes (those with a scope); health checks and docs are never
 * limited. Runs in onRequest after authentication, so a limited request is
 * answered before its body is read and takes nothing.
 */
export function registerRateLimit(app: FastifyInstance, limit: RateLimit): void {
  app.addHook('onRequest', (request, _reply, done) => {
    if (request.routeOptions.config.scope === undefined) {
      done();
      return;
    }
    const key = request.token === null ? addressKey(request.ip) : tokenKey(request.token.name);
    if (!limit.take(key)) {
      done(new AppError('rate_limited', undefined, { retryAfterSeconds: 1 }));
      return;
    }
    done();
  });
}
