/**
 * The floor: a bare node:http server answering a body of the shape of /next.
 * No framework, no store, no durability: the ceiling of any Node service on
 * the machine, measured in the same run as the real one.
 */
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 0);
let value = 0;
const server = createServer((_request, response) => {
  value += 1;
  const body = `{"sequence_id":"hot","next_value":${value}}`;
  response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  response.end(body);
});
server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  console.log(JSON.stringify({ msg: 'take-a-number ready', url: `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : port}` }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
