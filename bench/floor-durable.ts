/**
 * The durable floor: the fastest any Node service can answer when every
 * answer waits for its own group-committed fdatasync. A bare node:http server
 * that, once per event-loop turn, appends 32 bytes per waiting request to a
 * log file, fdatasyncs it, and only then answers the batch. No names, no
 * store, no framework: the yardstick of `/next` (issue 17).
 *
 *   DATA_DIR=/tmp/x node --import tsx bench/floor-durable.ts
 */
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { join } from 'node:path';

const port = Number(process.env.PORT ?? 0);
const fd = openSync(join(process.env.DATA_DIR ?? '.', 'floor-durable.log'), 'a');
let value = 0;
let waiting: ServerResponse[] = [];
let scheduled = false;

function commit(): void {
  scheduled = false;
  const batch = waiting;
  waiting = [];
  writeSync(fd, Buffer.alloc(32 * batch.length, 1));
  fdatasyncSync(fd);
  for (const response of batch) {
    value += 1;
    const body = `{"sequence_id":"bench","next_value":${value}}`;
    response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    response.end(body);
  }
}

const server = createServer((_request, response) => {
  waiting.push(response);
  if (!scheduled) {
    scheduled = true;
    setImmediate(commit);
  }
});
server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  console.log(JSON.stringify({ msg: 'take-a-number ready', url: `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : port}` }));
});
process.on('SIGTERM', () =>
  server.close(() => {
    closeSync(fd);
    process.exit(0);
  }),
);
