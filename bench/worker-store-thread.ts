/**
 * The worker of bench/worker-store-server.ts (MODE=worker): owns the SQLite
 * store and runs every batch the main thread sends; batches that arrive
 * while one commits are run together, as the allocator does.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openStore, parseStoreLocation } from '../src/store/open-store.js';

interface Batch {
  readonly id: number;
  readonly names: readonly string[];
}

const port = parentPort;
if (port === null) throw new Error('worker-store-thread.ts runs as a worker');
const store = await openStore(parseStoreLocation((workerData as { store: string }).store), {
  mode: 'write',
  poolSize: 1,
  statementTimeoutMs: 5000,
  onIdleError: () => undefined,
});
let queue: Batch[] = [];
let running = false;

async function drain(): Promise<void> {
  running = true;
  while (queue.length > 0) {
    const batches = queue;
    queue = [];
    const requests = batches.flatMap((batch) => batch.names.map((name) => ({ name, count: 1n, create: true })));
    // A failed batch: every request of it gets no value (the main thread answers 500).
    const outcomes = await store.allocateBatch(requests).catch(() => requests.map(() => ({ ok: false }) as const));
    let at = 0;
    for (const batch of batches) {
      const values = outcomes.slice(at, at + batch.names.length).map((outcome) => (outcome.ok ? outcome.first : undefined));
      at += batch.names.length;
      port?.postMessage({ id: batch.id, values });
    }
    // Lets the batches sent meanwhile arrive before the next transaction.
    await new Promise((resolve) => setImmediate(resolve));
  }
  running = false;
}

port.on('message', (message: Batch | 'close') => {
  if (message === 'close') {
    void store.close().then(() => process.exit(0));
    return;
  }
  queue.push(message);
  if (!running) void drain();
});
