import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';

/** A request id a client (or a proxy) may choose: 1 to 128 printable ASCII characters. */
const SANE_REQUEST_ID = /^[\x20-\x7e]{1,128}$/;

let lastId = 0;

/**
 * The id of a request: its `X-Request-Id` header when that is sane, else a
 * new one (`req-` and a counter, as Fastify's own ids). Fastify's
 * `requestIdHeader` would take any value the client sends, unchecked.
 */
export function requestId(request: IncomingMessage): string {
  const given = request.headers['x-request-id'];
  if (typeof given === 'string' && SANE_REQUEST_ID.test(given)) return given;
  // Within the small integers V8 keeps unboxed; wraps after 2^31 requests.
  lastId = (lastId + 1) & 0x7fffffff;
  return `req-${lastId.toString(36)}`;
}

/**
 * Request ids: every request-scoped log line carries `reqId` (Fastify's
 * request logger), taken from a sane incoming `X-Request-Id` or generated,
 * and every answer carries it back as `X-Request-Id`.
 */
export function registerRequestIds(app: FastifyInstance): void {
  app.setGenReqId(requestId);
  app.addHook('onRequest', (request, reply, done) => {
    void reply.header('X-Request-Id', request.id);
    done();
  });
}
