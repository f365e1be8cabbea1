import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, asAppError, ERROR_CATALOGUE, errorBody, type ErrorCode } from '../errors.js';

/** Fastify's own error codes, as the catalogue names them for clients. */
const FASTIFY_CODES: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_body',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  // Raised while the router decodes the path, i.e. the sequence name (the only parameter).
  FST_ERR_BAD_URL: 'invalid_sequence_name',
  FST_ERR_MAX_PARAM_LENGTH: 'invalid_sequence_name',
};

const FRAMEWORK_MESSAGES: Readonly<Record<string, string>> = {
  FST_ERR_BAD_URL: 'Invalid sequence name: the URL is not valid percent-encoded UTF-8.',
  FST_ERR_MAX_PARAM_LENGTH: 'Invalid sequence name: it is longer than 255 bytes of UTF-8.',
};

interface ClientFacingError {
  readonly code: ErrorCode;
  readonly status: number;
  readonly message: string;
  readonly field?: string | undefined;
  readonly retryAfterSeconds?: number | undefined;
}

/** Maps any error to what the client is told; undefined for a fault of ours (500). */
function clientFacing(error: FastifyError): ClientFacingError | undefined {
  const known = asAppError(error);
  if (known !== undefined) {
    return {
      code: known.code,
      status: known.statusCode,
      message: known.message,
      field: known.field,
      retryAfterSeconds: known.retryAfterSeconds,
    };
  }
  const mapped = FASTIFY_CODES[error.code];
  if (mapped !== undefined) {
    return { code: mapped, status: ERROR_CATALOGUE[mapped].status, message: FRAMEWORK_MESSAGES[error.code] ?? ERROR_CATALOGUE[mapped].message };
  }
  if (error.validation !== undefined) {
    const code: ErrorCode = error.validationContext === 'params' ? 'invalid_sequence_name' : 'bad_request';
    return { code, status: 400, message: error.message };
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const code: ErrorCode = status === 404 ? 'not_found' : 'bad_request';
    return { code, status: code === 'not_found' ? 404 : 400, message: error.message };
  }
  return undefined;
}

/** Told the code of every error answer (GET /stats counts them). */
export type ErrorCounter = (code: ErrorCode) => void;

function sendError(reply: FastifyReply, count: ErrorCounter, code: ErrorCode, status: number, message: string, field?: string): FastifyReply {
  count(code);
  // An error is about one request: never cached (also where the onSend hook of http/caching.ts does not run).
  return reply.code(status).header('Cache-Control', 'no-store').type('application/json; charset=utf-8').send(errorBody(code, message, field));
}

/** Every error a client sees has the shape `{"error": {"code", "message"}}`, from the one catalogue. */
export function registerErrorHandling(app: FastifyInstance, count: ErrorCounter): void {
  // Fastify types the error as its own; routes throw AppError, stores StoreUnavailableError, bugs anything.
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const known = clientFacing(error);
    if (known === undefined) {
      request.log.error({ err: error }, 'unexpected error');
      return sendError(reply, count, 'internal_error', 500, ERROR_CATALOGUE.internal_error.message);
    }
    // Overload is logged once per episode by the allocator, not once per refused request.
    if (known.status >= 500 && known.code !== 'overloaded') request.log.warn({ err: error.cause ?? error }, known.message);
    if (known.retryAfterSeconds !== undefined) void reply.header('Retry-After', String(known.retryAfterSeconds));
    if (known.code === 'unauthorized') void reply.header('WWW-Authenticate', 'Bearer realm="take-a-number"');
    return sendError(reply, count, known.code, known.status, known.message, known.field);
  });
  app.addHook('onRequest', (request, _reply, done) => {
    try {
      checkRequestHeaders(request);
    } catch (error) {
      done(error as AppError);
      return;
    }
    done();
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, count, 'not_found', 404, `No route ${request.method} ${request.url.split('?')[0] ?? ''}.`),
  );
}

// What Node's server accepts as the one expectation it meets (it answers `100 Continue` itself).
const CONTINUE_EXPECTATION = /(?:^|\W)100-continue(?:$|\W)/i;

/**
 * Checks Node's server would otherwise answer itself, with an empty body: an
 * HTTP/1.1 request without `Host` (the app turns off `requireHostHeader`) and
 * an `Expect` other than `100-continue` (the app routes `checkExpectation` here).
 * Both are `400` `bad_request` in the error shape; the request does nothing.
 */
function checkRequestHeaders(request: FastifyRequest): void {
  if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
    throw new AppError('bad_request', 'An HTTP/1.1 request needs a Host header.');
  }
  const expect = request.headers.expect;
  if (expect !== undefined && !CONTINUE_EXPECTATION.test(expect)) {
    throw new AppError('bad_request', 'Unsupported Expect header: only 100-continue is supported.');
  }
}

/** Fastify's `frameworkErrors` option: errors raised before routing (a malformed URL, an over-long name). */
export function frameworkErrorHandler(count: ErrorCounter) {
  return (error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void => {
    const known = clientFacing(error) ?? { code: 'bad_request', status: 400, message: error.message };
    void sendError(reply, count, known.code, known.status, known.message);
  };
}

/** Fastify's `clientErrorHandler` option: requests Node's HTTP parser rejects. */
export function clientErrorHandler(count: ErrorCounter) {
  return (error: Error & { code?: string }, socket: Socket): void => answerClientError(error, socket, count);
}

function answerClientError(error: Error & { code?: string }, socket: Socket, count: ErrorCounter): void {
  if (!socket.writable) return;
  const code: ErrorCode = error.code === 'HPE_HEADER_OVERFLOW' ? 'headers_too_large' : 'bad_request';
  count(code);
  const { status, message } = ERROR_CATALOGUE[code];
  const body = JSON.stringify(errorBody(code, message));
  socket.end(
    `HTTP/1.1 ${status} ${code === 'bad_request' ? 'Bad Request' : 'Request Header Fields Too Large'}\r\n` +
      'Connection: close\r\nCache-Control: no-store\r\nContent-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
