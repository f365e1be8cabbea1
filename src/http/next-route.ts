import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Allocator } from '../core/allocator.js';
import type { Grant } from '../core/gapless.js';
import type { AnswerLabels } from '../core/periodic.js';
import type { Metrics } from '../metrics.js';
import { AppError } from '../errors.js';
import { checkSequenceName } from '../core/sequence-name.js';
import { parseCount, parseIdempotencyKey } from './inputs.js';
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
      if (allocation.replayed) {
        options.metrics.replayed();
        void reply.header('Idempotent-Replayed', 'true');
      } else {
        options.metrics.allocated(name, requestCount === undefined ? 1 : Number(requestCount));
        if (allocation.tookExpired) options.metrics.reservationSettled('expired');
      }
      if (allocation.grant !== undefined) return gaplessAnswer(name, allocation.first, allocation.grant, requestCount, allocation.labels);
      // Sequences with periods or a format only: a plain answer stays as it was, at no cost.
      if (allocation.labels !== undefined) return labelledAnswer(name, allocation.first, allocation.last, requestCount, allocation.labels);
      if (requestCount === undefined) return { sequence_id: name, next_value: allocation.first };
      return { sequence_id: name, next_value: allocation.first, last_value: allocation.last, count: requestCount };
    },
  });
}

/** The fields of an answer's period and formatted numbers (`last_formatted` for batches only). */
export function labelFields(labels: AnswerLabels | undefined, batch: boolean): Pick<NextResponse, 'period' | 'formatted' | 'last_formatted'> {
  if (labels === undefined) return {};
  return {
    ...(labels.period === undefined ? {} : { period: labels.period }),
    ...(labels.formatted === undefined ? {} : { formatted: labels.formatted }),
    ...(batch && labels.lastFormatted !== undefined ? { last_formatted: labels.lastFormatted } : {}),
  };
}

/** A value (or batch) of a sequence with periods or a format: the plain answer and its labels. */
function labelledAnswer(name: string, first: bigint, last: bigint, requestCount: bigint | undefined, labels: AnswerLabels): NextResponse {
  if (requestCount === undefined) return { sequence_id: name, next_value: first, ...labelFields(labels, false) };
  return { sequence_id: name, next_value: first, last_value: last, count: requestCount, ...labelFields(labels, true) };
}

/** A gapless sequence's value comes with its reservation (count is 1 there: the allocator refuses more), and its labels. */
function gaplessAnswer(name: string, value: bigint, grant: Grant, requestCount: bigint | undefined, labels: AnswerLabels | undefined): NextResponse {
  const reservation = { reservation: grant.id, expires_at: new Date(grant.expiresAt).toISOString() };
  if (requestCount === undefined) return { sequence_id: name, next_value: value, ...reservation, ...labelFields(labels, false) };
  return { sequence_id: name, next_value: value, last_value: value, count: requestCount, ...reservation, ...labelFields(labels, true) };
}
