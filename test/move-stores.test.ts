import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { INT64_MAX } from '../src/int64.js';
import { initialPosition, resolveOptions } from '../src/sequence.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { SequenceRecord, SequenceStore } from '../src/store/store.js';
import { runCli } from './helpers/cli.js';
import { startPostgres } from './helpers/postgres.js';
import { tempDir } from './helpers/temp.js';

const server = await startPostgres();

async function all(store: SequenceStore): Promise<Omit<SequenceRecord, 'createdAt' | 'updatedAt'>[]> {
  const records = await store.listSequences({ prefix: '', after: undefined, limit: 1000 });
  return records.map(({ name, options, position }) => ({ name, options, position }));
}

describe('moving a store (export --format full, import)', () => {
  it('carries every option and exact position from SQLite to PostgreSQL', async () => {
    const dir = tempDir();
    const sqlitePath = join(dir, 'from.db');
    const sqlite = SqliteStore.open(sqlitePath, { mode: 'write' });
    const define = async (name: string, changes: Parameters<typeof resolveOptions>[0]) => {
      const options = resolveOptions(changes);
      await sqlite.modifySequence(name, () => ({ write: { kind: 'put', options, position: initialPosition(options) }, result: undefined }));
    };
    await define('descending', { increment: -7n, cycle: true, cache: 20n });
    await define('near-max', { start: INT64_MAX - 3n });
    await define('never-used', { start: 500n, minValue: 100n, maxValue: 1000n });
    await sqlite.allocate([
      { name: 'plain', count: 41n, create: true },
      { name: 'descending', count: 2n, create: true },
      { name: 'near-max', count: 2n, create: true },
      { name: 'bücher:2026 q1', count: 1n, create: true },
    ]);
    const before = await all(sqlite);
    await sqlite.close();

    const file = join(dir, 'full.json');
    const exported = await runCli(['export', file, '--format', 'full', '--store', `sqlite:${sqlitePath}`]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(readFileSync(file, 'utf8'), /"max_value": 9223372036854775807/);

    const url = await server.newDatabase();
    const imported = await runCli(['import', file, '--store', url]);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /5 created/);
    assert.doesNotMatch(imported.stdout, /postgres:postgres@/, 'the password is never printed');

    const pg = await PostgresStore.open({ url, poolSize: 2, statementTimeoutMs: 5000 });
    assert.deepEqual(await all(pg), before);
    const [plain, nearMax] = await pg.allocate([
      { name: 'plain', count: 1n, create: false },
      { name: 'near-max', count: 1n, create: false },
    ]);
    assert.deepEqual([plain, nearMax], [
      { ok: true, first: 42n, last: 42n, replayed: false },
      { ok: true, first: INT64_MAX - 1n, last: INT64_MAX - 1n, replayed: false },
    ]);
    await pg.close();

    // Importing the same file again moves nothing back.
    const again = await runCli(['import', file, '--store', url]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /0 created, 0 raised, 5 already/);
  });

  it('refuses an invalid full-format file whole, naming the entries', async () => {
    const dir = tempDir();
    const file = join(dir, 'bad.json');
    writeFileSync(
      file,
      '{"format": "takeanumber-full", "version": 1, "sequences": [' +
        '{"name": "ok", "last_value": 1, "is_called": true, "start": 1, "increment": 1, "min_value": 1, "max_value": 10, "cycle": false, "cache": 1},' +
        '{"name": "zero", "last_value": 1, "is_called": true, "start": 1, "increment": 0, "min_value": 1, "max_value": 10, "cycle": false, "cache": 1},' +
        '{"name": "float", "last_value": 1.5, "is_called": true, "start": 1, "increment": 1, "min_value": 1, "max_value": 10, "cycle": false, "cache": 1}]}',
    );
    const store = join(dir, 'target.db');
    const result = await runCli(['import', file, '--store', `sqlite:${store}`]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /nothing was changed/);
    assert.match(result.stderr, /sequences\[1\] "zero": increment must not be zero/);
    assert.match(result.stderr, /sequences\[2\] "float": last_value must be a 64-bit integer/);
    const exported = await runCli(['export', '--store', `sqlite:${store}`]);
    assert.equal(exported.stdout, '', 'the invalid file created no store');
  });
});
