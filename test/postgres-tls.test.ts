import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createPool } from '../src/store/postgres/connection.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { StoreOpenError } from '../src/core/store.js';
import { embeddedPostgres } from '../scripts/embedded-postgres.js';

const { server, port, dir } = await embeddedPostgres({
  // Relative to the data folder: the certificate sits beside it.
  postgresFlags: ['-c', 'ssl=on', '-c', 'ssl_cert_file=../server.crt', '-c', 'ssl_key_file=../server.key'],
});
await server.initialise();
// A self-signed certificate, readable only by the user PostgreSQL runs as (it insists).
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', join(dir, 'server.key'), '-out', join(dir, 'server.crt')], { stdio: 'ignore' });
if (process.getuid?.() === 0) {
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
  for (const file of ['server.key', 'server.crt']) chownSync(join(dir, file), uid, gid);
}
chmodSync(join(dir, 'server.key'), 0o600);
await server.start();
after(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});
const base = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;

describe('TLS to PostgreSQL, as sslmode in the URL says (libpq meanings)', () => {
  it('sslmode=require encrypts without checking the certificate, as libpq does', async () => {
    const url = `${base}?sslmode=require`;
    const pool = createPool({ url, poolSize: 1, statementTimeoutMs: 5000 }, () => undefined);
    const { rows } = await pool.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    assert.deepEqual(rows, [{ ssl: true }]);
    await pool.end();
    const store = await PostgresStore.open({ url, poolSize: 2, statementTimeoutMs: 5000 });
    assert.deepEqual(await store.allocateBatch([{ name: 'tls', count: 1n, create: true }]), [{ ok: true, first: 1n, last: 1n, replayed: false, grant: undefined, tookExpired: false, labels: undefined }]);
    await store.close();
  });

  it('sslmode=verify-full refuses a certificate it cannot trust, with a message naming the store', async () => {
    await assert.rejects(
      PostgresStore.open({ url: `${base}?sslmode=verify-full`, poolSize: 1, statementTimeoutMs: 5000 }),
      (error: unknown) => error instanceof StoreOpenError && error.message.includes(`127.0.0.1:${port}`) && !error.message.includes(':postgres@'),
    );
  });

  it('without sslmode the connection is not encrypted', async () => {
    const pool = createPool({ url: base, poolSize: 1, statementTimeoutMs: 5000 }, () => undefined);
    const { rows } = await pool.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    assert.deepEqual(rows, [{ ssl: false }]);
    await pool.end();
  });
});
