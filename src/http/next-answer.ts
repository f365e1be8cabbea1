import fastJson from 'fast-json-stringify';
import type { Allocation } from '../core/allocator.js';
import type { Grant } from '../core/gapless.js';
import type { AnswerLabels } from '../core/periodic.js';
import type { Metrics } from '../metrics.js';
import { NextResponse } from './schemas.js';

/**
 * What a `/next/{name}` request that took values is answered with, and what
 * it counts: shared by the route (next-route.ts) and its fast path
 * (next-fast-path.ts), so both answer alike.
 */

/** The fields of an answer's period and formatted numbers (`last_formatted` for batches only). */
export function labelFields(labels: AnswerLabels | undefined, batch: boolean): Pick<NextResponse, 'period' | 'formatted' | 'last_formatted'> {
  if (labels === undefined) return {};
  return {
    ...(labels.period === undefined ? {} : { period: labels.period }),
    ...(labels.formatted === undefined ? {} : { formatted: labels.formatted }),
    ...(batch && labels.lastFormatted !== undefined ? { last_formatted: labels.lastFormatted } : {}),
  };
}

/** The answer to an allocation of `name` (`requestCount`: the request's `?count`, if it gave one). */
export function nextAnswer(name: string, allocation: Allocation, requestCount: bigint | undefined): NextResponse {
  if (allocation.grant !== undefined) return gaplessAnswer(name, allocation.first, allocation.grant, requestCount, allocation.labels);
  // Sequences with periods or a format only: a plain answer stays as it was, at no cost.
  if (allocation.labels !== undefined) return labelledAnswer(name, allocation.first, allocation.last, requestCount, allocation.labels);
  if (requestCount === undefined) return { sequence_id: name, next_value: allocation.first };
  return { sequence_id: name, next_value: allocation.first, last_value: allocation.last, count: requestCount };
}

/**
 * The JSON text of an answer, as Fastify writes it for the route: the same
 * library (fast-json-stringify) compiled from the same schema, which writes
 * bigints digit for digit.
 */
export const serializeNextAnswer: (answer: NextResponse) => string = fastJson(NextResponse);

/** Counts an allocation in the metrics: a replay, or the numbers handed out (and a gapless lease it took over). */
export function countAllocation(metrics: Metrics, name: string, allocation: Allocation, requestCount: bigint | undefined): void {
  if (allocation.replayed) {
    metrics.replayed();
    return;
  }
  metrics.allocated(name, requestCount === undefined ? 1 : Number(requestCount));
  if (allocation.tookExpired) metrics.reservationSettled('expired');
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
