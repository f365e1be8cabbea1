import type { FastifyInstance } from 'fastify';
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
    async () => {
      // A store that cannot serve rejects with StoreUnavailableError: 503 (errors.ts), logged by the error handler.
      await store.ping();
      return { status: 'ready' };
    },
  );
}
