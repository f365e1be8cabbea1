import assert from 'node:assert/strict';
import { existsSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { nextValue, runCli, startServer, within, type LogLine, type RunningServer } from './helpers/cli.js';
import { tempDir } from './helpers/temp.js';

/** A fresh `sqlite:PATH` store setting in its own temp folder. */
function freshStore(file = 'store.db'): { store: string; path: string; dir: string } {
  const dir = tempDir();
  const path = join(dir, file);
  return { store: `sqlite:${path}`, path, dir };
}

interface HttpAnswer {
  readonly status: number;
  readonly text: string;
}

/**
 * A POST /next/{name} that is held in flight: its headers and the first byte
 * of its 2-byte JSON body are sent now, the rest when `finish()` is called.
 */
function postInFlight(url: string, name: string, agent: http.Agent | false): { finish(): Promise<HttpAnswer> } {
  const request = http.request(new URL(`${url}/next/${encodeURIComponent(name)}`), {
    method: 'POST',
    agent,
    headers: { 'content-type': 'application/json', 'content-length': '2' },
  });
  const answer = new Promise<HttpAnswer>((resolve, reject) => {
    request.on('error', reject);
    request.on('response', (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('error', reject);
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
    });
  });
  // Settled by finish(); until then a failure is kept, not unhandled.
  answer.catch(() => undefined);
  request.write('{');
  return {
    finish() {
      request.end('}');
      return within(answer, 5000, () => `no answer to the in-flight POST /next/${name} within 5 s`);
    },
  };
}

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

const valueIn = (answer: HttpAnswer): bigint => {
  const match = /"next_value":(\d+)/.exec(answer.text);
  assert.ok(answer.status === 200 && match?.[1] !== undefined, `expected a 200 with a value, got ${answer.status}: ${answer.text}`);
  return BigInt(match[1]);
};

const isIncoming =
  (path: string) =>
  (line: LogLine): boolean =>
    line.msg === 'incoming request' && (line.req as { url?: unknown } | undefined)?.url === path;

const isShuttingDown =
  (signal: NodeJS.Signals) =>
  (line: LogLine): boolean =>
    line.msg.startsWith('shutting down') && line.signal === signal;

describe('restart', () => {
  test('values persist across a restart and continue where they stopped', async () => {
    const { store } = freshStore();
    const first = await startServer({ store });
    for (const expected of [1n, 2n, 3n]) assert.equal(await nextValue(first.url, 'orders'), expected);
    assert.equal(await nextValue(first.url, 'invoices'), 1n);
    assert.equal(await first.stop('SIGTERM'), 0);

    const second = await startServer({ store });
    assert.equal(await nextValue(second.url, 'orders'), 4n);
    assert.equal(await nextValue(second.url, 'invoices'), 2n);
    // GET, the original service's form, continues the same sequence.
    const response = await fetch(`${second.url}/next/orders`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { sequence_id: 'orders', next_value: 5 });
    assert.equal(await second.stop('SIGTERM'), 0);
  });

  test('missing parent folders of the store are created', async () => {
    const dir = tempDir();
    const path = join(dir, 'a', 'b', 'c', 'store.db');
    const server = await startServer({ store: `sqlite:${path}` });
    assert.equal(await nextValue(server.url, 'deep'), 1n);
    assert.ok(existsSync(path));
    assert.equal(await server.stop(), 0);
  });

  test('10 concurrent callers get exactly 1..10', async () => {
    const { store } = freshStore();
    const server = await startServer({ store });
    const values = await Promise.all(Array.from({ length: 10 }, () => nextValue(server.url, 'concurrent')));
    assert.deepEqual(
      values.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
      Array.from({ length: 10 }, (_, i) => BigInt(i + 1)),
    );
    assert.equal(await server.stop(), 0);
  });
});

describe('graceful shutdown', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal}: requests in flight are answered, new connections refused, exit 0, values continue after restart`, async () => {
      const { store } = freshStore();
      const server = await startServer({ store, args: ['--log-level', 'debug'] });
      for (const expected of [1n, 2n, 3n]) assert.equal(await nextValue(server.url, 'x'), expected);

      // Four requests the server has received (logged) but cannot finish before the signal.
      const inFlight = Array.from({ length: 4 }, () => postInFlight(server.url, 'x', false));
      await server.waitForLogs(isIncoming('/next/x'), 3 + 4);
      server.process.kill(signal);
      await server.waitForLog(isShuttingDown(signal));

      const [firstInFlight, ...others] = inFlight as [(typeof inFlight)[0], ...typeof inFlight];
      assert.equal(valueIn(await firstInFlight.finish()), 4n);
      // That answer came after the shutdown began: the listener is closed by now.
      const refused = await connectionError(server.url);
      assert.ok(refused === 'ECONNREFUSED' || refused === 'ECONNRESET', `a new connection was ${refused ?? 'answered'}`);
      const rest = await Promise.all(others.map((request) => request.finish()));
      assert.deepEqual(rest.map(valueIn).sort(), [5n, 6n, 7n]);

      // The signal was sent once, as a process manager does; a second one is not needed.
      assert.deepEqual(await server.waitForExit(5000), { code: 0, signal: null });
      assert.ok(
        server.logs.some((line) => line.msg === 'stopped'),
        'the server logs that it stopped',
      );

      const restarted = await startServer({ store });
      assert.equal(await nextValue(restarted.url, 'x'), 8n);
      assert.equal(await restarted.stop(), 0);
    });
  }

  test('SIGTERM with a keep-alive client: exits 0 promptly once the request in flight is answered', async () => {
    // HTTP/1.1 clients (fetch, Node's keep-alive agents) keep the connection open after an answer.
    const agent = new http.Agent({ keepAlive: true });
    after(() => agent.destroy());
    const { store } = freshStore();
    const server = await startServer({ store, args: ['--log-level', 'debug'] });
    const request = postInFlight(server.url, 'kept', agent);
    await server.waitForLog(isIncoming('/next/kept'));
    server.process.kill('SIGTERM');
    await server.waitForLog(isShuttingDown('SIGTERM'));
    assert.equal(valueIn(await request.finish()), 1n);

    const status = await within(
      server.exited,
      5000,
      (): string =>
        'the server did not exit within 5 s of answering its last request after SIGTERM: the client\'s idle keep-alive ' +
        'connection holds the shutdown open until the 10 s grace timer exits with code 1',
    );
    assert.deepEqual(status, { code: 0, signal: null });
  });
});

describe('one writer per store', () => {
  async function serving(): Promise<{ server: RunningServer; store: string; path: string }> {
    const { store, path } = freshStore();
    const server = await startServer({ store });
    assert.equal(await nextValue(server.url, 'shared'), 1n);
    assert.equal(await nextValue(server.url, 'shared'), 2n);
    return { server, store, path };
  }

  test('a second serve on the same store exits non-zero within about a second; the first keeps serving', async () => {
    const { server, store, path } = await serving();
    const second = await runCli(['serve', '--port', '0', '--host', '127.0.0.1', '--store', store], { timeoutMs: 2000 });
    assert.notEqual(second.code, 0);
    assert.equal(second.code, 1);
    assert.match(second.stderr, /in use/);
    assert.ok(second.stderr.includes(path), `the message names the store: ${second.stderr}`);
    assert.doesNotMatch(second.stdout, /take-a-number ready/);

    assert.equal(await nextValue(server.url, 'shared'), 3n);
    assert.equal(await server.stop(), 0);
  });

  test('the same store named by a different path (relative, sqlite://) is still refused', async () => {
    const { server, path } = await serving();
    const dir = join(path, '..');
    const second = await runCli(['serve', '--port', '0', '--host', '127.0.0.1', '--store', 'sqlite://./store.db'], {
      cwd: dir,
      timeoutMs: 2000,
    });
    assert.equal(second.code, 1, second.stderr);
    assert.match(second.stderr, /in use/);
    assert.equal(await nextValue(server.url, 'shared'), 3n);
    assert.equal(await server.stop(), 0);
  });

  test('import is refused while a server runs, and changes nothing', async () => {
    const { server, store } = await serving();
    const dir = tempDir();
    const file = join(dir, 'sequences.json');
    writeFileSync(file, '{"shared": 100, "other": 7}');
    const result = await runCli(['import', file, '--store', store], { timeoutMs: 2000 });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /in use/);
    assert.equal(result.stdout, '');

    assert.equal(await nextValue(server.url, 'shared'), 3n);
    assert.equal(await nextValue(server.url, 'other'), 1n);
    assert.equal(await server.stop(), 0);
  });

  test('export works beside a running server and shows what it handed out', async () => {
    const { server, store } = await serving();
    const result = await runCli(['export', '--store', store]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), { shared: 2 });

    assert.equal(await nextValue(server.url, 'shared'), 3n);
    const again = await runCli(['export', '--store', store]);
    assert.deepEqual(JSON.parse(again.stdout), { shared: 3 });
    assert.equal(await server.stop(), 0);
  });
});

describe('a store that cannot be used stops serve before it listens and is left untouched', () => {
  async function refused(path: string): Promise<{ stderr: string }> {
    const before = readFileSync(path);
    const result = await runCli(['serve', '--port', '0', '--host', '127.0.0.1', '--store', `sqlite:${path}`], {
      timeoutMs: 5000,
    });
    assert.notEqual(result.code, 0, 'exit code');
    assert.equal(result.code, 1);
    assert.doesNotMatch(result.stdout, /take-a-number ready|Server listening/, 'it never listened');
    assert.ok(result.stderr.includes(path), `the message names the file: ${result.stderr}`);
    assert.deepEqual(readFileSync(path), before, 'the file is byte-identical');
    return result;
  }

  test('a file of garbage bytes', async () => {
    const { path } = freshStore('garbage.db');
    const bytes = Buffer.alloc(8192);
    for (let i = 0; i < bytes.length; i += 1) bytes[i] = (i * 7919 + 13) % 251;
    writeFileSync(path, bytes);
    const { stderr } = await refused(path);
    assert.match(stderr, /not a readable SQLite database/);
  });

  test("the Python service's sequences.json given as the store", async () => {
    const { path } = freshStore('sequences.json');
    writeFileSync(path, '{"orders": 41, "invoices": 7}\n');
    const { stderr } = await refused(path);
    assert.match(stderr, /not a readable SQLite database/);
    assert.match(stderr, /take-a-number import/, 'the message points to import');
  });

  test('a half-written (truncated) store', async () => {
    const { path, dir } = freshStore();
    const file = join(dir, 'seed.json');
    writeFileSync(file, '{"a": 5, "b": 7}');
    assert.equal((await runCli(['import', file, '--store', `sqlite:${path}`])).code, 0);
    truncateSync(path, 4096);
    const { stderr } = await refused(path);
    assert.match(stderr, /malformed|corrupt/);
  });

  test('a SQLite database of another application', async () => {
    const { path } = freshStore('other.db');
    const db = new Database(path);
    db.exec('CREATE TABLE notes (body TEXT)');
    db.close();
    const { stderr } = await refused(path);
    assert.match(stderr, /not a TakeANumber store/);
  });

  test('a store written by a newer schema version is refused, by serve and by export', async () => {
    const { path, dir } = freshStore();
    const file = join(dir, 'seed.json');
    writeFileSync(file, '{"a": 5}');
    assert.equal((await runCli(['import', file, '--store', `sqlite:${path}`])).code, 0);
    const db = new Database(path);
    db.pragma('user_version = 999');
    db.close();

    const { stderr } = await refused(path);
    assert.match(stderr, /newer/);
    assert.match(stderr, /999/);

    const exported = await runCli(['export', '--store', `sqlite:${path}`]);
    assert.equal(exported.code, 1, exported.stderr);
    assert.match(exported.stderr, /newer/);
    const check = new Database(path, { readonly: true });
    assert.equal(check.pragma('user_version', { simple: true }), 999);
    check.close();
  });
});
