import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TokenRecord } from '../tokens/token-store.js';
import { SCOPES, type Scope } from '../tokens/tokens.js';
import { BEARER, errorResponses } from './schemas.js';

const NullableString = (description: string, format?: string) =>
  Type.Unsafe<string | null>({ type: 'string', ...(format === undefined ? {} : { format }), nullable: true, description });

export const TokenView = Type.Object({
  name: Type.String({ description: 'The name it was created with (token create --name).' }),
  scopes: Type.Array(Type.Unsafe<Scope>({ type: 'string', enum: [...SCOPES] }), {
    description: 'Its scopes, as created: admin implies read and next.',
  }),
  prefix: NullableString('Only sequences whose names start with this; null for every sequence.'),
  created_at: Type.String({ format: 'date-time' }),
  expires_at: NullableString('When it stops being accepted; null for never.', 'date-time'),
});
export type TokenView = Static<typeof TokenView>;

export const TokenResponse = Type.Object({
  tokens_required: Type.Boolean({ description: 'Whether the API needs a token: once any token exists (expired ones included).' }),
  token: Type.Unsafe<TokenView | null>({
    ...TokenView,
    nullable: true,
    description: 'The token this request was sent with; null when no token is required (a token sent then is not checked).',
  }),
});
export type TokenResponse = Static<typeof TokenResponse>;

/** What GET /token shows of a token: never the token or its hash, nor its last use (the store's, up to a refresh old). */
export function tokenView(token: TokenRecord): TokenView {
  return {
    name: token.name,
    scopes: [...token.scopes],
    prefix: token.prefix ?? null,
    created_at: new Date(token.createdAt).toISOString(),
    expires_at: token.expiresAt === undefined ? null : new Date(token.expiresAt).toISOString(),
  };
}

/**
 * `GET /token`: what the caller's token may do, so a client (the console)
 * learns its scopes and prefix without trying a request that would be
 * refused. Any valid token may ask, whatever its scopes or prefix (it shows
 * the token itself and no sequence); without one, once tokens exist, it is
 * 401 like every route, and it counts against the rate limit like them.
 */
export function registerTokenRoute(app: FastifyInstance): void {
  app.get<{ Reply: TokenResponse }>(
    '/token',
    {
      // It touches no sequence, so a token confined to a prefix may ask too.
      config: { scope: 'any', confinesToPrefix: true },
      schema: {
        tags: ['tokens'],
        security: BEARER,
        summary: "The caller's token: whether one is required, and its name, scopes and prefix",
        description:
          'Any valid token may ask, whatever its scopes. Without tokens (none exists) it answers tokens_required false and token null. ' +
          'Never shows the token itself or its hash.',
        response: { 200: TokenResponse, ...errorResponses },
      },
    },
    (request) => {
      // http/auth.ts set the token once tokens exist (else null).
      const token = request.token;
      return { tokens_required: token !== null, token: token === null ? null : tokenView(token) };
    },
  );
}
