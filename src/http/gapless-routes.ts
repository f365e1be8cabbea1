import type { FastifyInstance } from 'fastify';
import type { Allocator } from '../core/allocator.js';
import { AppError } from '../errors.js';
import { isReservationId, type SettleAction, type ValueView } from '../core/gapless.js';
import type { SequenceStore } from '../core/store.js';
import type { Metrics, ReservationOutcome } from '../metrics.js';
import { labelFields } from './next-answer.js';
import { nameOf } from './sequence-routes.js';
import { decodeValueCursor, encodeValueCursor, parseLimit, parseValueState, parseVoidReason } from './inputs.js';
import {
  BEARER,
  errorResponses,
  ReservationParams,
  SequenceParams,
  SettledResponse,
  ValuesQuery,
  ValuesResponse,
  VoidInput,
  type ValueEntry,
} from './schemas.js';

/** What each action is called in metrics. */
const OUTCOME: Readonly<Record<SettleAction, ReservationOutcome>> = { confirm: 'confirmed', release: 'released', void: 'voided' };

const SUMMARY: Readonly<Record<SettleAction, string>> = {
  confirm: 'Confirm a gapless reservation: its value is used, for good',
  release: 'Release a gapless reservation: its value is unused and handed out again (lowest first)',
  void: 'Void a gapless reservation: its value is used and cancelled, on record with its reason, never handed out again',
};

/** A value as the listing shows it: never its reservation id (a read token must not be able to settle it). */
function valueEntry(view: ValueView): ValueEntry {
  return {
    value: view.value,
    state: view.state,
    ...(view.state === 'reserved' && view.expiresAt !== undefined ? { expires_at: new Date(view.expiresAt).toISOString() } : {}),
    ...(view.state === 'void' ? { reason: view.reason ?? null } : {}),
    updated_at: new Date(view.updatedAt).toISOString(),
    ...(view.labels?.period === undefined ? {} : { period: view.labels.period }),
    ...(view.labels?.formatted === undefined ? {} : { formatted: view.labels.formatted }),
  };
}

/**
 * The gapless routes (core/gapless.ts has the rules): confirm, release and
 * void of a reservation, committed through the allocator like /next (group
 * commit, durable before the answer), and the listing of a sequence's values
 * that are not confirmed.
 */
export function registerGaplessRoutes(app: FastifyInstance, allocator: Allocator, store: SequenceStore, metrics: Metrics): void {
  for (const action of ['confirm', 'release', 'void'] as const) {
    app.post<{ Params: ReservationParams; Reply: SettledResponse }>(
      `/sequences/:name/reservations/:id/${action}`,
      {
        // The reservation id is the capability; the token needs the scope that takes values.
        config: { scope: 'next' },
        schema: {
          tags: ['gapless'],
          security: BEARER,
          summary: SUMMARY[action],
          description:
            'Final: the same action again answers the same 200 at any time; another action is 409 reservation_settled. ' +
            'After the lease ended (expires_at) an open reservation is 409 reservation_expired. ' +
            'An id this sequence never issued (or an unknown or non-gapless sequence) is 404 reservation_not_found.' +
            (action === 'void' ? ' Takes an optional JSON body {"reason": "…"} (at most 500 characters), echoed as reason.' : ' Takes no body.'),
          params: ReservationParams,
          ...(action === 'void' ? { body: VoidInput } : {}),
          response: { 200: SettledResponse, ...errorResponses },
        },
      },
      async (request) => {
        const name = nameOf(request.params);
        const { id } = request.params;
        // Not of the shape of any id we issue: not one of ours, and the store need not be asked.
        if (!isReservationId(id)) throw new AppError('reservation_not_found', `Sequence '${name}' issued no reservation '${id}'.`);
        const reason = action === 'void' ? parseVoidReason(request.body) : undefined;
        const settled = await allocator.settle({ name, id, action, reason });
        if (!settled.replayed) metrics.reservationSettled(OUTCOME[action]);
        return {
          sequence_id: name,
          value: settled.value,
          state: settled.state,
          ...(settled.state === 'void' ? { reason: settled.reason ?? null } : {}),
          ...labelFields(settled.labels, false),
        };
      },
    );
  }

  app.get<{ Params: SequenceParams; Querystring: ValuesQuery; Reply: ValuesResponse }>(
    '/sequences/:name/values',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['gapless'],
        security: BEARER,
        summary: "A gapless sequence's values that are not confirmed (reserved, free, void), ascending, a page at a time",
        description:
          'A reservation past its lease shows as free at once. Never shows reservation ids. A sequence that is not gapless has none.',
        params: SequenceParams,
        querystring: ValuesQuery,
        response: { 200: ValuesResponse, ...errorResponses },
      },
    },
    async (request) => {
      const name = nameOf(request.params);
      const query = request.query as Record<string, unknown>;
      const state = parseValueState(query.state);
      const limit = parseLimit(query.limit);
      const after = decodeValueCursor(query.cursor);
      const page = await store.listValues(name, { state, after, limit: limit + 1 });
      if (page === undefined) throw new AppError('sequence_not_found', `No sequence '${name}'.`);
      const more = page.length > limit;
      const shown = more ? page.slice(0, limit) : page;
      const last = shown[shown.length - 1];
      return { values: shown.map(valueEntry), next_cursor: more && last !== undefined ? encodeValueCursor(last.labels?.period ?? '', last.value) : null };
    },
  );
}
