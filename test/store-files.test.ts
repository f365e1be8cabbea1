import assert from 'node:assert/strict';
import { copyFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { LATEST_SCHEMA_VERSION } from '../src/store/sqlite/migrations.js';
import { nextValue, postNext, runCli, startServer, type RunningServer } from './helpers/cli.js';
import { mainFileAlone, refusedToServe } from './helpers/store-files.js';
import { tempDir } from './helpers/temp.js';

/** The server answers 503 store_unavailable from now on, is not ready, and has logged an error matching `why`. */
async function refusesAndSaysWhy(server: RunningServer, why: RegExp): Promise<void> {
  const answer = await postNext(server.url, 'orders');
  assert.equal(answer.status, 503, answer.text);
  assert.equal((JSON.parse(answer.text) as { error: { code: string } }).error.code, 'store_unavailable');
  const line = await server.waitForLog((entry) => entry.level >= 50 && why.test(JSON.stringify(entry)));
  assert.match(JSON.stringify(line), why);
  assert.equal((await fetch(`${server.url}/readyz`)).status, 503, 'not ready');
  assert.equal((await fetch(`${server.url}/healthz`)).status, 200, 'alive, to be looked at');
  assert.equal((await postNext(server.url, 'orders')).status, 503, 'and it stays refused');
}

/** `copyFileSync(from, to)` over an existing file writes through its inode: asserts it did, at the same size. */
function copyInPlace(from: string, to: string): void {
  const before = statSync(to);
  copyFileSync(from, to);
  const after = statSync(to);
  assert.equal(after.ino, before.ino, 'the same inode: the file was rewritten in place, not replaced');
  assert.equal(after.size, before.size, 'the same size');
}

/** A checkpoint after every commit: each answer leaves the database file up to date. */
const CHECKPOINT_EVERY_COMMIT = { TAKEANUMBER_CHECKPOINT_FRAMES: '1' };

describe('store files removed or replaced under a running server', () => {
  it('refuses to allocate once the database file is removed (no numbers written into a file no one will open)', async () => {
    const dir = tempDir();
    const path = join(dir, 'gone.db');
    const server = await startServer({ store: `sqlite:${path}` });
    assert.equal(await nextValue(server.url, 'orders'), 1n);
    rmSync(path);
    rmSync(`${path}-wal`, { force: true });
    await refusesAndSaysWhy(server, /gone\.db was removed or replaced/);
    assert.equal(await server.stop(), 0);
  });

  it('refuses once the file is replaced (an old copy restored over it), and once the WAL alone is removed', async () => {
    const dir = tempDir();
    const path = join(dir, 'swapped.db');
    const server = await startServer({ store: `sqlite:${path}` });
    assert.equal(await nextValue(server.url, 'orders'), 1n);
    copyFileSync(path, join(dir, 'copy.db'));
    renameSync(join(dir, 'copy.db'), path);
    await refusesAndSaysWhy(server, /swapped\.db was removed or replaced/);
    assert.equal(await server.stop(), 0);

    const walPath = join(dir, 'wal.db');
    const second = await startServer({ store: `sqlite:${walPath}` });
    assert.equal(await nextValue(second.url, 'orders'), 1n);
    rmSync(`${walPath}-wal`);
    await refusesAndSaysWhy(second, /wal\.db-wal was removed or replaced/);
    assert.equal(await second.stop(), 0);
  });

  it('refuses once its lock file is removed: a second server can then take a new lock, and serves alone', async () => {
    const path = join(tempDir(), 'store.db');
    const first = await startServer({ store: `sqlite:${path}` });
    assert.equal(await nextValue(first.url, 'orders'), 1n);
    rmSync(`${path}.lock`);
    const second = await startServer({ store: `sqlite:${path}` });
    await refusesAndSaysWhy(first, /store\.db\.lock was removed or replaced/);
    assert.equal(await nextValue(second.url, 'orders'), 2n);
    assert.equal(await first.stop(), 0);
    assert.equal(await nextValue(second.url, 'orders'), 3n);
    assert.equal(await second.stop(), 0);
  });
});

describe('store files rewritten in place under a running server', () => {
  it('refuses once an older copy of the database is copied in place after a checkpoint, and the next start refuses it too', async () => {
    const dir = tempDir();
    const path = join(dir, 'store.db');
    const server = await startServer({ store: `sqlite:${path}`, env: CHECKPOINT_EVERY_COMMIT });
    for (let i = 1n; i <= 3n; i += 1n) assert.equal(await nextValue(server.url, 'orders'), i);
    const old = join(dir, 'old.db');
    copyFileSync(path, old);
    assert.equal(mainFileAlone(old).lastValue('orders'), 3n, 'the copy holds the state after 3: it was taken after a checkpoint');
    for (let i = 4n; i <= 6n; i += 1n) assert.equal(await nextValue(server.url, 'orders'), i);
    assert.equal(mainFileAlone(path).lastValue('orders'), 6n, 'checkpointed again since the copy');

    copyInPlace(old, path);
    await refusesAndSaysWhy(server, /store\.db .*older copy/);
    assert.equal(await server.stop(), 0);

    const message = await refusedToServe(`sqlite:${path}`, path);
    assert.match(message, /older copy/);
    assert.match(message, /remove .*store\.db\.lock/, 'it says how to accept the file on purpose');
  });

  it('refuses an older copy put in place after a checkpoint that a reader held back (pages copied, the identity row not)', async () => {
    const dir = tempDir();
    const path = join(dir, 'store.db');
    const store = `sqlite:${path}`;
    // Enough sequences for several table pages: 'a-first' and 'z-last' live on different pages.
    const names = ['a-first', ...Array.from({ length: 300 }, (_, i) => `m-${String(i).padStart(3, '0')}-${'x'.repeat(40)}`), 'z-last'];
    writeFileSync(join(dir, 'seed.json'), JSON.stringify(Object.fromEntries(names.map((name) => [name, 10]))));
    assert.equal((await runCli(['import', join(dir, 'seed.json'), '--store', store])).code, 0);
    // Each allocation folded by the next commit (a pass of one name): a-first and z-last then live on pages of their
    // own (not on the allocation log's).
    const server = await startServer({ store, env: { TAKEANUMBER_CHECKPOINT_FRAMES: '4', TAKEANUMBER_FOLD_ENTRIES: '1' } });
    const old = join(dir, 'old.db');
    copyFileSync(path, old);
    assert.equal(await nextValue(server.url, 'a-first'), 11n);
    // This commit writes a-first's 11 into its page; its own name lives on a page of the middle.
    assert.equal(await nextValue(server.url, names[150] as string), 11n);
    // A reader (as `export` and `backup` are) holds a snapshot that has seen 'a-first' at 11, then 'z-last' moves on.
    const reader = new Database(path, { readonly: true });
    try {
      reader.exec('BEGIN');
      reader.prepare('SELECT count(*) FROM sequences').get();
      for (let i = 11n; i <= 14n; i += 1n) assert.equal(await nextValue(server.url, 'z-last'), i);
      // The checkpoint copied the page of 'a-first' (its latest version is one the reader has seen), not that of 'z-last'.
      const alone = mainFileAlone(path);
      assert.equal(alone.lastValue('a-first'), 11n, 'the database file holds the page of a-first as the checkpoint wrote it');
      assert.equal(alone.lastValue('z-last'), 10n, 'and not the later pages');
      reader.exec('COMMIT');
    } finally {
      reader.close();
    }
    copyInPlace(old, path);
    assert.equal(mainFileAlone(path).lastValue('a-first'), 10n, 'the old copy would hand out 11 again');
    await refusesAndSaysWhy(server, /store\.db was overwritten/);
    assert.equal(await server.stop(), 0);
    await refusedToServe(store, path);
  });

  it('refuses once the database file is truncated to 0 bytes, and the next start refuses it too', async () => {
    const dir = tempDir();
    const path = join(dir, 'store.db');
    const server = await startServer({ store: `sqlite:${path}` });
    for (let i = 1n; i <= 3n; i += 1n) assert.equal(await nextValue(server.url, 'orders'), i);
    truncateSync(path, 0);
    await refusesAndSaysWhy(server, /store\.db /);
    assert.equal(await server.stop(), 0);
    assert.match(await refusedToServe(`sqlite:${path}`, path), /store\.db\.lock/);
  });

  it('refuses once the WAL is emptied (: > store.db-wal), and the next start refuses the store rather than start at 1', async () => {
    const dir = tempDir();
    const path = join(dir, 'store.db');
    const server = await startServer({ store: `sqlite:${path}` });
    for (let i = 1n; i <= 3n; i += 1n) assert.equal(await nextValue(server.url, 'orders'), i);
    truncateSync(`${path}-wal`, 0);
    await refusesAndSaysWhy(server, /store\.db-wal /);
    assert.equal(await server.stop(), 0);
    assert.match(await refusedToServe(`sqlite:${path}`, path), /store\.db\.lock/);
  });

  it('goes on serving when a token command beside it restarts the WAL with its own connection', async () => {
    const path = join(tempDir(), 'store.db');
    const store = `sqlite:${path}`;
    const server = await startServer({ store, env: CHECKPOINT_EVERY_COMMIT });
    // Each commit is checkpointed whole, and the next one starts the WAL again: the server's restarts count up in its header.
    for (let i = 1n; i <= 5n; i += 1n) assert.equal(await nextValue(server.url, 'orders'), i);
    // The token command's connection starts the WAL again too, writing a checkpoint sequence of its own (1).
    const created = await runCli(['token', 'create', '--name', 'ci', '--scope', 'next', '--store', store]);
    assert.equal(created.code, 0, created.stderr);
    const token = created.stdout.trimEnd().split('\n').pop() ?? '';
    const next = async (): Promise<{ status: number; text: string }> => {
      const response = await fetch(`${server.url}/next/orders`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      return { status: response.status, text: await response.text() };
    };
    // Servers load new tokens every 2 s: until then the token is unknown (401), never a refusal of the store.
    let answer = await next();
    const deadline = Date.now() + 10_000;
    while (answer.status === 401 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      answer = await next();
    }
    assert.equal(answer.status, 200, answer.text);
    assert.match(answer.text, /"next_value":6\b/);
    assert.equal(await server.stop(), 0);
  });

  it('a new store: the database file carries the schema and the store identity from the start, not only the WAL', async () => {
    const path = join(tempDir(), 'new.db');
    const server = await startServer({ store: `sqlite:${path}` });
    try {
      assert.equal(await nextValue(server.url, 'orders'), 1n);
      const alone = mainFileAlone(path);
      assert.equal(alone.userVersion, LATEST_SCHEMA_VERSION);
      for (const table of ['sequences', 'idempotency_keys', 'api_tokens', 'store_identity']) {
        assert.ok(alone.tables.includes(table), `the database file alone has the table ${table}: ${alone.tables.join(', ')}`);
      }
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});
