import type { FastifyInstance } from 'fastify';
import type { Allocator } from '../core/allocator.js';
import type { Metrics } from '../metrics.js';
import { BEARER, errorResponses } from './schemas.js';

/**
 * `GET /metrics` (the Prometheus text format) and the HTTP request metrics:
 * one hook when each answer has been sent, labelled by route pattern (never
 * the raw URL, whose sequence names would make a series each), method and
 * status code. The allocator's metrics come through its `onCommit` hook and
 * the /next route; the pending-requests gauge reads `allocator.pending`.
 */
export function registerMetrics(app: FastifyInstance, metrics: Metrics, allocator: Pick<Allocator, 'pending'>): void {
  metrics.watchPending(() => allocator.pending);
  app.addHook('onResponse', (request, reply, done) => {
    metrics.observeRequest(request.routeOptions.url, request.method, reply.statusCode, reply.elapsedTime);
    done();
  });
  app.get(
    '/metrics',
    {
      // Covers every sequence: a token confined to a name prefix may not read it.
      config: { scope: 'read' },
      schema: {
        tags: ['monitoring'],
        security: BEARER,
        summary: 'Metrics in the Prometheus text format',
        description:
          'Requests, numbers handed out, refusals, group commits and process metrics, all named takeanumber_*. ' +
          'See the Monitoring section of the README for the list.',
        response: {
          200: {
            description: 'The Prometheus text exposition format (version 0.0.4).',
            content: { 'text/plain': { schema: { type: 'string' } } },
          },
          ...errorResponses,
        },
      },
    },
    async (_request, reply) => {
      const text = await metrics.render();
      return reply.type(metrics.contentType).send(text);
    },
  );
}
