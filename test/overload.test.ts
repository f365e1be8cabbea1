/**
 * Overload: more /next requests waiting for the store than maxPending are
 * refused at once with 503 overloaded and Retry-After: 1, take nothing, and
 * the server goes on serving. In process (app.inject, a commit held by the
 * FaultyStore) and in a spawned server flooded over many connections.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { buildApp } from '../src/app.js';
import { parseJsonLossless } from '../src/json.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { nextValue, startServer, within } from './helpers/cli.js';
import { FaultyStore } from './helpers/faulty-store.js';
import { tempDir } from './helpers/temp.js';

function parse(text: string): Record<string, unknown> {
  const parsed = parseJsonLossless(text);
  assert.ok(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed), `not a JSON object: ${text}`);
  return parsed as Record<string, unknown>;
}

function errorCode(text: string): unknown {
  return (parse(text).error as { code?: unknown } | undefined)?.code;
}

/** Asserts the ranges cover exactly 1..n, each value once. */
function assertContiguousFromOne(ranges: readonly { first: bigint; last: bigint }[], what: string): bigint {
  const sorted = [...ranges].sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  let expected = 1n;
  for (const { first, last } of sorted) {
    assert.equal(first, expected, `${what}: the values answered are one contiguous range from 1 (no gap, no overlap)`);
    expected = last + 1n;
  }
  return expected - 1n;
}

describe('Overload in process (app.inject, commit held)', () => {
  it('refuses the requests beyond maxPending at once with 503 overloaded, takes nothing for them, then serves', async () => {
    const TOTAL = 200;
    const MAX_PENDING = 20;
    const store = new FaultyStore(SqliteStore.open(join(tempDir(), 'overload.db'), { mode: 'write' }));
    const app = await buildApp({ store, maxPending: MAX_PENDING });
    await app.ready();
    try {
      store.setMode('hang');
      const settled: { index: number; response: LightMyRequestResponse }[] = [];
      let refusalsIn: () => void = () => undefined;
      const refusals = new Promise<void>((resolve) => (refusalsIn = resolve));
      // Counts 1, 2, 3 in turn: single values and ?count= batches alike.
      const countOf = (index: number): bigint => BigInt((index % 3) + 1);
      const answers = Array.from({ length: TOTAL }, (_, index) =>
        app.inject({ method: 'POST', url: `/next/hot?count=${countOf(index)}` }).then((response) => {
          settled.push({ index, response });
          if (settled.length === TOTAL - MAX_PENDING) refusalsIn();
          return { index, response };
        }),
      );

      // The refusals come without waiting for the commit, which is held (and stays held) meanwhile.
      await within(refusals, 10_000, () => `only ${settled.length} requests answered while the commit was held`);
      await within(store.waitForHanging(1), 10_000, () => 'no commit reached the store');
      assert.equal(settled.length, TOTAL - MAX_PENDING, 'no accepted request was answered while its commit was held');
      for (const { response } of settled) {
        assert.equal(response.statusCode, 503, response.body);
        assert.equal(errorCode(response.body), 'overloaded', response.body);
        assert.equal(response.headers['retry-after'], '1');
      }
      const refused = new Set(settled.map((s) => s.index));

      await store.release();
      const all = await Promise.all(answers);
      const accepted = all.filter(({ index }) => !refused.has(index));
      assert.equal(accepted.length, MAX_PENDING);
      const ranges = accepted.map(({ index, response }) => {
        assert.equal(response.statusCode, 200, response.body);
        const body = parse(response.body);
        const first = body.next_value as bigint;
        const last = body.last_value as bigint;
        assert.equal(last - first + 1n, countOf(index), response.body);
        return { first, last };
      });
      // Nothing was allocated for the refused requests: the accepted ones hold exactly 1..(their total count).
      const total = accepted.reduce((sum, { index }) => sum + countOf(index), 0n);
      assert.equal(assertContiguousFromOne(ranges, 'accepted requests'), total);
      assert.equal(store.delegated.requests, MAX_PENDING, 'only the accepted requests reached the store');

      // Recovered: the next request is served, right after the accepted ones.
      const next = await app.inject({ method: 'POST', url: '/next/hot' });
      assert.equal(next.statusCode, 200, next.body);
      assert.equal(parse(next.body).next_value, total + 1n);
    } finally {
      await store.release();
      await app.close();
      await store.close();
    }
  });
});

interface RawResponse {
  readonly status: number;
  readonly headers: ReadonlyMap<string, string>;
  readonly body: string;
}

/** A keep-alive HTTP/1.1 connection written by hand: requests are sent exactly when the test says. */
class RawConnection {
  readonly #socket: Socket;
  #buffer = Buffer.alloc(0);
  readonly #waiting: { resolve: (response: RawResponse) => void; reject: (error: Error) => void }[] = [];
  #failure: Error | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#drain();
    });
    const fail = (error: Error): void => {
      this.#failure ??= error;
      for (const waiter of this.#waiting.splice(0)) waiter.reject(error);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('the connection closed')));
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.off('error', reject);
        resolve(new RawConnection(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Writes a request; resolves once the kernel has taken it. */
  send(method: string, path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#socket.write(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n`, (error) =>
        error ? reject(error) : resolve(),
      );
    });
  }

  /** The next response on the connection. */
  response(): Promise<RawResponse> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#drain();
    });
  }

  async request(method: string, path: string): Promise<RawResponse> {
    const answer = this.response();
    await this.send(method, path);
    return answer;
  }

  close(): void {
    this.#socket.destroy();
  }

  #drain(): void {
    while (this.#waiting.length > 0) {
      const end = this.#buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [statusLine = '', ...lines] = this.#buffer.subarray(0, end).toString('latin1').split('\r\n');
      const headers = new Map<string, string>();
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      const length = Number(headers.get('content-length') ?? '0');
      if (this.#buffer.length < end + 4 + length) return;
      const body = this.#buffer.subarray(end + 4, end + 4 + length).toString('utf8');
      this.#buffer = this.#buffer.subarray(end + 4 + length);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1]);
      this.#waiting.shift()?.resolve({ status, headers, body });
    }
  }
}

describe('Overload of a spawned server (--max-pending 50)', () => {
  it('answers a flood of 1000 connections with 200 or 503 overloaded only, unique values, and keeps serving', async () => {
    const CONNECTIONS = 1000;
    const server = await startServer({ store: `sqlite:${join(tempDir(), 'flood.db')}`, args: ['--max-pending', '50'] });
    const port = Number(new URL(server.url).port);
    const connections: RawConnection[] = [];
    try {
      // Open every connection first, and make each serve a request, so the server holds them all (in groups,
      // to stay within the listen backlog).
      for (let opened = 0; opened < CONNECTIONS; opened += 100) {
        const group = await Promise.all(Array.from({ length: 100 }, () => RawConnection.open(port)));
        const health = await Promise.all(group.map((connection) => connection.request('GET', '/healthz')));
        for (const answer of health) assert.equal(answer.status, 200, answer.body);
        connections.push(...group);
      }

      // Freeze the server, queue one /next on every connection, and let it go: it finds
      // 1000 requests ready at once, far more than --max-pending.
      assert.ok(server.process.kill('SIGSTOP'));
      let answers: RawResponse[];
      try {
        const responses = connections.map((connection) => connection.response());
        await Promise.all(connections.map((connection) => connection.send('POST', '/next/flood')));
        assert.ok(server.process.kill('SIGCONT'));
        answers = await within(Promise.all(responses), 20_000, () => 'the flood was not answered within 20 s');
      } finally {
        server.process.kill('SIGCONT');
      }

      const values: bigint[] = [];
      let overloaded = 0;
      for (const answer of answers) {
        if (answer.status === 200) {
          const body = parse(answer.body);
          assert.equal(body.sequence_id, 'flood', answer.body);
          values.push(body.next_value as bigint);
        } else {
          assert.equal(answer.status, 503, answer.body);
          assert.equal(errorCode(answer.body), 'overloaded', answer.body);
          assert.equal(answer.headers.get('retry-after'), '1');
          overloaded += 1;
        }
      }
      assert.equal(values.length + overloaded, CONNECTIONS);
      assert.ok(overloaded > 0, 'some requests beyond --max-pending were refused');
      assert.ok(values.length > 0, 'requests within --max-pending were served');
      assert.equal(new Set(values).size, values.length, 'no value was answered twice');
      // Nothing was allocated for the refused requests: the values served are exactly 1..served.
      assert.equal(assertContiguousFromOne(values.map((v) => ({ first: v, last: v })), 'served requests'), BigInt(values.length));

      assert.equal(server.process.exitCode, null, 'the server is still running');
      const warning = await server.waitForLog((line) => line.level === 40 && line.msg.includes('503 overloaded'));
      assert.match(warning.msg, /^50 requests are waiting for the store/);
      // Served again, on an existing connection and on a new one.
      const [kept] = connections;
      assert.ok(kept !== undefined);
      const again = await within(kept.request('POST', '/next/flood'), 10_000, () => 'no answer on a kept connection');
      assert.equal(again.status, 200, again.body);
      assert.equal(parse(again.body).next_value, BigInt(values.length) + 1n);
      assert.equal(await nextValue(server.url, 'flood'), BigInt(values.length) + 2n);
    } finally {
      for (const connection of connections) connection.close();
    }
    assert.equal(await server.stop(), 0);
  });
});
