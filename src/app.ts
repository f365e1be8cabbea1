import type { Server } from 'node:http';
import Fastify, { type FastifyHttpOptions, type FastifyInstance, type FastifySchemaCompiler, type FastifyServerOptions } from 'fastify';
import { Allocator } from './core/allocator.js';
import { Connections } from './http/connections.js';
import { clientErrorHandler, frameworkErrorHandler, registerErrorHandling } from './http/error-handling.js';
import { TokenCache } from './tokens/token-cache.js';
import { registerAuth } from './http/auth.js';
import { registerBodyParsers } from './http/bodies.js';
import { registerNoStore } from './http/caching.js';
import { registerHealthRoutes } from './http/health-routes.js';
import { registerMetrics } from './http/metrics-route.js';
import { registerRequestIds } from './http/request-ids.js';
import { RateLimit, registerRateLimit } from './http/rate-limit.js';
import { registerNextRoute } from './http/next-route.js';
import { nextFastPath, type FastPath } from './http/next-fast-path.js';
import { RequestLogsAtDebug } from './http/request-logs.js';
import { registerApiDocs } from './http/api-docs.js';
import { ErrorResponse, SequenceView } from './http/schemas.js';
import { registerSequenceRoutes } from './http/sequence-routes.js';
import { registerGaplessRoutes } from './http/gapless-routes.js';
import { Metrics } from './metrics.js';
import type { ErrorCode } from './errors.js';
import { registerStatsRoute } from './http/stats-route.js';
import { registerTokenRoute } from './http/token-route.js';
import { CONSOLE_DIR, registerConsole } from './http/console-route.js';
import { SERVE_DEFAULTS } from './settings.js';
import { MAX_NAME_BYTES } from './core/sequence-name.js';
import { StoreUnavailableError, type SequenceStore } from './core/store.js';
import type { TokenStore } from './tokens/token-store.js';

/** Options of the app; those of a serve setting default to the setting's default (SERVE_DEFAULTS, settings.ts). */
export interface AppOptions {
  readonly store: SequenceStore;
  /** Fastify's logger setting: false (tests), or pino options such as `{ level: 'info' }`. */
  readonly logger?: FastifyServerOptions['logger'];
  /** Largest request body in bytes. */
  readonly bodyLimit?: number;
  /** Create unknown sequences on first use of /next. */
  readonly autoCreate?: boolean;
  /** The largest `count` of one /next request. */
  readonly maxCount?: number;
  /** How long idempotency keys are kept, in milliseconds. */
  readonly idempotencyTtlMs?: number;
  /** Most /next requests waiting for a commit before more are refused as `overloaded`. */
  readonly maxPending?: number;
  /** How long a commit may take before its requests fail with `store_unavailable` (default: no limit). */
  readonly commitTimeoutMs?: number;
  /** Serve HTTPS with this PEM certificate and key (default: plain HTTP). */
  readonly https?: { readonly cert: Buffer; readonly key: Buffer };
  /** Proxies whose X-Forwarded-For is believed for the client address. */
  readonly trustProxy?: boolean | number | string[];
  /** Longest time to receive a whole request, in ms. */
  readonly requestTimeoutMs?: number;
  /** How long an idle keep-alive connection stays open, in ms. */
  readonly keepAliveTimeoutMs?: number;
  /** Label the numbers handed out in GET /metrics by sequence: a series per sequence. */
  readonly metricsPerSequence?: boolean;
  /** The store's API tokens: once any exists, API routes need one (default: none, open access). */
  readonly tokens?: TokenStore;
  /** How often tokens are reloaded from the store, in ms (default 2000). */
  readonly tokenRefreshMs?: number;
  /** Requests per second per token (or client address); 0: no limit. */
  readonly rateLimit?: number;
  /** Serve the web console at /console (default on). */
  readonly console?: boolean;
  /** Where the console's built files are (default: dist/console of this package). */
  readonly consoleDir?: string;
}

/**
 * Fastify's validator compiler: no validator at all (http/inputs.ts checks the
 * input). Fastify skips a part without one; a validator answering `{ value }`
 * would make Fastify assign `request.headers`, after which every read of it
 * copies all the headers (Fastify's getter merges them into a new object).
 * Fastify's type wants a function; it accepts none at runtime (`validatorFunction == null`).
 */
const noValidation = (() => null) as unknown as FastifySchemaCompiler<unknown>;

const PURGE_INTERVAL_MS = 60_000;
const PURGE_BATCH = 1000;

// Percent-encoding triples a byte: the longest valid name is 765 URL characters.
// Longer parameters are still read in full and answered as invalid names.
const MAX_PARAM_LENGTH = MAX_NAME_BYTES * 3 * 4;

/** Builds the HTTP application (without listening): routes, error handling, allocator. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const metrics = new Metrics({ perSequence: options.metricsPerSequence ?? SERVE_DEFAULTS.metricsPerSequence });
  const countError = (code: ErrorCode): void => metrics.live.failed(code);
  // The server itself (HTTP or HTTPS, timeouts, the cap on pipelined requests, shutdown) is made in http/connections.ts.
  const connections = new Connections();
  // The /next fast path (http/next-fast-path.ts), set once the allocator exists; until then every request goes to Fastify.
  let fastPath: FastPath | undefined = undefined;
  const serverSettings = {
    https: options.https,
    requestTimeoutMs: options.requestTimeoutMs ?? SERVE_DEFAULTS.requestTimeoutMs,
    keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? SERVE_DEFAULTS.keepAliveTimeoutMs,
  };
  const serverOptions = {
    serverFactory: (handler) =>
      connections.createServer(serverSettings, (request, response) => {
        if (fastPath === undefined || !fastPath(request, response)) handler(request, response);
      }),
    // Fastify takes a hop count too (it trusts that many proxies); its type omits it.
    trustProxy: (options.trustProxy ?? SERVE_DEFAULTS.trustProxy) as FastifyServerOptions['trustProxy'],
    logger: options.logger ?? false,
    logController: new RequestLogsAtDebug(),
    bodyLimit: options.bodyLimit ?? SERVE_DEFAULTS.bodyLimit,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Requests arriving during shutdown are answered by the allocator (shutting_down), in our error shape.
    return503OnClosing: false,
    frameworkErrors: frameworkErrorHandler(countError),
    clientErrorHandler: clientErrorHandler(countError),
  } satisfies FastifyHttpOptions<Server>;
  // The server comes from the factory (HTTPS too, with the same request and response
  // types); Fastify reads `https` only to say https:// in the URLs it logs.
  const app = Fastify(
    options.https === undefined ? serverOptions : ({ ...serverOptions, https: { cert: options.https.cert, key: options.https.key } } as typeof serverOptions),
  );
  connections.register(app);

  app.addSchema(ErrorResponse);
  app.addSchema(SequenceView);
  registerRequestIds(app);
  registerNoStore(app);
  registerErrorHandling(app, countError);
  // Input is checked by http/inputs.ts, which keeps 64-bit integers exact and
  // answers with the catalogue's codes; Ajv sees a bigint as no integer at all.
  // The route schemas describe the input for OpenAPI and serialize the output.
  app.setValidatorCompiler(noValidation);
  await registerApiDocs(app);

  registerBodyParsers(app);

  const allocator = new Allocator(options.store, {
    onCommit: metrics.onCommit,
    // A fault of the store is logged with what the store reported (its cause); a bug with its own stack.
    onStoreError: (error) => app.log.error({ err: error instanceof StoreUnavailableError ? (error.cause ?? error) : error }, `store ${options.store.location} failed to commit`),
    onOverload: (maxPending) =>
      app.log.warn(`${maxPending} requests are waiting for the store; refusing more with 503 overloaded until some are answered`),
    maxPending: options.maxPending ?? SERVE_DEFAULTS.maxPending,
    commitTimeoutMs: options.commitTimeoutMs,
    // A burst of new connections is accepted one a turn: its requests are committed together (http/connections.ts).
    gatherMore: () => connections.acceptedSinceAsked(),
  });
  app.addHook('onClose', () => allocator.close());

  const perSecond = options.rateLimit ?? SERVE_DEFAULTS.rateLimit;
  const rateLimit = perSecond > 0 ? new RateLimit(perSecond) : undefined;
  const tokens =
    options.tokens === undefined
      ? undefined
      : new TokenCache(options.tokens, {
          refreshMs: options.tokenRefreshMs,
          onError: (error) => app.log.warn({ err: error }, 'reloading API tokens failed; using the ones loaded before'),
        });
  if (tokens !== undefined) {
    await tokens.start();
    app.addHook('onClose', () => tokens.close());
  }
  registerAuth(app, tokens, rateLimit);
  if (rateLimit !== undefined) registerRateLimit(app, rateLimit);

  registerHealthRoutes(app, options.store);
  const autoCreate = options.autoCreate ?? SERVE_DEFAULTS.autoCreate;
  const maxCount = options.maxCount ?? SERVE_DEFAULTS.maxCount;
  registerNextRoute(app, allocator, { autoCreate, maxCount, metrics });
  // Per-request log lines (--log-level debug) are written by Fastify: the fast path stands aside for them.
  const perRequestLogs = app.log.level === 'debug' || app.log.level === 'trace';
  fastPath = nextFastPath({
    allocator,
    metrics,
    countError,
    autoCreate,
    maxCount,
    log: app.log,
    // Tokens can appear while the server runs (`token create`): asked per request.
    enabled: () => tokens?.enabled !== true && rateLimit === undefined && !perRequestLogs,
  });
  registerMetrics(app, metrics, allocator);
  metrics.live.start();
  app.addHook('onClose', () => metrics.live.stop());
  registerStatsRoute(app, metrics.live, options.store.location);
  registerTokenRoute(app);
  if (options.console ?? SERVE_DEFAULTS.console) registerConsole(app, options.consoleDir ?? CONSOLE_DIR);
  registerSequenceRoutes(app, options.store);
  registerGaplessRoutes(app, allocator, options.store, metrics);
  schedulePurge(app, options.store, options.idempotencyTtlMs ?? SERVE_DEFAULTS.idempotencyTtlMs);
  return app;
}

/**
 * Purges expired idempotency keys every minute, a thousand per transaction
 * with the event loop free in between, so requests never wait behind it.
 */
function schedulePurge(app: FastifyInstance, store: SequenceStore, ttlMs: number): void {
  let running = false;
  const purge = async (): Promise<void> => {
    if (running) return;
    running = true;
    try {
      const before = Date.now() - ttlMs;
      let purged = 0;
      for (;;) {
        const deleted = await store.purgeIdempotencyKeys(before, PURGE_BATCH);
        purged += deleted;
        if (deleted < PURGE_BATCH) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (purged > 0) app.log.info({ purged }, 'purged expired idempotency keys');
    } catch (error) {
      app.log.warn({ err: error }, 'purging idempotency keys failed; will retry');
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void purge(), PURGE_INTERVAL_MS);
  timer.unref();
  app.addHook('onClose', () => clearInterval(timer));
}
