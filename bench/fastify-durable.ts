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
import { join } from 'node:path';
import Fastify from 'fastify';
import { groupCommit } from './group-commit.js';

const log = groupCommit(join(process.env.DATA_DIR ?? '.', 'fastify-durable.log'));
let value = 0;

const app = Fastify();
app.post(
  '/next/:name',
  { schema: { response: { 200: { type: 'object', properties: { sequence_id: { type: 'string' }, next_value: { type: 'integer' } } } } } },
  (request) =>
    new Promise((resolve) => {
      log.wait(() => {
        value += 1;
        resolve({ sequence_id: (request.params as { name: string }).name, next_value: value });
      });
    }),
);
app.get('/healthz', () => ({ status: 'ok' }));
await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
process.on('SIGTERM', () => {
  void app.close().then(() => {
    log.close();
    process.exit(0);
  });
});
