import { TakeANumberError } from './errors.js';
import { parseJson, stringifyJson, type JsonValue } from './json.js';

/** How a request may be retried after a failure that may succeed later. */
export type RetryPolicy =
  /** Network errors, timeouts, 503 and 429: the request is safe to repeat (reads, idempotent writes, keyed allocations). */
  | 'safe'
  /** Only 429 (the server did nothing): a repeat of the request after a lost answer could do harm (reset, delete). */
  | 'refused_only';

export interface TransportSettings {
  readonly url: string;
  readonly token: string | undefined;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly fetch: typeof fetch;
}

export interface Call {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** The path with its query, names already percent-encoded. */
  readonly path: string;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  readonly retry: RetryPolicy;
  /** Aborts the call (and its waits between attempts) with a `closed` error. */
  readonly signal?: AbortSignal;
}

export interface Answer {
  readonly status: number;
  /** The body, integers as bigints; undefined for an empty body (204). */
  readonly body: JsonValue | undefined;
  readonly headers: Headers;
}

/** `Retry-After` in seconds: a number of seconds or an HTTP date. */
function retryAfterSeconds(header: string | null): number | undefined {
  if (header === null) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - Date.now()) / 1000);
}

function closedError(): TakeANumberError {
  return new TakeANumberError('closed', 'The request was cancelled (the buffer was closed).');
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(closedError());
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(closedError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The error an answer of 400 or more stands for. */
function answerError(status: number, text: string, headers: Headers): TakeANumberError {
  const retryAfter = retryAfterSeconds(headers.get('retry-after'));
  let error: unknown;
  try {
    error = (parseJson(text) as { error?: unknown }).error;
  } catch {
    error = undefined;
  }
  if (typeof error === 'object' && error !== null) {
    const { code, message, field } = error as { code?: unknown; message?: unknown; field?: unknown };
    if (typeof code === 'string') {
      return new TakeANumberError(code, typeof message === 'string' ? message : code, {
        status,
        ...(typeof field === 'string' ? { field } : {}),
        ...(retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter }),
      });
    }
  }
  // Not the service's error shape (a proxy's page, say): named by its status.
  return new TakeANumberError('unexpected_response', `HTTP ${status}: ${text.slice(0, 200)}`, {
    status,
    ...(retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter }),
  });
}

/** HTTP to one TakeANumber server: JSON both ways with exact 64-bit integers, a timeout per attempt, retries. */
export class Transport {
  constructor(readonly settings: TransportSettings) {}

  /** One attempt: the answer (status < 400) or a TakeANumberError. */
  async attempt(call: Call): Promise<Answer> {
    const { settings } = this;
    const headers: Record<string, string> = { accept: 'application/json', ...call.headers };
    if (settings.token !== undefined) headers.authorization = `Bearer ${settings.token}`;
    let body: string | undefined;
    if (call.body !== undefined) {
      body = stringifyJson(call.body);
      headers['content-type'] = 'application/json';
    }
    const controller = new AbortController();
    // An object, not a let: the flag is set in the timer's callback.
    const deadline: { passed: boolean } = { passed: false };
    const timer = setTimeout(() => {
      deadline.passed = true;
      controller.abort();
    }, settings.timeoutMs);
    const onAbort = (): void => controller.abort();
    call.signal?.addEventListener('abort', onAbort, { once: true });
    let status: number;
    let text: string;
    let responseHeaders: Headers;
    try {
      if (call.signal?.aborted === true) throw closedError();
      const response = await settings.fetch(`${settings.url}${call.path}`, { method: call.method, headers, body, signal: controller.signal });
      status = response.status;
      responseHeaders = response.headers;
      text = await response.text();
    } catch (cause) {
      if (deadline.passed) throw new TakeANumberError('timeout', `No answer from ${settings.url} within ${settings.timeoutMs} ms.`, { cause });
      if (call.signal?.aborted === true) throw closedError();
      const reason = cause instanceof Error && cause.cause instanceof Error ? cause.cause.message : String(cause);
      throw new TakeANumberError('network_error', `Could not reach ${settings.url}: ${reason}`, { cause });
    } finally {
      clearTimeout(timer);
      call.signal?.removeEventListener('abort', onAbort);
    }
    if (status >= 400) throw answerError(status, text, responseHeaders);
    if (text === '') return { status, body: undefined, headers: responseHeaders };
    try {
      return { status, body: parseJson(text), headers: responseHeaders };
    } catch (cause) {
      throw new TakeANumberError('unexpected_response', `HTTP ${status} with a body that is not JSON: ${text.slice(0, 200)}`, { status, cause });
    }
  }

  /** The call, retried on failures that may succeed later (per its policy), waiting between attempts. */
  async send(call: Call): Promise<Answer> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await this.attempt(call);
      } catch (error) {
        if (!(error instanceof TakeANumberError) || attempt >= this.settings.retries || !this.mayRetry(call, error)) throw error;
        await sleep(this.delayMs(attempt, error), call.signal);
      }
    }
  }

  mayRetry(call: Call, error: TakeANumberError): boolean {
    if (call.retry === 'safe') return error.retryable;
    return error.status === 429;
  }

  /** Full-jitter exponential backoff, never less than the server's Retry-After. */
  delayMs(attempt: number, error: TakeANumberError): number {
    const { retryBaseMs, retryMaxMs } = this.settings;
    const backoff = Math.random() * Math.min(retryMaxMs, retryBaseMs * 2 ** attempt);
    const asked = error.retryAfterSeconds === undefined ? 0 : error.retryAfterSeconds * 1000;
    return asked + backoff;
  }
}
