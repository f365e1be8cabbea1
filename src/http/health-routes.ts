import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors.js';
import type { SequenceStore } from '../core/store.js';
import { errorResponses, StatusResponse } from './schemas.js';

/** Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the store is usable). */
export function registerHealthRoutes(app: FastifyInstance, store: SequenceStore): void {
  app.get<{ Reply: StatusResponse }>(
    '/healthz',
    { schema: { tags: ['health'], summary: 'Liveness: the process answers', response: { 200: StatusResponse, ...errorResponses } } },
    () => ({ status: 'ok' }),
  );
  app.get<{ Reply: StatusResponse }>(
    '/readyz',
    { schema: { tags: ['health'], summary: 'Readiness: the store is usable (else 503)', response: { 200: StatusResponse, ...errorResponses } } },
    async (request) => {
      try {
        await store.ping();
      } catch (error) {
        request.log.warn({ err: error }, 'readiness check failed');
        throw new AppError('store_unavailable', undefined, { cause: error });
      }
      return { status: 'ready' };
    },
  );
}
