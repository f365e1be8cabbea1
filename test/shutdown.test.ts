/**
 * Graceful shutdown of a spawned server (SIGTERM, SIGINT): requests being
 * allocated are answered, connections without a request received in full are
 * closed at once (idle keep-alive, half a request line, headers or body, half
 * a TLS handshake), then the store is closed and the exit status is 0, long
 * before --shutdown-timeout. Requests are held "being allocated" on
 * PostgreSQL by a lock on the sequences table taken by the test.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { connect as tcpConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import pg from 'pg';
import { nextValue, startServer, until, within, type LogLine, type RunningServer } from './helpers/cli.js';
import { startPostgres } from './helpers/postgres.js';
import { tempDir } from './helpers/temp.js';

const postgres = await startPostgres();

/**
 * Timeouts far beyond what the tests wait for: a prompt exit is the shutdown
 * closing connections, not a timer running out. Statements may wait on the
 * test's lock as long as it holds it.
 */
const PATIENT = ['--shutdown-timeout', '600000', '--request-timeout', '600000', '--keep-alive-timeout', '600000'];
const PATIENT_POSTGRES = [...PATIENT, '--statement-timeout', '600000'];
/** How long the tests give a server to exit after the signal (or after its last answer). */
const PROMPTLY_MS = 10_000;

const isIncoming =
  (path: string) =>
  (line: LogLine): boolean =>
    line.msg === 'incoming request' && (line.req as { url?: unknown } | undefined)?.url === path;

const isShuttingDown =
  (signal: NodeJS.Signals) =>
  (line: LogLine): boolean =>
    line.msg.startsWith('shutting down') && line.signal === signal;

/** Takes the lock that makes allocations wait; `waiting()` resolves once one does. */
async function holdAllocations(url: string): Promise<{ waiting(): Promise<void>; release(): Promise<void> }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  after(() => client.end().catch(() => undefined));
  await client.query('BEGIN');
  await client.query('LOCK TABLE takeanumber_sequences IN EXCLUSIVE MODE');
  return {
    async waiting() {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const { rows } = await client.query<{ n: string }>(
          "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        );
        if (Number(rows[0]?.n) > 0) return;
        if (Date.now() > deadline) throw new Error('no allocation waited for the lock within 10 s');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async release() {
      await client.query('COMMIT');
    },
  };
}

interface HttpAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
}

/** POST /next/{name} in full (no body) on `agent`; the answer when it comes. */
function post(url: string, name: string, agent: http.Agent): Promise<HttpAnswer> {
  const answer = new Promise<HttpAnswer>((resolve, reject) => {
    const request = http.request(new URL(`${url}/next/${encodeURIComponent(name)}`), { method: 'POST', agent }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('error', reject);
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text }));
    });
    request.on('error', reject);
    request.end();
  });
  // Awaited later; until then a failure is kept, not unhandled.
  answer.catch(() => undefined);
  return answer;
}

const valueIn = (answer: HttpAnswer): bigint => {
  const match = /"next_value":(\d+)/.exec(answer.text);
  assert.ok(answer.status === 200 && match?.[1] !== undefined, `expected a 200 with a value, got ${answer.status}: ${answer.text}`);
  return BigInt(match[1]);
};

/** Tries a new connection; resolves the error code it fails with, or undefined if it was answered. */
function connectionError(url: string): Promise<string | undefined> {
  return within(
    new Promise<string | undefined>((resolve) => {
      const request = http.request(new URL(`${url}/healthz`), { agent: false });
      request.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      request.on('response', (response) => {
        response.resume();
        resolve(undefined);
      });
      request.end();
    }),
    5000,
    () => 'the connection attempt neither failed nor was answered within 5 s',
  );
}

/** A raw connection of the test's own; `closed` resolves when the server closes it. */
interface RawClient {
  readonly socket: Socket;
  readonly closed: Promise<void>;
  /** Everything the server sent. */
  received(): string;
}

function raw(socket: Socket): RawClient {
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (text += chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  after(() => socket.destroy());
  return { socket, closed, received: () => text };
}

/** Connections in every state a shutdown must not wait for; the half-received ones first. */
async function stalledClients(server: RunningServer): Promise<Record<string, RawClient>> {
  const { port } = new URL(server.url);
  const open = (bytes: string): RawClient => {
    const client = raw(tcpConnect(Number(port), '127.0.0.1'));
    if (bytes !== '') client.socket.write(bytes, 'latin1');
    return client;
  };
  const clients = {
    'half a request line': open('POST /next/stalled-li'),
    'half the headers': open('POST /next/stalled-headers HTTP/1.1\r\nHost: x\r\nContent-Le'),
    'half a body': open('POST /next/stalled-body HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{"a"'),
    'an idle keep-alive connection': open('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'),
    'a connection that sent nothing': open(''),
  };
  // The server has the headers of the request with half a body, and has answered the keep-alive one.
  await server.waitForLog(isIncoming('/next/stalled-body'));
  const idle = clients['an idle keep-alive connection'];
  await until(() => idle.received().includes('{"status":"ok"}'), 5000, () => `no answer on the keep-alive connection: ${idle.received()}`);
  return clients;
}

/** Each of `clients` is closed by the server without an answer (but the keep-alive one's earlier answer). */
async function closedPromptly(clients: Record<string, RawClient>): Promise<void> {
  for (const [what, client] of Object.entries(clients)) {
    await within(client.closed, PROMPTLY_MS, () => `the server did not close ${what} within ${PROMPTLY_MS} ms of the signal`);
    if (what !== 'an idle keep-alive connection') assert.equal(client.received(), '', `${what} got no answer`);
  }
}

describe('graceful shutdown', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal}: requests being allocated are answered, new connections refused, exit 0, values continue after restart`, async () => {
      const store = await postgres.newDatabase();
      const server = await startServer({ store, args: ['--log-level', 'debug', ...PATIENT_POSTGRES] });
      for (const expected of [1n, 2n, 3n]) assert.equal(await nextValue(server.url, 'x'), expected);

      // Four requests received in full, on keep-alive connections, that cannot be allocated before the signal.
      const agent = new http.Agent({ keepAlive: true });
      after(() => agent.destroy());
      const lock = await holdAllocations(store);
      const inFlight = Array.from({ length: 4 }, () => post(server.url, 'x', agent));
      await server.waitForLogs(isIncoming('/next/x'), 3 + 4);
      await lock.waiting();
      server.process.kill(signal);
      await server.waitForLog(isShuttingDown(signal));

      // The listener is closed at once; the requests wait for the store, and are answered.
      const refused = await connectionError(server.url);
      assert.ok(refused === 'ECONNREFUSED' || refused === 'ECONNRESET', `a new connection was ${refused ?? 'answered'}`);
      await lock.release();
      const answers = await Promise.all(inFlight);
      assert.deepEqual(answers.map(valueIn).sort(), [4n, 5n, 6n, 7n]);
      for (const answer of answers) assert.equal(answer.headers.connection, 'close', 'answers during shutdown close their connection');

      // The signal was sent once, as a process manager does; the keep-alive connections do not hold the exit.
      assert.deepEqual(await server.waitForExit(PROMPTLY_MS), { code: 0, signal: null });
      assert.ok(
        server.logs.some((line) => line.msg === 'stopped'),
        'the server logs that it stopped, after closing the store',
      );

      const restarted = await startServer({ store });
      assert.equal(await nextValue(restarted.url, 'x'), 8n);
      assert.equal(await restarted.stop(), 0);
    });
  }

  test('SIGTERM closes idle and half-received connections at once, answers the request being allocated, exits 0 (PostgreSQL)', async () => {
    const store = await postgres.newDatabase();
    const server = await startServer({ store, args: ['--log-level', 'debug', ...PATIENT_POSTGRES] });
    assert.equal(await nextValue(server.url, 'held'), 1n);
    const clients = await stalledClients(server);
    const agent = new http.Agent({ keepAlive: true });
    after(() => agent.destroy());
    const lock = await holdAllocations(store);
    const held = post(server.url, 'held', agent);
    await lock.waiting();

    server.process.kill('SIGTERM');
    await closedPromptly(clients);
    // Still waiting for the store: it is answered once the lock goes, then the server stops.
    await lock.release();
    assert.equal(valueIn(await held), 2n);
    assert.deepEqual(await server.waitForExit(PROMPTLY_MS), { code: 0, signal: null });
    assert.ok(server.logs.some((line) => line.msg === 'stopped'));

    const restarted = await startServer({ store });
    assert.equal(await nextValue(restarted.url, 'held'), 3n);
    assert.equal(await restarted.stop(), 0);
  });

  test('SIGTERM closes idle and half-received connections at once, closes the store cleanly, exits 0 (SQLite)', async () => {
    const path = join(tempDir(), 'shutdown.db');
    const server = await startServer({ store: `sqlite:${path}`, args: ['--log-level', 'debug', ...PATIENT] });
    assert.equal(await nextValue(server.url, 'kept'), 1n);
    const clients = await stalledClients(server);
    assert.ok(existsSync(`${path}-wal`), 'a serving store has its write-ahead log');

    server.process.kill('SIGTERM');
    await closedPromptly(clients);
    assert.deepEqual(await server.waitForExit(PROMPTLY_MS), { code: 0, signal: null });
    // Closed cleanly: SQLite folds the log into the database and removes it on the last close.
    assert.equal(existsSync(`${path}-wal`), false, 'the store was closed: its -wal file is gone');
    const restarted = await startServer({ store: `sqlite:${path}` });
    assert.equal(await nextValue(restarted.url, 'kept'), 2n);
    assert.equal(await restarted.stop(), 0);
  });

  test('SIGTERM closes a connection halfway through its TLS handshake at once (HTTPS)', async () => {
    const dir = tempDir();
    const cert = join(dir, 'server.crt');
    const key = join(dir, 'server.key');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert],
      { stdio: 'ignore' },
    );
    const server = await startServer({ store: `sqlite:${join(dir, 'tls.db')}`, args: ['--tls-cert', cert, '--tls-key', key, ...PATIENT] });
    const { port } = new URL(server.url);
    // The first bytes of a TLS record (a handshake, 512 bytes long) and no more.
    const handshaking = raw(tcpConnect(Number(port), '127.0.0.1'));
    handshaking.socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    // And an HTTPS keep-alive connection that has been answered and is idle.
    const idle = raw(tlsConnect({ host: '127.0.0.1', port: Number(port), rejectUnauthorized: false }));
    idle.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => idle.received().includes('{"status":"ok"}'), 5000, () => `no answer over HTTPS: ${idle.received()}`);

    server.process.kill('SIGTERM');
    await within(handshaking.closed, PROMPTLY_MS, () => 'the server did not close the half-done TLS handshake');
    await within(idle.closed, PROMPTLY_MS, () => 'the server did not close the idle HTTPS connection');
    assert.deepEqual(await server.waitForExit(PROMPTLY_MS), { code: 0, signal: null });
  });
});
