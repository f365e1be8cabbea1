/**
 * Every failure of the client is a TakeANumberError. An answer of the server
 * keeps its `code`, `message` and `field`; a failure to get an answer has
 * the client's own codes, `network_error` and `timeout` (status 0).
 */
export class TakeANumberError extends Error {
  /** The server's error code (`sequence_not_found`, `invalid_options`, …) or the client's own. */
  readonly code: string;
  /** The HTTP status, or 0 when no answer came (`network_error`, `timeout`, `closed`). */
  readonly status: number;
  /** The option or field at fault, where the server names one (`invalid_options`). */
  readonly field: string | undefined;
  /**
   * True when the same request may succeed later: `network_error`, `timeout`,
   * a `503` or a `429`. False for every other answer.
   */
  readonly retryable: boolean;
  /** Seconds the server asked to wait (`Retry-After`), when it did. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: string,
    message: string,
    options: { status?: number; field?: string; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TakeANumberError';
    this.code = code;
    this.status = options.status ?? 0;
    this.field = options.field;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.retryable = code === 'network_error' || code === 'timeout' || this.status === 503 || this.status === 429;
  }
}
