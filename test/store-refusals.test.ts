/**
 * What `serve` refuses at start on a SQLite store, process-level: a store
 * that lost its contents (never silently a new one), a second server through
 * a link to the file, an older copy of the file put in place while stopped,
 * and a store missing a table its schema version has.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, linkSync, readdirSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { WriterLock } from '../src/store/sqlite/writer-lock.js';
import { nextValue, runCli, startServer } from './helpers/cli.js';
import { refusedToServe } from './helpers/store-files.js';
import { tempDir } from './helpers/temp.js';

/** A store at `dir/store.db` that has handed out orders 1 to `count`, stopped as `stop` says. */
async function usedStore(dir: string, count: bigint, stop: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<string> {
  const path = join(dir, 'store.db');
  const server = await startServer({ store: `sqlite:${path}` });
  for (let i = 1n; i <= count; i += 1n) assert.equal(await nextValue(server.url, 'orders'), i);
  assert.equal(await server.stop(stop), stop === 'SIGTERM' ? 0 : null);
  return path;
}

describe('a store that lost its contents is refused, never started afresh', () => {
  it('a database file truncated to 0 bytes while stopped', async () => {
    const dir = tempDir();
    const path = await usedStore(dir, 3n);
    truncateSync(path, 0);
    const message = await refusedToServe(`sqlite:${path}`, path);
    assert.match(message, /lost its contents/);
    assert.match(message, /remove .*store\.db\.lock/, 'it says how to start afresh on purpose');
    assert.equal(statSync(path).size, 0, 'the file is left as it was');
    const exported = await runCli(['export', '--store', `sqlite:${path}`]);
    assert.equal(exported.code, 1, exported.stderr);
    assert.match(exported.stderr, /No store at .*store\.db: the file is empty/);
  });

  it('a database file removed while its -wal, -shm and lock file remain (after kill -9), or only its lock file (after a stop)', async () => {
    const dir = tempDir();
    const path = await usedStore(dir, 3n, 'SIGKILL');
    assert.ok(existsSync(`${path}-wal`) && existsSync(`${path}-shm`), 'kill -9 leaves the -wal and -shm');
    rmSync(path);
    let message = await refusedToServe(`sqlite:${path}`, path);
    assert.match(message, /lost its contents/);
    assert.match(message, /store\.db-wal/);
    assert.ok(!existsSync(path), 'no new store was made');

    const other = tempDir();
    const stopped = await usedStore(other, 2n);
    assert.deepEqual(readdirSync(other).sort(), ['store.db', 'store.db.lock']);
    rmSync(stopped);
    message = await refusedToServe(`sqlite:${stopped}`, stopped);
    assert.match(message, /lost its contents/);
    assert.match(message, /remove .*store\.db\.lock/);
    assert.deepEqual(readdirSync(other), ['store.db.lock'], 'nothing made');
  });

  it('a lock file left by a start stopped before its store existed is no trace; an earlier release\'s lock file is', async () => {
    const dir = tempDir();
    const path = join(dir, 'store.db');
    // What a start killed between taking the lock and putting the new store in place leaves behind.
    WriterLock.acquire(path).release();
    assert.deepEqual(readdirSync(dir), ['store.db.lock']);
    const server = await startServer({ store: `sqlite:${path}` });
    assert.equal(await nextValue(server.url, 'orders'), 1n);
    assert.equal(await server.stop(), 0);

    // Earlier releases made the lock file (an empty SQLite database) at each start, and kept no record.
    const other = tempDir();
    const legacy = join(other, 'store.db');
    writeFileSync(`${legacy}.lock`, '');
    assert.match(await refusedToServe(`sqlite:${legacy}`, legacy), /lost its contents/);
  });

  it('a new path makes a new store; so does a path whose traces were removed on purpose', async () => {
    const dir = tempDir();
    const path = await usedStore(dir, 5n, 'SIGKILL');
    for (const file of [path, `${path}-wal`, `${path}-shm`, `${path}.lock`]) rmSync(file, { force: true });
    const server = await startServer({ store: `sqlite:${path}` });
    assert.equal(await nextValue(server.url, 'orders'), 1n, 'a new store, as asked for');
    assert.equal(await server.stop(), 0);

    const fresh = join(tempDir(), 'deeper', 'fresh.db');
    const created = await startServer({ store: `sqlite:${fresh}` });
    assert.equal(await nextValue(created.url, 'orders'), 1n);
    assert.equal(await created.stop(), 0);
  });
});

describe('a second server through another path to the same file', () => {
  it('a symbolic link: refused whichever path the first server was given', async () => {
    const dir = tempDir();
    const path = join(dir, 'store.db');
    const link = join(dir, 'link.db');
    let server = await startServer({ store: `sqlite:${path}` });
    assert.equal(await nextValue(server.url, 'orders'), 1n);
    symlinkSync(path, link);
    assert.match(await refusedToServe(`sqlite:${link}`, link), /in use by another take-a-number process/);
    assert.equal(await server.stop(), 0);

    server = await startServer({ store: `sqlite:${link}` });
    assert.equal(await nextValue(server.url, 'orders'), 2n, 'through the link, the same store');
    assert.match(await refusedToServe(`sqlite:${path}`, path), /in use by another take-a-number process/);
    assert.equal(await nextValue(server.url, 'orders'), 3n);
    assert.equal(await server.stop(), 0);
    assert.ok(!existsSync(`${link}.lock`), 'the lock is taken on the real file');
  });

  it('a dangling symbolic link is refused, not made into a store', async () => {
    const dir = tempDir();
    const link = join(dir, 'dangling.db');
    symlinkSync(join(dir, 'missing', 'store.db'), link);
    assert.match(await refusedToServe(`sqlite:${link}`, link), /symbolic link/);
    assert.deepEqual(readdirSync(dir), ['dangling.db']);
  });

  it('a hard link: refused while the first server runs, and any start while the file has two names', async () => {
    const dir = tempDir();
    const path = join(dir, 'store.db');
    const hard = join(dir, 'hard.db');
    const server = await startServer({ store: `sqlite:${path}` });
    assert.equal(await nextValue(server.url, 'orders'), 1n);
    linkSync(path, hard);
    assert.match(await refusedToServe(`sqlite:${hard}`, hard), /hard link|2 names/);
    assert.equal(await nextValue(server.url, 'orders'), 2n, 'the first server goes on');
    assert.equal(await server.stop(), 0);

    for (const name of [hard, path]) assert.match(await refusedToServe(`sqlite:${name}`, name), /hard link|2 names/);
    rmSync(hard);
    rmSync(`${hard}.lock`, { force: true });
    const again = await startServer({ store: `sqlite:${path}` });
    assert.equal(await nextValue(again.url, 'orders'), 3n);
    assert.equal(await again.stop(), 0);
  });
});

describe('other stores refused at start', () => {
  it('an older copy of the database file put in place while stopped; accepted once the lock file is removed', async () => {
    const dir = tempDir();
    const path = await usedStore(dir, 3n);
    const old = join(dir, 'old.db');
    copyFileSync(path, old);
    let server = await startServer({ store: `sqlite:${path}` });
    for (let i = 4n; i <= 6n; i += 1n) assert.equal(await nextValue(server.url, 'orders'), i);
    assert.equal(await server.stop(), 0);

    copyFileSync(old, path);
    const message = await refusedToServe(`sqlite:${path}`, path);
    assert.match(message, /older copy/);
    assert.match(message, /remove .*store\.db\.lock/);

    rmSync(`${path}.lock`);
    server = await startServer({ store: `sqlite:${path}` });
    assert.equal(await nextValue(server.url, 'orders'), 4n, 'accepted as it is, on purpose');
    assert.equal(await server.stop(), 0);
  });

  it('a store missing its sequences table: serve exits 1 naming the file and the table, instead of answering 503 for ever', async () => {
    const dir = tempDir();
    const path = await usedStore(dir, 2n);
    const db = new Database(path);
    db.exec('DROP TABLE sequences');
    db.close();
    const message = await refusedToServe(`sqlite:${path}`, path);
    assert.match(message, /sequences/);
    const exported = await runCli(['export', '--store', `sqlite:${path}`]);
    assert.equal(exported.code, 1, exported.stderr);
    assert.match(exported.stderr, /sequences/);
  });
});
