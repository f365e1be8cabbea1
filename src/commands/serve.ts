import { buildApp } from '../app.js';
import { ConfigError, type ServeConfig } from '../config.js';
import { openStore } from '../store/open-store.js';

/** How long in-flight requests get to finish after SIGTERM/SIGINT before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000;

/**
 * `take-a-number serve`: open and check the store, take its writer lock, and
 * only then listen. Resolves once the server has shut down after SIGTERM or
 * SIGINT (in-flight requests answered, store closed).
 */
export async function serve(config: ServeConfig): Promise<void> {
  const store = await openStore(config.store, {
    mode: 'write',
    poolSize: config.poolSize,
    statementTimeoutMs: config.statementTimeoutMs,
    onIdleError: (error) => console.error(`take-a-number: an idle database connection failed: ${error.message}`),
  });
  const app = await buildApp({
    store,
    logger: { level: config.logLevel },
    autoCreate: config.autoCreate,
    maxCount: config.maxCount,
    idempotencyTtlMs: config.idempotencyTtlMs,
  });
  let url: string;
  try {
    url = await app.listen({ port: config.port, host: config.host });
  } catch (error) {
    await app.close();
    await store.close();
    throw new ConfigError(`Cannot listen on ${config.host}:${config.port} (--host/--port): ${(error as Error).message}`);
  }
  app.log.info({ url, store: store.location }, 'take-a-number ready');

  await new Promise<void>((resolve, reject) => {
    const shutdown = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', shutdown);
      process.off('SIGINT', shutdown);
      // Further signals are ignored while shutting down; the grace timer bounds it.
      process.on('SIGTERM', () => undefined);
      process.on('SIGINT', () => undefined);
      app.log.info({ signal }, 'shutting down: no new connections, answering requests in flight');
      const timer = setTimeout(() => {
        app.log.error(`shutdown took longer than ${SHUTDOWN_GRACE_MS} ms; exiting`);
        process.exit(1);
      }, SHUTDOWN_GRACE_MS);
      timer.unref();
      // Keep-alive connections would hold the server open: answers from now on
      // say `Connection: close`, and connections that fall idle are closed.
      app.server.on('request', (_request, response) => {
        if (!response.headersSent) response.setHeader('Connection', 'close');
      });
      const closeIdle = setInterval(() => app.server.closeIdleConnections(), 100);
      closeIdle.unref();
      app
        .close()
        .finally(() => store.close())
        .then(() => {
          clearInterval(closeIdle);
          app.log.info('stopped');
          resolve();
        }, reject);
    };
    process.on('SIGTERM', shutdown);
    process.on('SIGINT', shutdown);
  });
}
