import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { SequenceStore } from '../../src/core/store.js';
import { tempDir } from './temp.js';

export interface TestApp {
  readonly app: FastifyInstance;
  readonly store: SequenceStore;
  readonly path: string;
  close(): Promise<void>;
}

/** The real app on a real SQLite file in a temp folder, for `app.inject()` tests. */
export async function testApp(path: string = join(tempDir(), 'test.db'), store?: SequenceStore): Promise<TestApp> {
  const opened = store ?? SqliteStore.open(path, { mode: 'write' });
  const app = await buildApp({ store: opened });
  await app.ready();
  return {
    app,
    store: opened,
    path,
    async close() {
      await app.close();
      await opened.close();
    },
  };
}

/** POSTs /next/{name} (raw path segment, already encoded) and returns status and parsed body. */
export async function next(app: FastifyInstance, encodedName: string, method: 'POST' | 'GET' = 'POST') {
  const response = await app.inject({ method, url: `/next/${encodedName}` });
  return { status: response.statusCode, body: response.json<Record<string, unknown>>(), raw: response.body };
}
