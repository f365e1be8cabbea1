import assert from 'node:assert/strict';
import { existsSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { nextValue, runCli, startServer, type RunningServer } from './helpers/cli.js';
import { tempDir } from './helpers/temp.js';

/** A fresh `sqlite:PATH` store setting in its own temp folder. */
function freshStore(file = 'store.db'): { store: string; path: string; dir: string } {
  const dir = tempDir();
  const path = join(dir, file);
  return { store: `sqlite:${path}`, path, dir };
}

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
