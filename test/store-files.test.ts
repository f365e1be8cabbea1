import assert from 'node:assert/strict';
import { copyFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { nextValue, postNext, startServer, type RunningServer } from './helpers/cli.js';
import { tempDir } from './helpers/temp.js';

async function refusesAndSaysWhy(server: RunningServer, file: RegExp): Promise<void> {
  const answer = await postNext(server.url, 'orders');
  assert.equal(answer.status, 503);
  assert.equal((JSON.parse(answer.text) as { error: { code: string } }).error.code, 'store_unavailable');
  const line = await server.waitForLog((entry) => entry.level >= 50 && JSON.stringify(entry).includes('was removed or replaced'));
  assert.match(JSON.stringify(line), file);
  assert.equal((await fetch(`${server.url}/readyz`)).status, 503, 'not ready');
  assert.equal((await fetch(`${server.url}/healthz`)).status, 200, 'alive, to be looked at');
  assert.equal((await postNext(server.url, 'orders')).status, 503, 'and it stays refused');
}

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
});
