import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, resolveServeConfig, resolveStore } from '../src/config.js';
import { describeLocation, parseStoreLocation } from '../src/store/open-store.js';
import { tempDir } from './helpers/temp.js';

const cwd = '/srv/app';

/** The defaults of the settings the first three tests do not set. */
const OPERATIONS_DEFAULTS = {
  poolSize: 10,
  statementTimeoutMs: 2000,
      maxPending: 10_000,
      rateLimit: 0,
      tlsCert: undefined,
      tlsKey: undefined,
      trustProxy: false,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 65_000,
      shutdownTimeoutMs: 10_000,
      bodyLimit: 65_536,
      metricsPerSequence: false,
      console: true,
};

describe('serve configuration', () => {
  it('uses the original service defaults', () => {
    assert.deepEqual(resolveServeConfig({}, {}, cwd), {
      port: 5000,
      host: '0.0.0.0',
      store: { kind: 'sqlite', path: '/srv/app/takeanumber.db' },
      logLevel: 'info',
      autoCreate: true,
      maxCount: 100_000,
      idempotencyTtlMs: 86_400_000,
      ...OPERATIONS_DEFAULTS,
    });
  });

  it('takes flags over environment over defaults', () => {
    const env = {
      PORT: '6000',
      HOST: '127.0.0.1',
      TAKEANUMBER_STORE: 'sqlite:env.db',
      TAKEANUMBER_LOG_LEVEL: 'warn',
      TAKEANUMBER_AUTO_CREATE: 'false',
      TAKEANUMBER_MAX_COUNT: '500',
      TAKEANUMBER_IDEMPOTENCY_TTL: '2',
    };
    assert.deepEqual(resolveServeConfig({}, env, cwd), {
      port: 6000,
      host: '127.0.0.1',
      store: { kind: 'sqlite', path: '/srv/app/env.db' },
      logLevel: 'warn',
      autoCreate: false,
      maxCount: 500,
      idempotencyTtlMs: 7_200_000,
      ...OPERATIONS_DEFAULTS,
    });
    const flags = { port: '7000', host: '::1', store: 'flag.db', logLevel: 'debug', maxCount: '7', idempotencyTtl: '48' };
    assert.deepEqual(resolveServeConfig(flags, env, cwd), {
      port: 7000,
      host: '::1',
      store: { kind: 'sqlite', path: '/srv/app/flag.db' },
      logLevel: 'debug',
      autoCreate: false,
      maxCount: 7,
      idempotencyTtlMs: 172_800_000,
      ...OPERATIONS_DEFAULTS,
    });
    assert.equal(resolveServeConfig({ noAutoCreate: true }, {}, cwd).autoCreate, false);
  });

  it('names the bad setting in its message', () => {
    assert.throws(() => resolveServeConfig({ port: 'http' }, {}, cwd), { name: 'ConfigError', message: /--port.*'http'/ });
    assert.throws(() => resolveServeConfig({}, { PORT: '70000' }, cwd), /PORT: expected a port number/);
    assert.throws(() => resolveServeConfig({ port: '-1' }, {}, cwd), ConfigError);
    assert.throws(() => resolveServeConfig({ logLevel: 'loud' }, {}, cwd), /--log-level: expected one of/);
    assert.throws(() => resolveServeConfig({ host: ' ' }, {}, cwd), /--host/);
    assert.throws(() => resolveServeConfig({ maxCount: '0' }, {}, cwd), /--max-count: expected a count from 1/);
    assert.throws(() => resolveServeConfig({ idempotencyTtl: '1.5' }, {}, cwd), /--idempotency-ttl: expected a number of hours/);
    assert.throws(() => resolveServeConfig({}, { TAKEANUMBER_AUTO_CREATE: 'maybe' }, cwd), /TAKEANUMBER_AUTO_CREATE/);
    assert.throws(() => resolveStore('postgres://[bad', {}, cwd), { name: 'ConfigError', message: /--store: The PostgreSQL URL is malformed/ });
    assert.throws(() => resolveStore(undefined, { TAKEANUMBER_STORE: 'redis://x' }, cwd), /TAKEANUMBER_STORE: Unknown store/);
  });
});

describe('config file', () => {
  const write = (content: unknown): string => {
    const file = join(tempDir(), 'takeanumber.json');
    writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
    return file;
  };

  it('takes flags over environment over the file over defaults, paths relative to the file', () => {
    const file = write({ port: 6001, host: '127.0.0.2', logLevel: 'warn', autoCreate: false, maxPending: 50, store: 'data/n.db', trustProxy: ['10.0.0.0/8', '::1'] });
    const fromFile = resolveServeConfig({ config: file }, {}, cwd);
    assert.equal(fromFile.port, 6001);
    assert.equal(fromFile.host, '127.0.0.2');
    assert.equal(fromFile.logLevel, 'warn');
    assert.equal(fromFile.autoCreate, false);
    assert.equal(fromFile.maxPending, 50);
    assert.deepEqual(fromFile.store, { kind: 'sqlite', path: join(dirname(file), 'data/n.db') });
    assert.deepEqual(fromFile.trustProxy, ['10.0.0.0/8', '::1']);
    const env = { PORT: '6002', TAKEANUMBER_CONFIG: file };
    assert.equal(resolveServeConfig({}, env, cwd).port, 6002, 'environment over file (file named by TAKEANUMBER_CONFIG)');
    assert.equal(resolveServeConfig({}, env, cwd).host, '127.0.0.2');
    assert.equal(resolveServeConfig({ port: '6003' }, env, cwd).port, 6003, 'flag over environment');
  });

  it('refuses an unreadable file, unknown settings and bad values, naming the file and setting', () => {
    assert.throws(() => resolveServeConfig({ config: '/nonexistent/t.json' }, {}, cwd), { name: 'ConfigError', message: /Cannot read the config file \/nonexistent\/t.json/ });
    assert.throws(() => resolveServeConfig({ config: write('{"port": 5000,') }, {}, cwd), /Cannot read the config file .*JSON/);
    assert.throws(() => resolveServeConfig({ config: write([1]) }, {}, cwd), /must hold a JSON object/);
    assert.throws(() => resolveServeConfig({ config: write({ prot: 1 }) }, {}, cwd), /unknown setting 'prot'; known settings: port, host/);
    assert.throws(() => resolveServeConfig({ config: write({ port: 'x' }) }, {}, cwd), /takeanumber.json: port: expected a port number/);
    assert.throws(() => resolveServeConfig({ config: write({ maxPending: 1.5 }) }, {}, cwd), /maxPending: expected a number of requests/);
    assert.throws(() => resolveServeConfig({ config: write({ host: { a: 1 } }) }, {}, cwd), /host: expected a string, number or boolean/);
  });
});

describe('operations settings', () => {
  it('reads trusted proxies as true/false, a hop count, or addresses and ranges', () => {
    assert.equal(resolveServeConfig({ trustProxy: 'true' }, {}, cwd).trustProxy, true);
    assert.equal(resolveServeConfig({ trustProxy: '2' }, {}, cwd).trustProxy, 2);
    assert.deepEqual(resolveServeConfig({ trustProxy: '10.0.0.0/8, 192.168.1.1,loopback' }, {}, cwd).trustProxy, ['10.0.0.0/8', '192.168.1.1', 'loopback']);
    assert.throws(() => resolveServeConfig({ trustProxy: '10.0.0.0/33' }, {}, cwd), /--trust-proxy: .*'10.0.0.0\/33'/);
    assert.throws(() => resolveServeConfig({ trustProxy: 'proxy.internal' }, {}, cwd), /--trust-proxy/);
  });

  it('needs both TLS files, and files that exist', () => {
    const dir = tempDir();
    const cert = join(dir, 'cert.pem');
    writeFileSync(cert, 'x');
    assert.throws(() => resolveServeConfig({ tlsCert: cert }, {}, cwd), /--tls-cert and --tls-key go together/);
    assert.throws(() => resolveServeConfig({ tlsCert: cert, tlsKey: join(dir, 'missing.pem') }, {}, cwd), /--tls-key: no such file/);
    const config = resolveServeConfig({ tlsCert: cert, tlsKey: cert }, {}, cwd);
    assert.equal(config.tlsCert, cert);
  });

  it('reads timeouts, limits and switches, and names the bad one', () => {
    const config = resolveServeConfig(
      { rateLimit: '100', requestTimeout: '5000', keepAliveTimeout: '70000', shutdownTimeout: '0', bodyLimit: '2048', metricsPerSequence: true },
      {},
      cwd,
    );
    assert.deepEqual(
      [config.rateLimit, config.requestTimeoutMs, config.keepAliveTimeoutMs, config.shutdownTimeoutMs, config.bodyLimit, config.metricsPerSequence],
      [100, 5000, 70_000, 0, 2048, true],
    );
    assert.equal(resolveServeConfig({}, { TAKEANUMBER_METRICS_PER_SEQUENCE: 'yes' }, cwd).metricsPerSequence, true);
    assert.equal(resolveServeConfig({ noConsole: true }, {}, cwd).console, false, '--no-console');
    assert.equal(resolveServeConfig({}, { TAKEANUMBER_CONSOLE: 'false' }, cwd).console, false);
    assert.equal(resolveServeConfig({}, {}, cwd).console, true, 'the console is on by default');
    assert.throws(() => resolveServeConfig({ bodyLimit: '10' }, {}, cwd), /--body-limit: expected bytes from 1024/);
    assert.throws(() => resolveServeConfig({}, { TAKEANUMBER_RATE_LIMIT: '-1' }, cwd), /TAKEANUMBER_RATE_LIMIT: expected requests per second/);
    assert.throws(() => resolveServeConfig({ keepAliveTimeout: '10' }, {}, cwd), /--keep-alive-timeout: expected milliseconds from 1000/);
  });
});

describe('store locations', () => {
  it('reads sqlite:PATH, sqlite://PATH, sqlite:///ABS and plain paths', () => {
    assert.equal(describeLocation(parseStoreLocation('sqlite:data/t.db', cwd)), 'sqlite:/srv/app/data/t.db');
    assert.equal(describeLocation(parseStoreLocation('sqlite://data/t.db', cwd)), 'sqlite:/srv/app/data/t.db');
    assert.equal(describeLocation(parseStoreLocation('sqlite:///var/lib/t.db', cwd)), 'sqlite:/var/lib/t.db');
    assert.equal(describeLocation(parseStoreLocation('sqlite:/var/lib/t.db', cwd)), 'sqlite:/var/lib/t.db');
    assert.equal(describeLocation(parseStoreLocation('t.db', cwd)), 'sqlite:/srv/app/t.db');
    assert.equal(describeLocation(parseStoreLocation('/abs/t.db', cwd)), 'sqlite:/abs/t.db');
  });

  it('reads PostgreSQL URLs, from DATABASE_URL when no store is given, and never shows the password', () => {
    const url = 'postgres://app:s3cret@db.internal:5432/numbers?sslmode=require';
    assert.deepEqual(parseStoreLocation(url, cwd), { kind: 'postgres', url });
    assert.deepEqual(resolveStore(undefined, { DATABASE_URL: url }, cwd), { kind: 'postgres', url });
    assert.equal(resolveStore(undefined, { DATABASE_URL: url, TAKEANUMBER_STORE: 'x.db' }, cwd).kind, 'sqlite');
    assert.doesNotMatch(describeLocation(parseStoreLocation(url, cwd)), /s3cret/);
  });

  it('refuses a store setting that names no file', () => {
    assert.throws(() => parseStoreLocation('sqlite:', cwd), /names no file/);
    assert.throws(() => parseStoreLocation('sqlite::memory:', cwd), /names no file/);
  });
});
