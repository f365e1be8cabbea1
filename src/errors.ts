import { StoreUnavailableError } from './core/store.js';

/**
 * The one catalogue of errors a client can see. Every code is stable: clients
 * match on `code`, people read `message`. README.md documents each of them
 * (a test checks that it does).
 */
export const ERROR_CATALOGUE = {
  bad_request: { status: 400, message: 'The request is malformed.' },
  invalid_sequence_name: {
    status: 400,
    message: 'A sequence name is 1 to 255 bytes of UTF-8 without control characters.',
  },
  invalid_body: { status: 400, message: 'The request body is not valid JSON.' },
  invalid_options: { status: 400, message: 'The sequence options are not valid.' },
  invalid_count: { status: 400, message: 'count must be a whole number from 1 to the server limit.' },
  invalid_cursor: { status: 400, message: 'The cursor is not one this server handed out.' },
  invalid_idempotency_key: {
    status: 400,
    message: 'An Idempotency-Key is 1 to 255 printable ASCII characters.',
  },
  not_found: { status: 404, message: 'No such route.' },
  sequence_not_found: { status: 404, message: 'No such sequence.' },
  reservation_not_found: { status: 404, message: 'This sequence issued no reservation with that id.' },
  reservation_expired: {
    status: 409,
    message: 'The reservation expired before it was confirmed, released or voided; its value may be handed out again.',
  },
  reservation_settled: {
    status: 409,
    message: 'The reservation was already settled by another action (confirm, release or void).',
  },
  sequence_exhausted: { status: 409, message: 'The sequence has no values left within its bounds.' },
  options_conflict: { status: 409, message: 'The change conflicts with the values the sequence has handed out.' },
  would_reissue: {
    status: 409,
    message: 'The reset moves the sequence back over values already handed out; send "force": true to do it anyway.',
  },
  unauthorized: {
    status: 401,
    message: 'This endpoint needs a valid API token: send Authorization: Bearer <token>.',
  },
  forbidden: { status: 403, message: 'The API token does not allow this.' },
  payload_too_large: { status: 413, message: 'The request body is too large.' },
  idempotency_key_reused: {
    status: 422,
    message: 'This Idempotency-Key was used for a different request (another sequence or count).',
  },
  unsupported_media_type: { status: 415, message: 'The request body has an unsupported content type.' },
  rate_limited: { status: 429, message: 'Too many requests; retry after the delay in Retry-After.' },
  headers_too_large: { status: 431, message: 'The request headers are too large.' },
  internal_error: { status: 500, message: 'An unexpected error occurred; it has been logged.' },
  store_unavailable: { status: 503, message: 'The store cannot be used right now; try again.' },
  shutting_down: { status: 503, message: 'The server is shutting down; try another instance or retry.' },
  overloaded: {
    status: 503,
    message: 'The server has too many requests waiting; retry after the delay in Retry-After.',
  },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export const ERROR_CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

/** An error with a catalogued code; the HTTP layer turns it into `{"error": {code, message}}`. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  /** The input field at fault, where there is one (`invalid_options`). */
  readonly field: string | undefined;
  /** Seconds for a `Retry-After` header, where waiting is the remedy. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: ErrorCode,
    message: string = ERROR_CATALOGUE[code].message,
    options?: ErrorOptions & { field?: string; retryAfterSeconds?: number },
  ) {
    super(message, options);
    this.name = 'AppError';
    this.code = code;
    this.statusCode = ERROR_CATALOGUE[code].status;
    this.field = options?.field;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; field?: string };
}

export function errorBody(code: ErrorCode, message: string = ERROR_CATALOGUE[code].message, field?: string): ErrorBody {
  return { error: field === undefined ? { code, message } : { code, message, field } };
}

/**
 * What a client is told of an error, in the catalogue's terms: an AppError
 * as it is, a fault of the store as `503` `store_unavailable` (retry after a
 * second); undefined for anything else, which is a bug of ours (a 500, logged
 * with its stack). The one place where store faults meet HTTP.
 */
export function asAppError(error: unknown): AppError | undefined {
  if (error instanceof AppError) return error;
  if (error instanceof StoreUnavailableError) {
    return new AppError('store_unavailable', error.clientMessage, { cause: error, retryAfterSeconds: 1 });
  }
  return undefined;
}
