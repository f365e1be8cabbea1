import { readFileSync } from 'node:fs';
import type { Server as TlsServer } from 'node:tls';
import { buildApp } from '../app.js';
import { CONFIG_FILE, ConfigError, resolveServeConfig, type ServeConfig, type ServeFlags } from '../config.js';
import { helpOption } from '../help.js';
import { flagKey, SETTING_ROWS, settingsHelp } from '../settings.js';
import { openStore } from '../store/open-store.js';
import { command, HELP_LINE } from './command.js';

/** serve's flags: one per setting (a switch for the settings that are), and --config. */
const SERVE_OPTIONS = Object.fromEntries([
  [CONFIG_FILE.flag.slice(2), { type: 'string' }],
  ...SETTING_ROWS.map((setting) => [setting.flag.slice(2), { type: setting.switchTo === undefined ? 'string' : 'boolean' }]),
]) as Readonly<Record<string, { readonly type: 'string' | 'boolean' }>>;

export const serveCommand = command({
  name: 'serve',
  summary: { synopsis: 'serve', text: 'Run the HTTP service (POST /next/{name} answers the next number)' },
  usage: `Usage: take-a-number serve [options]

Opens and checks the store, takes its writer lock (one server per SQLite
store), then listens. SIGTERM or SIGINT stops it gracefully.

Options:
${settingsHelp()}
${helpOption(
  `${CONFIG_FILE.flag} FILE`,
  `A JSON file of these settings by name ({"port": 5000, "logLevel":
"warn", "trustProxy": ["10.0.0.0/8"]}); flags and environment
override it (env ${CONFIG_FILE.env})`,
)}
${HELP_LINE}`,
  options: SERVE_OPTIONS,
  positionals: { min: 0, max: 0 },
  async run({ values }, { env }) {
    // parseArgs names the values by flag (max-count); the settings by the flag in camelCase (maxCount).
    const flags: ServeFlags = Object.fromEntries(Object.entries(values).map(([flag, value]) => [flagKey(flag), value]));
    await serve(resolveServeConfig(flags, env));
  },
});

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
  const tls = config.tlsCert === undefined || config.tlsKey === undefined ? undefined : { certFile: config.tlsCert, keyFile: config.tlsKey };
  let app;
  try {
    app = await buildApp({
      store,
      logger: { level: config.logLevel },
      autoCreate: config.autoCreate,
      maxCount: config.maxCount,
      idempotencyTtlMs: config.idempotencyTtlMs,
      maxPending: config.maxPending,
      // A commit outliving the store's own timeout by a second is stuck (a frozen disk or database).
      commitTimeoutMs: config.statementTimeoutMs + 1000,
      bodyLimit: config.bodyLimit,
      trustProxy: config.trustProxy,
      requestTimeoutMs: config.requestTimeoutMs,
      keepAliveTimeoutMs: config.keepAliveTimeoutMs,
      metricsPerSequence: config.metricsPerSequence,
      tokens: store.tokens,
      rateLimit: config.rateLimit,
      console: config.console,
      https: tls === undefined ? undefined : readTls(tls),
    });
  } catch (error) {
    await store.close();
    if (tls !== undefined && !(error instanceof ConfigError)) {
      // Node rejects the PEM files when it builds the HTTPS server.
      throw new ConfigError(
        `Cannot serve HTTPS with the certificate ${tls.certFile} and key ${tls.keyFile} (--tls-cert/--tls-key): ${(error as Error).message}`,
      );
    }
    throw error;
  }
  let url: string;
  try {
    url = await app.listen({ port: config.port, host: config.host });
  } catch (error) {
    await app.close();
    await store.close();
    throw new ConfigError(`Cannot listen on ${config.host}:${config.port} (--host/--port): ${(error as Error).message}`);
  }
  app.log.info({ url, store: store.location }, 'take-a-number ready');
  const reloadTls = (): void => {
    if (tls === undefined) return;
    try {
      (app.server as unknown as TlsServer).setSecureContext(readTls(tls));
      app.log.info({ cert: tls.certFile }, 'SIGHUP: reloaded the TLS certificate and key');
    } catch (error) {
      app.log.error({ err: error }, 'SIGHUP: cannot reload the TLS certificate; still serving the previous one');
    }
  };
  process.on('SIGHUP', reloadTls);

  await new Promise<void>((resolve, reject) => {
    const shutdown = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', shutdown);
      process.off('SIGINT', shutdown);
      process.off('SIGHUP', reloadTls);
      // Further signals are ignored while shutting down; the grace timer bounds it.
      process.on('SIGTERM', () => undefined);
      process.on('SIGINT', () => undefined);
      app.log.info({ signal }, 'shutting down: no new connections, answering requests in flight');
      const timer = setTimeout(() => {
        app.log.error(`shutdown took longer than ${config.shutdownTimeoutMs} ms (--shutdown-timeout); exiting`);
        process.exit(1);
      }, config.shutdownTimeoutMs);
      timer.unref();
      // Connections without a request received in full are closed at once, the
      // others once it is answered (http/connections.ts); then the store closes.
      app
        .close()
        .finally(() => store.close())
        .then(() => {
          app.log.info('stopped');
          resolve();
        }, reject);
    };
    process.on('SIGTERM', shutdown);
    process.on('SIGINT', shutdown);
  });
}

/** Reads the PEM files; a message naming the file if one cannot be read. */
function readTls(files: { certFile: string; keyFile: string }): { cert: Buffer; key: Buffer } {
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new ConfigError(`Cannot read the TLS ${what} ${path}: ${(error as Error).message}`);
    }
  };
  return { cert: read(files.certFile, 'certificate (--tls-cert)'), key: read(files.keyFile, 'key (--tls-key)') };
}
