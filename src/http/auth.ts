import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TokenCache } from '../tokens/token-cache.js';
import { allows, type Scope } from '../tokens/tokens.js';
import { AppError } from '../errors.js';
import type { TokenRecord } from '../tokens/token-store.js';
import { addressKey, tokenKey, type RateLimit } from './rate-limit.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The token scope a route needs once tokens exist (`any`: any valid token,
     * whatever its scopes: GET /token); routes without one are public.
     */
    scope?: Scope | 'any';
    /**
     * The route confines itself to a token's name prefix (the sequence list),
     * or touches no sequence (GET /token). Routes with a `name` parameter are
     * checked here; any other scoped route (e.g. /metrics, which covers every
     * sequence) refuses prefixed tokens.
     */
    confinesToPrefix?: boolean;
  }
  interface FastifyRequest {
    /** The token the request was authorized with (null: public route, or no tokens exist). */
    token: TokenRecord | null;
  }
}

const BEARER = /^Bearer[ \t]+([!-~]+)[ \t]*$/i;

/**
 * Authentication and authorization. Once any token exists, every route that
 * declares a scope needs `Authorization: Bearer <token>` with that scope
 * (`admin` implies the others); a token limited to a name prefix may only
 * touch sequences whose names start with it. Runs in onRequest, before the
 * body is read, so a refused request costs and allocates nothing.
 *
 * With a rate limit, refused requests count too: those that fail
 * authentication against their client address, those a token may not make
 * against the token. An address over its limit is refused (429) before its
 * token is even checked: guessing tokens goes no faster than the limit, and a
 * right guess among refused ones is not told apart.
 *
 * Without a token store (`tokens` undefined: an app built as a library
 * without one) there is no check, and every request's `token` is null, as
 * it is with a store that holds no token yet.
 */
export function registerAuth(app: FastifyInstance, tokens: TokenCache | undefined, limit?: RateLimit): void {
  app.decorateRequest('token', null);
  if (tokens === undefined) return;
  app.addHook('onRequest', (request, _reply, done) => {
    const scope = request.routeOptions.config.scope;
    if (scope === undefined || !tokens.enabled) {
      done();
      return;
    }
    const address = addressKey(request.ip);
    const rateLimited = (): AppError => new AppError('rate_limited', undefined, { retryAfterSeconds: 1 });
    if (limit?.exhausted(address) === true) {
      done(rateLimited());
      return;
    }
    // A refused request counts too: against its address (no valid token) or its token.
    const refuse = (key: string, error: AppError): void => done(limit === undefined || limit.take(key) ? error : rateLimited());
    const match = BEARER.exec(request.headers.authorization ?? '');
    const token = match?.[1] === undefined ? undefined : tokens.check(match[1]);
    if (token === undefined) {
      refuse(
        address,
        new AppError(
          'unauthorized',
          match === null
            ? 'This endpoint needs an API token: send Authorization: Bearer <token>.'
            : 'The API token is unknown, revoked or expired.',
        ),
      );
      return;
    }
    if (scope !== 'any' && !allows(token.scopes, scope)) {
      refuse(tokenKey(token.name), new AppError('forbidden', `The token '${token.name}' lacks the '${scope}' scope this endpoint needs.`));
      return;
    }
    if (token.prefix !== undefined && request.routeOptions.config.confinesToPrefix !== true) {
      const name = (request.params as { name?: unknown } | undefined)?.name;
      if (typeof name !== 'string') {
        refuse(
          tokenKey(token.name),
          new AppError(
            'forbidden',
            `Tokens limited to a name prefix cannot use ${request.method} ${request.routeOptions.url ?? request.url}, which covers every sequence ` +
              `(the token '${token.name}' is limited to '${token.prefix}'): use a token without a prefix.`,
          ),
        );
        return;
      }
      if (!name.startsWith(token.prefix)) {
        refuse(tokenKey(token.name), new AppError('forbidden', `The token '${token.name}' may only use sequences whose names start with '${token.prefix}'.`));
        return;
      }
    }
    request.token = token;
    done();
  });
}

/** The name prefix a request is confined to by its token, if any. */
export function tokenPrefix(request: FastifyRequest): string | undefined {
  return request.token?.prefix;
}

/** Who did it, for audit lines: the token's name, or null without tokens. */
export function actor(request: FastifyRequest): string | null {
  return request.token?.name ?? null;
}
