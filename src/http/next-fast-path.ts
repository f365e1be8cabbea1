import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { FastifyBaseLogger, FastifyError } from 'fastify';
import type { Allocator } from '../core/allocator.js';
import { sequenceNameProblem } from '../core/sequence-name.js';
import type { Metrics } from '../metrics.js';
import { errorAnswer, requestHeadersProblem, type ErrorCounter } from './error-handling.js';
import { parseCount } from './inputs.js';
import { countAllocation, nextAnswer, serializeNextAnswer } from './next-answer.js';
import { requestId } from './request-ids.js';

/**
 * `POST /next/{name}` (and GET) in its plainest form, answered straight from
 * the HTTP server's request event, before Fastify builds its request and
 * reply, runs its hooks and makes a child logger: the one request a service
 * like this answers tens of thousands of times a second, where that work
 * cost as much as the allocation (measured: bench/results/2026-11-30-fast-path.md).
 *
 * It takes only requests whose every other treatment would be a no-op, and
 * hands anything else to Fastify untouched (`false`): a name of letters,
 * digits and `.`, `_`, `~`, `:`, `-` only (nothing to percent-decode), no
 * query string but a valid `?count=N` alone (what the client SDK's buffer
 * sends), no body, no `Idempotency-Key`, headers Fastify would accept,
 * and a server without tokens, rate limit or per-request logs (the
 * `--log-level debug` lines). What it answers is what the route answers
 * (next-route.ts): the same answer and serializer (next-answer.ts), the same
 * errors (error-handling.ts's errorAnswer), the same headers (`X-Request-Id`
 * from request-ids.ts, `Cache-Control: no-store`), the same metrics and live
 * statistics; test/next-fast-path.test.ts compares the two request by request.
 */
export interface FastPathOptions {
  readonly allocator: Allocator;
  readonly metrics: Metrics;
  readonly countError: ErrorCounter;
  readonly autoCreate: boolean;
  /** The largest `?count=` (a larger one goes to Fastify, which refuses it). */
  readonly maxCount: number;
  readonly log: FastifyBaseLogger;
  /** False while anything must see each request (tokens exist, a rate limit, per-request logs): all go to Fastify. */
  readonly enabled: () => boolean;
}

/** The route's pattern, as the metrics label /next requests. */
const ROUTE = '/next/:name';
const PREFIX = '/next/';
/** Names the fast path takes: what needs no decoding and cannot be an invalid name but for its length. */
const PLAIN_NAME = /^[A-Za-z0-9._~:-]+$/;
/** The one query the fast path takes: `count` alone, in digits (parseCount then checks its range, as for the route). */
const COUNT_QUERY = /^count=(\d{1,16})$/;
const JSON_TYPE = 'application/json; charset=utf-8';

export type FastPath = (request: IncomingMessage, response: ServerResponse) => boolean;

export function nextFastPath(options: FastPathOptions): FastPath {
  const { allocator, metrics, countError, autoCreate, maxCount, log } = options;
  const answered = (request: IncomingMessage, response: ServerResponse, head: Record<string, string>, status: number, body: string, started: number): void => {
    response.writeHead(status, head);
    response.end(body);
    metrics.observeRequest(ROUTE, request.method ?? 'POST', status, performance.now() - started);
  };
  return (request, response) => {
    const { method, url, headers } = request;
    if ((method !== 'POST' && method !== 'GET') || url === undefined || !url.startsWith(PREFIX)) return false;
    const query = url.indexOf('?');
    const name = url.slice(PREFIX.length, query === -1 ? undefined : query);
    if (!PLAIN_NAME.test(name) || sequenceNameProblem(name) !== undefined) return false;
    const requestCount = query === -1 ? undefined : countOf(url.slice(query + 1), maxCount);
    if (requestCount === null) return false;
    if (headers['idempotency-key'] !== undefined || headers['transfer-encoding'] !== undefined) return false;
    if (headers['content-length'] !== undefined && headers['content-length'] !== '0') return false;
    if (headers.expect !== undefined || requestHeadersProblem(request) !== undefined || !options.enabled()) return false;
    const started = performance.now();
    const id = requestId(request);
    const refuse = (error: unknown): void => {
      metrics.refused(error);
      // The allocator rejects with Errors only (its refusals, the store's faults, a bug of ours).
      const refused = errorAnswer(error as FastifyError, log.child({ reqId: id }));
      countError(refused.code);
      const body = JSON.stringify(refused.body);
      const head = { 'x-request-id': id, ...refused.headers, 'content-type': JSON_TYPE, 'content-length': String(Buffer.byteLength(body)) };
      answered(request, response, head, refused.status, body, started);
    };
    // A bug of ours while answering (the values taken are skipped, never handed out again): a 500, as
    // Fastify answers a handler that throws, never an unhandled rejection; if even that fails, the connection ends.
    const failed = (error: unknown): void => {
      try {
        if (response.headersSent) response.destroy();
        else refuse(error);
      } catch {
        response.destroy();
      }
    };
    // One reaction, no further promise: each request pays for every promise of its chain.
    void allocator.allocate({ name, count: requestCount ?? 1n, create: autoCreate, idempotency: undefined }).then(
      (allocation) => {
        try {
          countAllocation(metrics, name, allocation, requestCount);
          const body = serializeNextAnswer(nextAnswer(name, allocation, requestCount));
          // In the order Fastify writes them for the route.
          const head = { 'x-request-id': id, 'cache-control': 'no-store', 'content-type': JSON_TYPE, 'content-length': String(Buffer.byteLength(body)) };
          answered(request, response, head, 200, body, started);
        } catch (error) {
          failed(error);
        }
      },
      (error: unknown) => {
        try {
          refuse(error);
        } catch (failure) {
          failed(failure);
        }
      },
    );
    return true;
  };
}

/** The count of a query the fast path takes (`count=N` alone, N valid), or null: Fastify answers it. */
function countOf(query: string, maxCount: number): bigint | null {
  const digits = COUNT_QUERY.exec(query)?.[1];
  if (digits === undefined) return null;
  try {
    return parseCount(digits, maxCount) ?? null;
  } catch {
    // Out of range: Fastify's route refuses it (invalid_count), in its one place.
    return null;
  }
}
