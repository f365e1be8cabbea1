import type { Grant } from './gapless.js';
import type { AnswerLabels } from './periodic.js';
import type { AllocationOutcome, AllocationRequest } from './store.js';

/**
 * The idempotency-key rule, for every store. Keys are per sequence: a key is
 * the pair (sequence name, key). The first request with a key allocates and
 * records its answer in the same commit; a later request with the same key
 * on the same sequence replays that answer if it is the same request (the
 * same `count`, given or not), and is refused (`key_reused`) otherwise.
 */

/** The answer recorded for a key. */
export interface RecordedAnswer {
  /** The `count` the first request sent; undefined when it sent none. */
  readonly requestCount: bigint | undefined;
  readonly first: bigint;
  readonly last: bigint;
  /** A gapless sequence's reservation: a replay answers the same one (even once settled or expired). */
  readonly grant: Grant | undefined;
  /** The period and formatted numbers answered: a replay answers the same, whatever the date now. */
  readonly labels: AnswerLabels | undefined;
}

/** What a request whose key is already recorded gets. */
export function replayOrRefuse(recorded: RecordedAnswer, request: AllocationRequest): AllocationOutcome {
  return recorded.requestCount === request.idempotency?.requestCount
    ? { ok: true, first: recorded.first, last: recorded.last, replayed: true, grant: recorded.grant, tookExpired: false, labels: recorded.labels }
    : { ok: false, reason: 'key_reused' };
}

/** The answer a request records for its key, once it has taken first..last. */
export function answerOf(
  request: AllocationRequest,
  first: bigint,
  last: bigint,
  grant: Grant | undefined,
  labels: AnswerLabels | undefined,
): RecordedAnswer {
  return { requestCount: request.idempotency?.requestCount, first, last, grant, labels };
}

/**
 * A request's key as one string, to find it among a batch's: the name and
 * the key joined by a newline, which no name holds (control characters are
 * refused) and no key either (printable ASCII only).
 */
export function keyId(request: AllocationRequest): string {
  return `${request.name}\n${request.idempotency?.key ?? ''}`;
}
