import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Allocator } from '../core/allocator.js';
import type { Metrics } from '../metrics.js';
import { AppError } from '../errors.js';
import { checkSequenceName } from '../core/sequence-name.js';
import { parseCount, parseIdempotencyKey } from './inputs.js';
import { countAllocation, nextAnswer } from './next-answer.js';
import { BEARER, errorResponses, NextQuery, NextResponse, SequenceParams } from './schemas.js';

export interface NextRouteOptions {
  /** Create unknown sequences on first use (else 404 sequence_not_found). */
  readonly autoCreate: boolean;
  /** The largest `count` one request may take. */
  readonly maxCount: number;
  /** Counts the numbers handed out, idempotent replays and refusals. */
  readonly metrics: Metrics;
}

/**
 * `/next/{name}`: the original service's API, unchanged without `count`.
 * POST is the recommended form; `?count=N` takes a contiguous batch, and an
 * `Idempotency-Key` header makes a retry return the first answer.
 */
export function registerNextRoute(app: FastifyInstance, allocator: Allocator, options: NextRouteOptions): void {
  app.route<{ Params: SequenceParams; Querystring: NextQuery; Reply: NextResponse }>({
    method: ['POST', 'GET'],
    url: '/next/:name',
    // Fastify would add HEAD for GET; a HEAD (a crawler, a monitor) must never take a number.
    exposeHeadRoute: false,
    config: { scope: 'next' },
    schema: {
      tags: ['allocate'],
      security: BEARER,
      summary: 'Take the next value (or ?count=N consecutive values) of a sequence',
      description:
        'Creates an unknown sequence with default options (unless the server runs with --no-auto-create). ' +
        'Without count the answer is {sequence_id, next_value}; with count it adds last_value and count. ' +
        'Send an Idempotency-Key header to make retries safe: a repeat gets the first answer and ' +
        'Idempotent-Replayed: true. POST is recommended; GET is kept for compatibility. ' +
        'On a gapless sequence the value is a reservation: the answer adds reservation and expires_at, and count may only be 1.',
      headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255 })) }),
      params: SequenceParams,
      querystring: NextQuery,
      response: { 200: NextResponse, ...errorResponses },
    },
    async handler(request, reply) {
      const { name } = request.params;
      // The router matches `/next/` with an empty name; the original answers 404 there.
      if (name === '') throw new AppError('not_found', 'No sequence name given: use /next/{name}.');
      checkSequenceName(name);
      const requestCount = parseCount((request.query as Record<string, unknown>).count, options.maxCount);
      const key = parseIdempotencyKey(request.headers['idempotency-key'], request.raw.rawHeaders);
      let allocation;
      try {
        allocation = await allocator.allocate({
          name,
          count: requestCount ?? 1n,
          create: options.autoCreate,
          idempotency: key === undefined ? undefined : { key, requestCount },
        });
      } catch (error) {
        options.metrics.refused(error);
        throw error;
      }
      countAllocation(options.metrics, name, allocation, requestCount);
      if (allocation.replayed) void reply.header('Idempotent-Replayed', 'true');
      return nextAnswer(name, allocation, requestCount);
    },
  });
}
