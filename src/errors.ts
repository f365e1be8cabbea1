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
  not_found: { status: 404, message: 'No such route.' },
  sequence_exhausted: { status: 409, message: 'The sequence has reached its maximum value.' },
  payload_too_large: { status: 413, message: 'The request body is too large.' },
  unsupported_media_type: { status: 415, message: 'The request body has an unsupported content type.' },
  headers_too_large: { status: 431, message: 'The request headers are too large.' },
  internal_error: { status: 500, message: 'An unexpected error occurred; it has been logged.' },
  store_unavailable: { status: 503, message: 'The store cannot be used right now; try again.' },
  shutting_down: { status: 503, message: 'The server is shutting down; try another instance or retry.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export const ERROR_CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

/** An error with a catalogued code; the HTTP layer turns it into `{"error": {code, message}}`. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;

  constructor(code: ErrorCode, message: string = ERROR_CATALOGUE[code].message, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AppError';
    this.code = code;
    this.statusCode = ERROR_CATALOGUE[code].status;
  }
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

export function errorBody(code: ErrorCode, message: string = ERROR_CATALOGUE[code].message): ErrorBody {
  return { error: { code, message } };
}
