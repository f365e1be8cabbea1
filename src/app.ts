import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { Allocator } from './allocator.js';
import { AppError } from './errors.js';
import { clientErrorHandler, frameworkErrorHandler, registerErrorHandling } from './http/error-handling.js';
import { registerHealthRoutes } from './http/health-routes.js';
import { registerNextRoute } from './http/next-route.js';
import { RequestLogsAtDebug } from './http/request-logs.js';
import { ErrorResponse } from './http/schemas.js';
import { parseJsonLossless } from './json.js';
import { MAX_NAME_BYTES } from './sequence-name.js';
import type { SequenceStore } from './store/store.js';

export interface AppOptions {
  readonly store: SequenceStore;
  /** Fastify's logger setting: false (tests), or pino options such as `{ level: 'info' }`. */
  readonly logger?: FastifyServerOptions['logger'];
  /** Largest request body in bytes (default 64 KiB). */
  readonly bodyLimit?: number;
}

// Percent-encoding triples a byte: the longest valid name is 765 URL characters.
// Longer parameters are still read in full and answered as invalid names.
const MAX_PARAM_LENGTH = MAX_NAME_BYTES * 3 * 4;

/** Builds the HTTP application (without listening): routes, error handling, allocator. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    logController: new RequestLogsAtDebug(),
    bodyLimit: options.bodyLimit ?? 64 * 1024,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Requests arriving during shutdown are answered by the allocator (shutting_down), in our error shape.
    return503OnClosing: false,
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
  });

  app.addSchema(ErrorResponse);
  registerErrorHandling(app);

  // Bodies are JSON parsed losslessly (64-bit integers stay exact); an empty body is no body.
  // Bodies of other types are read (within bodyLimit) and ignored: /next needs none.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, text: string, done) => {
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    try {
      done(null, parseJsonLossless(text));
    } catch (error) {
      done(new AppError('invalid_body', `The request body is not valid JSON: ${(error as Error).message}`), undefined);
    }
  });
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, _body, done) => done(null, undefined));

  const allocator = new Allocator(options.store, {
    onStoreError: (error) => app.log.error({ err: error }, `store ${options.store.location} failed to commit`),
  });
  app.addHook('onClose', () => allocator.close());

  registerHealthRoutes(app, options.store);
  registerNextRoute(app, allocator);
  return app;
}
