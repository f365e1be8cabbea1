import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, asAppError, ERROR_CATALOGUE, errorBody, type ErrorBody, type ErrorCode } from '../errors.js';

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

/** What an error is answered with: the catalogue's code and status, the headers beside the body's, the body. */
export interface ErrorAnswer {
  readonly code: ErrorCode;
  readonly status: number;
  /** Cache-Control (an error is about one request: never cached), and Retry-After or WWW-Authenticate where they apply. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: ErrorBody;
}

/**
 * The answer to any error a request ended with, logged as the service logs
 * errors (`log` is the request's): a bug at error level with its stack (500
 * `internal_error`), a fault of the store at warn with its cause, overload
 * not at all (the allocator logs it once per episode). Fastify's error
 * handler and the /next fast path (next-fast-path.ts) both answer with it.
 */
export function errorAnswer(error: FastifyError, log: FastifyBaseLogger): ErrorAnswer {
  const known = clientFacing(error);
  if (known === undefined) {
    log.error({ err: error }, 'unexpected error');
    return { code: 'internal_error', status: 500, headers: { 'cache-control': 'no-store' }, body: errorBody('internal_error') };
  }
  if (known.status >= 500 && known.code !== 'overloaded') log.warn({ err: error.cause ?? error }, known.message);
  const headers: Record<string, string> = { 'cache-control': 'no-store' };
  if (known.retryAfterSeconds !== undefined) headers['retry-after'] = String(known.retryAfterSeconds);
  if (known.code === 'unauthorized') headers['www-authenticate'] = 'Bearer realm="take-a-number"';
  return { code: known.code, status: known.status, headers, body: errorBody(known.code, known.message, known.field) };
}

/** Every error a client sees has the shape `{"error": {"code", "message"}}`, from the one catalogue. */
export function registerErrorHandling(app: FastifyInstance, count: ErrorCounter): void {
  // Fastify types the error as its own; routes throw AppError, stores StoreUnavailableError, bugs anything.
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const answer = errorAnswer(error, request.log);
    count(answer.code);
    return reply.code(answer.status).headers(answer.headers).type('application/json; charset=utf-8').send(answer.body);
  });
  app.addHook('onRequest', (request, _reply, done) => {
    const problem = requestHeadersProblem(request.raw);
    if (problem === undefined) done();
    else done(problem);
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
export function requestHeadersProblem(request: IncomingMessage): AppError | undefined {
  if (request.httpVersion === '1.1' && request.headers.host === undefined) {
    return new AppError('bad_request', 'An HTTP/1.1 request needs a Host header.');
  }
  const expect = request.headers.expect;
  if (expect !== undefined && !CONTINUE_EXPECTATION.test(expect)) {
    return new AppError('bad_request', 'Unsupported Expect header: only 100-continue is supported.');
  }
  return undefined;
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
