/**
 * The durable floor: the fastest any Node service can answer when every
 * answer waits for its own group-committed fdatasync. A bare node:http server
 * that, once per event-loop turn, appends 32 bytes per waiting request to a
 * log file, fdatasyncs it, and only then answers the batch (group-commit.ts).
 * No names, no store, no framework: the yardstick of `/next` (issue 17).
 *
 *   DATA_DIR=/tmp/x node --import tsx bench/floor-durable.ts
 */
import { createServer } from 'node:http';
import { join } from 'node:path';
import { groupCommit } from './group-commit.js';

const port = Number(process.env.PORT ?? 0);
const log = groupCommit(join(process.env.DATA_DIR ?? '.', 'floor-durable.log'));
let value = 0;

const server = createServer((_request, response) => {
  log.wait(() => {
    value += 1;
    const body = `{"sequence_id":"bench","next_value":${value}}`;
    response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    response.end(body);
  });
});
server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  console.log(JSON.stringify({ msg: 'take-a-number ready', url: `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : port}` }));
});
process.on('SIGTERM', () =>
  server.close(() => {
    log.close();
    process.exit(0);
  }),
);
