import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { AppError } from '../errors.js';
import { peekNext } from '../core/sequence.js';
import { defineSequence, deleteSequence, resetSequence } from '../core/admin.js';
import { checkSequenceName } from '../core/sequence-name.js';
import type { SequenceRecord, SequenceStore } from '../core/store.js';
import { actor, tokenPrefix } from './auth.js';
import { decodeCursor, encodeCursor, parseForget, parseLimit, parseOptionChanges, parsePrefix, parseReset } from './inputs.js';
import {
  DeleteQuery,
  errorResponses,
  ListQuery,
  ListResponse,
  ResetInput,
  SequenceOptionsInput,
  SequenceParams,
  SequenceViewRef,
  BEARER,
  type SequenceView,
} from './schemas.js';

/** A sequence as the API shows it. With cache > 1 the values are those durably reserved. */
export function sequenceView(record: SequenceRecord): SequenceView {
  const { options, position } = record;
  return {
    name: record.name,
    last_value: position.isCalled ? position.lastValue : null,
    next_value: peekNext(position, options) ?? null,
    start: options.start,
    increment: options.increment,
    min_value: options.minValue,
    max_value: options.maxValue,
    cycle: options.cycle,
    cache: options.cache,
    gapless: options.gapless,
    lease_seconds: options.leaseSeconds,
    restart: options.restart,
    time_zone: options.timeZone,
    format: options.format,
    period: record.period?.label ?? null,
    ...gaplessSummary(record),
    created_at: new Date(record.createdAt).toISOString(),
    updated_at: new Date(record.updatedAt).toISOString(),
  };
}

/** A gapless sequence's unbroken prefix and counts (as the store read them at its now); nothing for the others. */
function gaplessSummary(record: SequenceRecord): Pick<SequenceView, 'confirmed_through' | 'reserved' | 'free'> {
  const summary = record.gapless;
  if (!record.options.gapless || summary === undefined) return {};
  return { confirmed_through: summary.confirmedThrough ?? null, reserved: summary.reserved, free: summary.free };
}

/** The `{name}` of a /sequences route, checked (an empty one is 404 not_found). */
export function nameOf(params: SequenceParams): string {
  if (params.name === '') throw new AppError('not_found', 'No sequence name given: use /sequences/{name}.');
  return checkSequenceName(params.name);
}

/** The admin API: define, inspect, list, reset and delete sequences. */
export function registerSequenceRoutes(app: FastifyInstance, store: SequenceStore): void {
  const one = { 200: SequenceViewRef, ...errorResponses };

  app.put<{ Params: SequenceParams; Reply: SequenceView }>(
    '/sequences/:name',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['sequences'],
        security: BEARER,
        summary: 'Create (201) or change (200) a sequence',
        description: 'Options not given keep their values (or PostgreSQL defaults on creation). Changing start does not move the counter.',
        params: SequenceParams,
        body: SequenceOptionsInput,
        response: { ...one, 201: SequenceViewRef },
      },
    },
    async (request, reply) => {
      const name = nameOf(request.params);
      const { created, sequence } = await defineSequence(store, name, parseOptionChanges(request.body));
      void reply.code(created ? 201 : 200);
      return sequenceView(sequence);
    },
  );

  app.get<{ Params: SequenceParams; Reply: SequenceView }>(
    '/sequences/:name',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['sequences'],
        security: BEARER,
        summary: 'Show a sequence',
        description: 'With cache > 1, last_value and next_value are those durably reserved.',
        params: SequenceParams,
        response: one,
      },
    },
    async (request) => {
      const name = nameOf(request.params);
      const record = await store.getSequence(name);
      if (record === undefined) throw new AppError('sequence_not_found', `No sequence '${name}'.`);
      return sequenceView(record);
    },
  );

  app.get<{ Querystring: ListQuery; Reply: ListResponse }>(
    '/sequences',
    {
      config: { scope: 'read', confinesToPrefix: true },
      schema: {
        tags: ['sequences'],
        security: BEARER,
        summary: 'List sequences by name, a page at a time',
        description: 'A token limited to a name prefix lists only names with that prefix (its prefix is the default; another prefix must extend it).',
        querystring: ListQuery,
        response: { 200: ListResponse, ...errorResponses },
      },
    },
    async (request) => {
      const query = request.query as Record<string, unknown>;
      const limit = parseLimit(query.limit);
      const confined = tokenPrefix(request);
      const prefix = query.prefix === undefined && confined !== undefined ? confined : parsePrefix(query.prefix);
      if (confined !== undefined && !prefix.startsWith(confined)) {
        throw new AppError('forbidden', `This token may only list sequences whose names start with '${confined}'.`);
      }
      const page = await store.listSequences({ prefix, after: decodeCursor(query.cursor), limit: limit + 1 });
      const more = page.length > limit;
      const shown = more ? page.slice(0, limit) : page;
      const last = shown[shown.length - 1];
      return { sequences: shown.map(sequenceView), next_cursor: more && last !== undefined ? encodeCursor(last.name) : null };
    },
  );

  app.post<{ Params: SequenceParams; Reply: SequenceView }>(
    '/sequences/:name/reset',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['sequences'],
        security: BEARER,
        summary: 'Set the next value (setval); moving back over handed-out values needs force',
        params: SequenceParams,
        body: ResetInput,
        response: one,
      },
    },
    async (request) => {
      const name = nameOf(request.params);
      const { nextValue, force } = parseReset(request.body);
      const sequence = sequenceView(await resetSequence(store, name, nextValue, force));
      if (force) {
        request.log.info({ audit: 'sequence.reset', sequence: name, next_value: String(nextValue), force, token: actor(request) }, `audit: forced reset of '${name}'`);
      }
      return sequence;
    },
  );

  app.delete<{ Params: SequenceParams; Querystring: DeleteQuery }>(
    '/sequences/:name',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['sequences'],
        security: BEARER,
        summary: 'Delete a sequence and its idempotency keys',
        description:
          'The name keeps its high-water marks: used again (by /next or PUT) it continues after every value it handed out. ' +
          'With ?forget=true it is forgotten entirely (a name deleted before too), and then hands out the same numbers again.',
        params: SequenceParams,
        querystring: DeleteQuery,
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      const name = nameOf(request.params);
      const forget = parseForget((request.query as Record<string, unknown>).forget);
      await deleteSequence(store, name, forget);
      request.log.info({ audit: 'sequence.delete', sequence: name, forget, token: actor(request) }, `audit: ${forget ? 'forgot' : 'deleted'} '${name}'`);
      return reply.code(204).send();
    },
  );
}
