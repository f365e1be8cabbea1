import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { TakeANumberError } from '../../packages/client/src/index.js';

/** One request line the proxy or the fake saw, with its Idempotency-Key. */
export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly key: string | undefined;
  /** performance.now() when it arrived. */
  readonly at: number;
}

/** What the proxy does to the next request: pass it, cut it halfway, or drop the server's answer to it. */
export type Fault = 'cut-request' | 'drop-response';

export interface FaultyProxy {
  readonly url: string;
  readonly requests: SeenRequest[];
  /** Where connections go from now on (a restarted server listens elsewhere). */
  retarget(url: string): void;
  /** The next request gets this fault (faults queue up, one per request). */
  fault(fault: Fault): void;
  close(): Promise<void>;
}

const REQUEST_LINE = /^(GET|POST|PUT|DELETE|HEAD) (\S+) HTTP\/1\.1\r\n(?:[^\r\n]*\r\n)*?\r\n/gm;

function requestsIn(chunk: string): SeenRequest[] {
  const seen: SeenRequest[] = [];
  for (const match of chunk.matchAll(REQUEST_LINE)) {
    const key = /^idempotency-key: *(.*?)\r$/im.exec(match[0])?.[1];
    seen.push({ method: match[1] ?? '', path: match[2] ?? '', key, at: performance.now() });
  }
  return seen;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/**
 * A TCP proxy in front of a server that sees every request (each write of
 * fetch carries whole requests: its headers and small bodies go in one
 * write) and can cut a request halfway (the server never gets all of it) or
 * let the server answer and drop the answer (the server did the work; the
 * client never hears of it).
 */
export async function faultyProxy(target: string): Promise<FaultyProxy> {
  let upstream = new URL(target);
  const faults: Fault[] = [];
  const requests: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    sockets.add(client);
    const server = connect(Number(upstream.port), upstream.hostname);
    sockets.add(server);
    let dropAnswer = false;
    const close = (): void => {
      client.destroy();
      server.destroy();
    };
    client.on('error', close).on('close', close);
    server.on('error', close).on('close', close);
    client.on('data', (chunk: Buffer) => {
      const seen = requestsIn(chunk.toString('latin1'));
      requests.push(...seen);
      const fault = seen.length > 0 ? faults.shift() : undefined;
      if (fault === 'cut-request') {
        server.write(chunk.subarray(0, Math.floor(chunk.length / 2)), close);
        return;
      }
      if (fault === 'drop-response') dropAnswer = true;
      server.write(chunk);
    });
    server.on('data', (chunk: Buffer) => {
      if (dropAnswer) close();
      else client.write(chunk);
    });
  });
  const port = await listen(server);
  const proxy: FaultyProxy = {
    url: `http://127.0.0.1:${port}`,
    requests,
    retarget(url) {
      upstream = new URL(url);
    },
    fault(fault) {
      faults.push(fault);
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  after(() => proxy.close());
  return proxy;
}

/** What the fake answers a request: a status, headers, a body; or nothing at all (it hangs). */
export type FakeAnswer = { readonly status: number; readonly headers?: Record<string, string>; readonly body: string } | 'hang';

export interface FakeServer {
  readonly url: string;
  readonly requests: SeenRequest[];
  close(): Promise<void>;
}

/** A tiny HTTP server answering each request with the next scripted answer (the last one repeats). */
export async function fakeServer(script: readonly FakeAnswer[]): Promise<FakeServer> {
  const requests: SeenRequest[] = [];
  const hanging = new Set<ServerResponse>();
  const server = createHttpServer((request: IncomingMessage, response: ServerResponse) => {
    const key = request.headers['idempotency-key'];
    requests.push({ method: request.method ?? '', path: request.url ?? '', key: typeof key === 'string' ? key : undefined, at: performance.now() });
    request.resume();
    const answer = script[Math.min(requests.length, script.length) - 1] ?? 'hang';
    if (answer === 'hang') {
      hanging.add(response);
      return;
    }
    response.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
    response.end(answer.body);
  });
  const port = await listen(server);
  const fake: FakeServer = {
    url: `http://127.0.0.1:${port}`,
    requests,
    async close() {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  after(() => fake.close());
  return fake;
}

/** A port nothing listens on (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Resolves the error a promise rejects with; fails if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<TakeANumberError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof TakeANumberError, `a TakeANumberError: ${String(error)}`);
    return error;
  }
  assert.fail('expected a rejection');
}
