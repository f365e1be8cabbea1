/**
 * `export FILE` refuses, as `backup FILE` does, a FILE that is the store
 * itself or one of its files (-wal, -shm, -journal, .lock), whatever path
 * names it (.., a symbolic link to the file or to its folder, relative to the
 * working directory): exit status 1, a message, and the store untouched,
 * still serving the same counters. A FILE that cannot be written is refused
 * the same way, with a message rather than a stack trace.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { nextValue, runCli, startServer } from './helpers/cli.js';
import { tempDir } from './helpers/temp.js';

describe('export FILE', () => {
  it("refuses the store's own files by any path, exit status 1, and the store keeps serving the same counters", async () => {
    const dir = tempDir();
    const path = join(dir, 'store.db');
    const store = `sqlite:${path}`;
    const server = await startServer({ store });
    for (const expected of [1n, 2n, 3n]) assert.equal(await nextValue(server.url, 'orders'), expected);

    mkdirSync(join(dir, 'sub'));
    symlinkSync(path, join(dir, 'link.db'));
    symlinkSync(`${path}-wal`, join(dir, 'wal-link'));
    symlinkSync(dir, join(dir, 'folder-link'));
    const refusals: [args: string[], message: RegExp, cwd?: string][] = [
      [[path], /is the store itself/],
      [[join(dir, 'sub', '..', 'store.db')], /is the store itself/],
      [[join(dir, 'link.db')], /is the store itself/],
      [[join(dir, 'folder-link', 'store.db')], /is the store itself/],
      [['store.db'], /is the store itself/, dir],
      [[`${path}-wal`], /the store's -wal file/],
      [[join(dir, 'wal-link')], /the store's -wal file/],
      [[`${path}-shm`], /the store's -shm file/],
      [[`${path}-journal`], /the store's -journal file/],
      [[`${path}.lock`], /the store's \.lock file/],
      [[join(dir, 'folder-link', 'store.db-wal'), '--format', 'full'], /the store's -wal file/],
    ];
    const filesBefore = readdirSync(dir).sort();
    for (const [args, message, cwd] of refusals) {
      const result = await runCli(['export', ...args, '--store', store], { cwd });
      const what = args.join(' ');
      assert.equal(result.code, 1, `${what}: ${result.stderr}`);
      assert.match(result.stderr, message, what);
      assert.match(result.stderr, /^take-a-number: Cannot export/, `${what}: a message, not a stack trace`);
      assert.doesNotMatch(result.stderr, /\n\s+at /, `${what}: no stack trace`);
      assert.equal(result.stdout, '');
    }
    assert.deepEqual(readdirSync(dir).sort(), filesBefore, 'no file was written or left behind');

    // The store is untouched: the server goes on from where it was, and so does a restart.
    assert.equal(await nextValue(server.url, 'orders'), 4n);
    assert.equal(await server.stop(), 0);
    const restarted = await startServer({ store });
    assert.equal(await nextValue(restarted.url, 'orders'), 5n);
    assert.equal(await restarted.stop(), 0);

    // A file elsewhere is written as before.
    const written = await runCli(['export', join(dir, 'sub', 'sequences.json'), '--store', store]);
    assert.equal(written.code, 0, written.stderr);
  });

  it('refuses a FILE in a missing folder, or that is a folder, with a message and exit status 1', async () => {
    const dir = tempDir();
    const store = `sqlite:${join(dir, 'store.db')}`;
    assert.equal((await runCli(['migrate', '--store', store])).code, 0);
    for (const [file, message] of [
      [join(dir, 'missing', 'sequences.json'), /does not exist/],
      [dir, /is a folder/],
    ] as const) {
      const result = await runCli(['export', file, '--store', store]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, message);
      assert.match(result.stderr, /^take-a-number: Cannot /);
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    }
  });
});
