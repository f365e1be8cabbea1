/**
 * A measuring server for bench/worker-store.ts: bare node:http answering
 * `POST /next/NAME` (create on first use, one value) from the real SQLite
 * store, either on the main thread (MODE=main) or in a worker thread that
 * owns the store (MODE=worker): the main thread parses HTTP and writes
 * answers, the worker runs the batches (one transaction and fsync each).
 * With CHUNK=K the main thread hands the worker every K requests as they
 * are parsed, instead of once per event-loop turn, so that parsing and
 * committing can overlap. No Fastify, tokens or metrics: the upper bound of
 * each layout. Not the service: a prototype to measure (issue 17).
 *
 *   MODE=worker DATA_DIR=/tmp/x PORT=8080 node --import tsx bench/worker-store-server.ts
 */
import { createServer, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { AllocationRequest } from '../src/core/store.js';
import { openStore, parseStoreLocation } from '../src/store/open-store.js';

const mode = process.env.MODE === 'worker' ? 'worker' : 'main';
const chunk = Number(process.env.CHUNK ?? Number.POSITIVE_INFINITY);
// bench/servers.ts's start() gives each server a folder of its own (DATA_DIR).
const store = process.env.STORE ?? join(process.env.DATA_DIR ?? '.', 'bench.db');

interface Waiting {
  readonly name: string;
  readonly response: ServerResponse;
}

function answer({ name, response }: Waiting, value: bigint | undefined): void {
  if (value === undefined) {
    response.writeHead(500).end();
    return;
  }
  const body = `{"sequence_id":"${name}","next_value":${value}}`;
  response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  response.end(body);
}

const request = (name: string): AllocationRequest => ({ name, count: 1n, create: true });

/** Hands a batch to the store; its answers are written once the store has its values (500 for a failed batch). */
let send: (batch: Waiting[]) => void;
let close: () => Promise<void>;

if (mode === 'main') {
  const opened = await openStore(parseStoreLocation(store), { mode: 'write', poolSize: 1, statementTimeoutMs: 5000, onIdleError: () => undefined });
  send = (batch) => {
    void opened.allocateBatch(batch.map((waiting) => request(waiting.name))).then(
      (outcomes) => outcomes.forEach((outcome, index) => answer(batch[index] as Waiting, outcome.ok ? outcome.first : undefined)),
      () => batch.forEach((waiting) => answer(waiting, undefined)),
    );
  };
  close = () => opened.close();
} else {
  // A worker does not inherit tsx's loader (Node 20): it registers it, then loads the TypeScript file.
  const thread = new URL('./worker-store-thread.ts', import.meta.url).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(thread)}); });`;
  const worker = new Worker(boot, { eval: true, workerData: { store } });
  const sent = new Map<number, Waiting[]>();
  let id = 0;
  worker.on('message', (message: { id: number; values: (bigint | undefined)[] }) => {
    const batch = sent.get(message.id) as Waiting[];
    sent.delete(message.id);
    batch.forEach((waiting, index) => answer(waiting, message.values[index]));
  });
  await new Promise((resolve) => worker.once('online', resolve));
  send = (batch) => {
    id += 1;
    sent.set(id, batch);
    worker.postMessage({ id, names: batch.map((waiting) => waiting.name) });
  };
  close = async () => {
    worker.postMessage('close');
    await new Promise((resolve) => worker.once('exit', resolve));
  };
}

let queued: Waiting[] = [];
let scheduled = false;
const flush = (): void => {
  scheduled = false;
  if (queued.length === 0) return;
  const batch = queued;
  queued = [];
  send(batch);
};

const server = createServer((incoming, response) => {
  if (incoming.url === '/healthz') {
    response.end('ok');
    return;
  }
  queued.push({ name: decodeURIComponent((incoming.url ?? '').slice('/next/'.length)), response });
  if (queued.length >= chunk) flush();
  else if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => void close().then(() => process.exit(0))));
