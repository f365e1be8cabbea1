import type { FastifyInstance } from 'fastify';

/**
 * `Cache-Control: no-store` on every answer that does not say otherwise:
 * `/next` allocates (a shared cache would hand one number to many GET
 * clients), the other routes show live state, and errors are for one request.
 * Only the static documents (http/api-docs.ts) set their own, cacheable one.
 * Errors set it themselves too (http/error-handling.ts), also those answered
 * before routing or on the socket.
 */
export function registerNoStore(app: FastifyInstance): void {
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (!reply.hasHeader('cache-control')) void reply.header('Cache-Control', 'no-store');
    done(null, payload);
  });
}
