import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors.js';

/**
 * `--rate-limit N`: at most N requests a second per token (per client
 * address when no token is used), counted in fixed one-second windows on this
 * instance. Applies to the API routes (those with a scope); health checks and
 * docs are never limited. Runs in onRequest after authentication, so a
 * limited request is answered before its body is read and takes nothing.
 */
export function registerRateLimit(app: FastifyInstance, perSecond: number): void {
  let windowStart = 0;
  let counts = new Map<string, number>();
  app.addHook('onRequest', (request, _reply, done) => {
    if (request.routeOptions.config.scope === undefined) {
      done();
      return;
    }
    const now = Date.now();
    if (now - windowStart >= 1000) {
      // A new window: the whole map goes, so it never holds more than one second of clients.
      windowStart = now;
      counts = new Map();
    }
    const key = request.token === null ? `ip:${request.ip}` : `token:${request.token.name}`;
    const count = (counts.get(key) ?? 0) + 1;
    counts.set(key, count);
    if (count > perSecond) {
      done(new AppError('rate_limited', undefined, { retryAfterSeconds: 1 }));
      return;
    }
    done();
  });
}
