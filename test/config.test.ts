import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, resolveServeConfig, resolveStore } from '../src/config.js';
import { describeLocation, parseStoreLocation } from '../src/store/open-store.js';

const cwd = '/srv/app';

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
      poolSize: 10,
      statementTimeoutMs: 2000,
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
      poolSize: 10,
      statementTimeoutMs: 2000,
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
      poolSize: 10,
      statementTimeoutMs: 2000,
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
