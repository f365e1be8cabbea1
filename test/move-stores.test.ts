import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { INT64_MAX } from '../src/core/int64.js';
import { initialPosition, resolveOptions } from '../src/core/sequence.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { SequenceRecord, SequenceStore } from '../src/core/store.js';
import { runCli } from './helpers/cli.js';
import { startPostgres } from './helpers/postgres.js';
import { tempDir } from './helpers/temp.js';

const server = await startPostgres();

async function all(store: SequenceStore, deleted = false): Promise<Pick<SequenceRecord, 'name' | 'options' | 'position' | 'issued'>[]> {
  const records = await store.listSequences({ prefix: '', after: undefined, limit: 1000, deleted });
  return records.map(({ name, options, position, issued }) => (deleted ? { name, issued } : { name, options, position, issued }) as SequenceRecord);
}

describe('moving a store (export --format full, import)', () => {
  it('carries every option and exact position from SQLite to PostgreSQL', async () => {
    const dir = tempDir();
    const sqlitePath = join(dir, 'from.db');
    const sqlite = SqliteStore.open(sqlitePath, { mode: 'write' });
    const define = async (name: string, changes: Parameters<typeof resolveOptions>[0]) => {
      const options = resolveOptions(changes);
      await sqlite.modifySequence(name, () => ({
        write: { kind: 'put', options, position: initialPosition(options), issued: undefined, seriesFirst: undefined, period: undefined, clearGapless: false },
        result: undefined,
      }));
    };
    await define('descending', { increment: -7n, cycle: true, cache: 20n });
    await define('near-max', { start: INT64_MAX - 3n });
    await define('never-used', { start: 500n, minValue: 100n, maxValue: 1000n });
    await sqlite.allocateBatch([
      { name: 'plain', count: 41n, create: true },
      { name: 'descending', count: 2n, create: true },
      { name: 'near-max', count: 2n, create: true },
      { name: 'bücher:2026 q1', count: 1n, create: true },
      { name: 'deleted', count: 17n, create: true },
    ]);
    await sqlite.modifySequence('deleted', (row) => ({ write: { kind: 'delete', tombstone: row?.issued }, result: undefined }));
    const before = await all(sqlite);
    const tombstones = await all(sqlite, true);
    assert.deepEqual(tombstones, [{ name: 'deleted', issued: { low: 1n, high: 17n } }]);
    await sqlite.close();

    const file = join(dir, 'full.json');
    const exported = await runCli(['export', file, '--format', 'full', '--store', `sqlite:${sqlitePath}`]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(readFileSync(file, 'utf8'), /"max_value": 9223372036854775807/);

    const url = await server.newDatabase();
    const imported = await runCli(['import', file, '--store', url]);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /5 created, 0 raised, 0 already at or beyond the file's value; 1 deleted names kept/);
    assert.doesNotMatch(imported.stdout, /postgres:postgres@/, 'the password is never printed');

    const pg = await PostgresStore.open({ url, poolSize: 2, statementTimeoutMs: 5000 });
    assert.deepEqual(await all(pg), before);
    assert.deepEqual(await all(pg, true), tombstones, 'the tombstone moved too');
    const [plain, nearMax, deleted] = await pg.allocateBatch([
      { name: 'plain', count: 1n, create: false },
      { name: 'near-max', count: 1n, create: false },
      { name: 'deleted', count: 1n, create: true },
    ]);
    assert.deepEqual([plain, nearMax, deleted], [
      { ok: true, first: 42n, last: 42n, replayed: false, grant: undefined, tookExpired: false, labels: undefined },
      { ok: true, first: INT64_MAX - 1n, last: INT64_MAX - 1n, replayed: false, grant: undefined, tookExpired: false, labels: undefined },
      { ok: true, first: 18n, last: 18n, replayed: false, grant: undefined, tookExpired: false, labels: undefined },
    ]);
    await pg.close();

    // Importing the same file again moves nothing back.
    const again = await runCli(['import', file, '--store', url]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /0 created, 0 raised, 6 already/);
  });

  it('refuses a whole import whose entry would make a sequence count back over its values, naming it', async () => {
    const dir = tempDir();
    const store = `sqlite:${join(dir, 'held.db')}`;
    const seed = join(dir, 'seed.json');
    writeFileSync(seed, '{"held": 41}');
    assert.equal((await runCli(['import', seed, '--store', store])).code, 0);
    const file = join(dir, 'down.json');
    writeFileSync(
      file,
      '{"format": "takeanumber-full", "version": 2, "sequences": [' +
        '{"name": "other", "last_value": 5, "is_called": false, "start": 5, "increment": 1, "min_value": 1, "max_value": 10, "cycle": false, "cache": 1, "issued_low": null, "issued_high": null},' +
        '{"name": "held", "last_value": 30, "is_called": false, "start": 30, "increment": -1, "min_value": -100, "max_value": 100, "cycle": false, "cache": 1, "issued_low": null, "issued_high": null}' +
        '], "deleted": []}',
    );
    const result = await runCli(['import', file, '--store', store]);
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stderr, /cannot be imported without handing out numbers again \(nothing was changed\)/);
    assert.match(result.stderr, /"held": the file's sequence counts down, the store's counts up and has handed out 1 to 41/);
    const exported = await runCli(['export', '--store', store]);
    assert.equal(exported.stdout, '{\n  "held": 41\n}\n', 'nothing changed, "other" not created');
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
