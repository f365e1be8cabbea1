import type { FastifyInstance } from 'fastify';

/**
 * `Cache-Control: no-store` on every answer unless its route says otherwise:
 * `/next` allocates (a shared cache would hand one number to many GET
 * clients), the other routes show live state, and errors are for one request.
 * Only the static documents (http/api-docs.ts) set their own, cacheable one,
 * which replaces this. Set when a request arrives (an onRequest hook: an onSend
 * hook would take every answer off Fastify's fast path to the socket). Errors
 * answered before routing or on the socket set it themselves (http/error-handling.ts).
 */
export function registerNoStore(app: FastifyInstance): void {
  app.addHook('onRequest', (_request, reply, done) => {
    void reply.header('Cache-Control', 'no-store');
    done();
  });
}
