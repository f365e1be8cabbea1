/**
 * An experiment beside the durable floor: the same group commit (one append +
 * fdatasync per event-loop turn, every answer after its sync) behind a bare
 * Fastify route with a response schema. The difference to the durable floor
 * is the framework's own cost per request; the difference to `serve` is the
 * service's (its hooks, allocator and SQLite store). Not a row of
 * `npm run bench`; used by bench/results/2026-11-30-scaling.md.
 *
 *   DATA_DIR=/tmp/x PORT=5000 node --import tsx bench/fastify-durable.ts
 */
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';

const fd = openSync(join(process.env.DATA_DIR ?? '.', 'fastify-durable.log'), 'a');
let value = 0;
let waiting: (() => void)[] = [];
let scheduled = false;

function commit(): void {
  scheduled = false;
  const batch = waiting;
  waiting = [];
  writeSync(fd, Buffer.alloc(32 * batch.length, 1));
  fdatasyncSync(fd);
  for (const answer of batch) answer();
}

const app = Fastify();
app.post(
  '/next/:name',
  { schema: { response: { 200: { type: 'object', properties: { sequence_id: { type: 'string' }, next_value: { type: 'integer' } } } } } },
  (request) =>
    new Promise((resolve) => {
      waiting.push(() => {
        value += 1;
        resolve({ sequence_id: (request.params as { name: string }).name, next_value: value });
      });
      if (!scheduled) {
        scheduled = true;
        setImmediate(commit);
      }
    }),
);
app.get('/healthz', () => ({ status: 'ok' }));
await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
process.on('SIGTERM', () => {
  void app.close().then(() => {
    closeSync(fd);
    process.exit(0);
  });
});
