import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { parseJsonLossless } from '../../src/json.js';
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

export type Json = Record<string, unknown>;

/** The body parsed losslessly: every JSON integer is a bigint, exact beyond 2^53. */
export function body(response: LightMyRequestResponse): Json {
  const parsed = parseJsonLossless(response.body);
  assert.ok(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed), `not a JSON object: ${response.body}`);
  return parsed as Json;
}

/** Asserts an error answer with this status and code (and `field`, when given). */
export function assertError(response: LightMyRequestResponse, status: number, code: string, field?: string): void {
  assert.equal(response.statusCode, status, response.body);
  const error = body(response).error as Json | undefined;
  assert.ok(error !== undefined, `no error object: ${response.body}`);
  assert.equal(error.code, code, response.body);
  assert.equal(typeof error.message, 'string');
  if (field !== undefined) assert.equal(error.field, field, response.body);
}
