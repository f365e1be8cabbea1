import assert from 'node:assert/strict';
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { allSequences } from '../src/core/paging.js';
import { DEFAULT_OPTIONS, initialPosition, resolveOptions, type SequenceState } from '../src/core/sequence.js';
import { StoreOpenError, type AllocationRequest, type SequenceStore } from '../src/core/store.js';
import { SqliteSnapshot } from '../src/store/sqlite/backup.js';
import { rowOf, type SequenceRow } from '../src/store/sqlite/rows.js';
import { checksumOf, decodeEntries, encodeEntries } from '../src/store/sqlite/log-codec.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { tempDir } from './helpers/temp.js';

const one = (name: string): AllocationRequest => ({ name, count: 1n, create: true });

/** The store's files copied while it is open (so its log unfolded): what a crash leaves. */
function crashCopy(path: string): string {
  const copy = join(tempDir(), 'copy.db');
  copyFileSync(path, copy);
  if (existsSync(`${path}-wal`)) copyFileSync(`${path}-wal`, `${copy}-wal`);
  return copy;
}

function logRows(path: string): number {
  const db = new Database(path);
  try {
    return db.prepare('SELECT count(*) FROM allocation_log').pluck().get() as number;
  } finally {
    db.close();
  }
}

async function lastValues(store: SequenceStore): Promise<Map<string, bigint>> {
  const values = new Map<string, bigint>();
  for await (const record of allSequences(store, { pageSize: 7 })) values.set(record.name, record.position.lastValue);
  return values;
}

/** The sequences table alone (what a fold wrote), read beside the store: name → last value. */
function tableValues(path: string): Map<string, bigint> {
  const db = new Database(path, { readonly: true });
  try {
    const rows = db.prepare('SELECT name, last_value FROM sequences ORDER BY name').raw(true).safeIntegers(true).all() as [string, bigint][];
    return new Map(rows);
  } finally {
    db.close();
  }
}

/** A store opened with these fold settings (read when the store opens). */
function withFolding<T>(entries: number, chunk: number, open: () => T): T {
  process.env.TAKEANUMBER_FOLD_ENTRIES = String(entries);
  process.env.TAKEANUMBER_FOLD_CHUNK = String(chunk);
  try {
    return open();
  } finally {
    delete process.env.TAKEANUMBER_FOLD_ENTRIES;
    delete process.env.TAKEANUMBER_FOLD_CHUNK;
  }
}

/** Allocates `rounds` batches over `names` names (from round `first`); the last value of each name. */
async function allocate(store: SequenceStore, names: number, rounds: number, first = 0): Promise<Map<string, bigint>> {
  const last = new Map<string, bigint>();
  for (let round = first; round < first + rounds; round += 1) {
    const requests = Array.from({ length: 16 }, (_, i) => one(`n-${(round * 7 + i * 3) % names}`));
    const outcomes = await store.allocateBatch(requests);
    outcomes.forEach((outcome, i) => {
      assert.ok(outcome.ok);
      last.set((requests[i] as AllocationRequest).name, outcome.last);
    });
  }
  return last;
}

describe('the allocation log (SQLite)', () => {
  it('encodes and decodes entries exactly; the checksum changes with any byte', () => {
    const plain = rowOf('a', { options: DEFAULT_OPTIONS, position: { lastValue: 7n, isCalled: true }, issued: { low: 1n, high: 7n } }, { seriesFirst: undefined, period: undefined }, 1000, 2000);
    const options = resolveOptions({ increment: -3n, cycle: true, cache: 20n, restart: 'monthly', timeZone: 'Europe/Berlin', format: 'N{yyyy}{mm}-{value}' });
    const period = { label: '2026-11', startsAt: 1_793_487_600_000, endsAt: 1_796_079_600_000 };
    const rich = rowOf('bücher:2026 q1 \u{1F600}', { options, position: { lastValue: -9_223_372_036_854_775_808n, isCalled: false }, issued: undefined }, { seriesFirst: undefined, period }, 5, 6);
    const bytes = encodeEntries([plain, rich]);
    assert.deepEqual(decodeEntries(bytes), [plain, rich]);
    for (const at of [0, 1, 30, bytes.length - 1]) {
      const changed = Buffer.from(bytes);
      changed[at] = (changed[at] as number) ^ 1;
      assert.notEqual(checksumOf(changed), checksumOf(bytes), `byte ${at}`);
    }
    assert.throws(() => decodeEntries(bytes.subarray(0, bytes.length - 3)), /cut short/);
    assert.throws(() => decodeEntries(Buffer.alloc(0)), /no entry/);
  });

  it('writes each integer in the fewest bytes that hold it, and reads the all-8-byte rows of schema 8', () => {
    const edges = [0n, -128n, 127n, -129n, 128n, 2n ** 47n - 1n, -(2n ** 47n), 2n ** 47n, -(2n ** 47n) - 1n, 2n ** 63n - 1n, -(2n ** 63n)];
    const state = (lastValue: bigint): SequenceState => ({ options: DEFAULT_OPTIONS, position: { lastValue, isCalled: true }, issued: undefined });
    const rows = edges.map((value, i) => rowOf(`e-${String(i).padStart(2, "0")}`, state(value), { seriesFirst: undefined, period: undefined }, 1_764_000_000_000, 1_764_000_000_001));
    assert.deepEqual(decodeEntries(encodeEntries(rows)), rows);
    // last_value alone differs between the rows: its bytes are 1 (tag) + 1, 6 or 8.
    const sizes = rows.map((row) => encodeEntries([row]).length - encodeEntries([rows[0] as SequenceRow]).length);
    assert.deepEqual(sizes, [0, 0, 0, 5, 5, 5, 5, 7, 7, 7, 7]);
    // Schema 8's encoding: tag 1 and 8 bytes for every integer.
    const schema8 = (row: SequenceRow): Buffer =>
      Buffer.concat(
        row.slice(0, 22).map((field) => {
          if (field === null) return Buffer.from([0]);
          if (typeof field === 'string') {
            const text = Buffer.from(field, 'utf8');
            const head = Buffer.alloc(5);
            head[0] = 2;
            head.writeUInt32BE(text.length, 1);
            return Buffer.concat([head, text]);
          }
          const integer = Buffer.alloc(9);
          integer[0] = 1;
          integer.writeBigInt64BE(field, 1);
          return integer;
        }),
      );
    assert.deepEqual(decodeEntries(Buffer.concat(rows.map(schema8))), rows);
  });

  it('replays an unfolded log after a crash: every name continues after its last value', async () => {
    const path = join(tempDir(), 'store.db');
    const store = SqliteStore.open(path, { mode: 'write' });
    const last = await allocate(store, 50, 30);
    const copy = crashCopy(path);
    assert.ok(logRows(copy) > 0, 'the copy holds log rows');
    await store.close();
    assert.equal(logRows(path), 0, 'a clean close folds the log');
    const reopened = SqliteStore.open(copy, { mode: 'write' });
    // Read into the overlay at open, folded later (here: at close).
    assert.deepEqual(await lastValues(reopened), last);
    for (const [name, value] of last) {
      const [outcome] = await reopened.allocateBatch([one(name)]);
      assert.equal(outcome?.ok === true ? outcome.first : undefined, value + 1n, name);
    }
    await reopened.close();
    assert.equal(logRows(copy), 0, 'folded at close');
    const again = SqliteStore.open(copy, { mode: 'read' });
    assert.deepEqual(await lastValues(again), new Map([...last].map(([name, value]) => [name, value + 1n])));
    await again.close();
  });

  it('a replayed entry reads back as the record it logged, options, period and dates included, and folds as it', async () => {
    const path = join(tempDir(), 'store.db');
    const store = SqliteStore.open(path, { mode: 'write' });
    const options = resolveOptions({ format: 'INV-{yyyy}-{value:5}', restart: 'yearly', timeZone: 'Europe/Paris', increment: 3n });
    await store.modifySequence('invoice', () => ({
      write: { kind: 'put' as const, options, position: initialPosition(options), issued: undefined, seriesFirst: undefined, period: undefined, clearGapless: false },
      result: undefined,
    }));
    await allocate(store, 20, 5);
    for (let i = 0; i < 3; i += 1) assert.ok((await store.allocateBatch([one('invoice'), one('n-1')])).every((outcome) => outcome.ok));
    const logged = new Map<string, unknown>();
    for await (const record of allSequences(store, { pageSize: 50 })) logged.set(record.name, record);
    const copy = crashCopy(path);
    const untouched = crashCopy(path);
    await store.close();
    const reopened = SqliteStore.open(copy, { mode: 'write' });
    // Read one by one (each entry's bytes read into its record on demand), then as a listing.
    for (const [name, record] of logged) assert.deepEqual(await reopened.getSequence(name), record, name);
    const listed = new Map<string, unknown>();
    for await (const record of allSequences(reopened, { pageSize: 7 })) listed.set(record.name, record);
    assert.deepEqual(listed, logged);
    await reopened.close();
    // A fold straight after the replay (no entry read before it: the one at close) writes every record whole.
    assert.ok(logRows(untouched) > 0);
    await SqliteStore.open(untouched, { mode: 'write' }).close();
    assert.equal(logRows(untouched), 0);
    const folded = SqliteStore.open(untouched, { mode: 'read' });
    for (const [name, record] of logged) assert.deepEqual(await folded.getSequence(name), record, name);
    await folded.close();
  });

  it('a reader (export) beside the server sees the latest values from the log', async () => {
    const path = join(tempDir(), 'store.db');
    const store = SqliteStore.open(path, { mode: 'write' });
    const last = await allocate(store, 40, 20);
    assert.ok(logRows(path) > 0);
    const reader = SqliteStore.open(path, { mode: 'read' });
    assert.deepEqual(await lastValues(reader), last);
    assert.deepEqual(
      (await reader.listSequences({ prefix: 'n-1', after: 'n-12', limit: 3 })).map((record) => record.name),
      ['n-13', 'n-14', 'n-15'],
    );
    await reader.close();
    await store.close();
  });

  it('admin calls right after allocations see the latest values (get, list, reset, delete, put, import, backup)', async () => {
    const path = join(tempDir(), 'store.db');
    const store = SqliteStore.open(path, { mode: 'write' });
    const last = await allocate(store, 30, 10);
    assert.deepEqual(await lastValues(store), last);
    assert.equal((await store.getSequence('n-3'))?.position.lastValue, last.get('n-3'));
    // modifySequence (reset, delete, put) folds first: its decision sees the latest state.
    const seen = await store.modifySequence('n-3', (current) => ({ write: { kind: 'none' as const }, result: current?.position.lastValue }));
    assert.equal(seen, last.get('n-3'));
    assert.equal(logRows(path), 0);
    const more = await allocate(store, 30, 3);
    const backup = join(tempDir(), 'backup.db');
    assert.equal(await SqliteSnapshot.open(path).copyTo(backup), 30);
    const restored = SqliteStore.open(crashCopy(backup), { mode: 'write' });
    assert.deepEqual(await lastValues(restored), new Map([...last, ...more]));
    await restored.close();
    await store.close();
  });

  it('refuses a damaged log loudly, naming the row, and leaves it untouched', async () => {
    const path = join(tempDir(), 'store.db');
    const store = SqliteStore.open(path, { mode: 'write' });
    await allocate(store, 10, 5);
    const flipped = crashCopy(path);
    const badName = crashCopy(path);
    await store.close();

    let db = new Database(flipped);
    db.prepare('UPDATE allocation_log SET entries = CAST(substr(entries, 1, 10) || x\'ff\' || substr(entries, 12) AS BLOB) WHERE seq = 2').run();
    db.close();
    assert.throws(() => SqliteStore.open(flipped, { mode: 'write' }), (error: unknown) => {
      assert.ok(error instanceof StoreOpenError);
      assert.match(error.message, /allocation log of the store .*row 2 is damaged: its checksum/);
      return true;
    });
    assert.ok(logRows(flipped) >= 5, 'the damaged log is kept as it was');

    // A valid checksum over an impossible entry: a name with a control character.
    db = new Database(badName);
    const [seq, entries] = db.prepare('SELECT seq, entries FROM allocation_log ORDER BY seq LIMIT 1').raw(true).get() as [number, Buffer];
    const [first, ...rest] = decodeEntries(entries);
    assert.ok(first !== undefined);
    const bytes = encodeEntries([[`bad\u0001name`, ...first.slice(1)] as typeof first, ...rest]);
    db.prepare('UPDATE allocation_log SET entries = ?, checksum = ? WHERE seq = ?').run(bytes, checksumOf(bytes), seq);
    db.close();
    assert.throws(() => SqliteStore.open(badName, { mode: 'read' }), /row 1 is damaged: entry 1 .*control character/);
    assert.throws(() => SqliteStore.open(badName, { mode: 'write' }), /row 1 is damaged: entry 1 .*control character/);
    // Refused again at the next start: nothing was folded or skipped.
    assert.throws(() => SqliteStore.open(badName, { mode: 'write' }), StoreOpenError);
  });

  it('starts a chunked pass once the log holds 20,000 entries, and opens with an unfolded log of 16,000', async () => {
    const path = join(tempDir(), 'store.db');
    const store = SqliteStore.open(path, { mode: 'write' });
    const last = new Map<string, bigint>();
    for (let batch = 0; batch < 40; batch += 1) {
      const requests = Array.from({ length: 400 }, (_, i) => one(`s-${batch * 400 + i}`));
      await store.allocateBatch(requests);
      for (const { name } of requests) last.set(name, 1n);
    }
    // 16,000 entries: below the default threshold (allocation-log.ts), so all still in the log.
    assert.equal(logRows(path), 40);
    const copy = crashCopy(path);
    await store.allocateBatch(Array.from({ length: 4000 }, (_, i) => one(`t-${i}`)));
    assert.equal(logRows(path), 41, '20,000 entries: a pass starts, nothing written yet');
    // 64 names a commit of one entry (allocation-log.ts): the 313th writes the last of the 20,000 and deletes the 41 rows.
    for (let batch = 1; batch <= 313; batch += 1) {
      await store.allocateBatch([one('u')]);
      assert.equal(logRows(path), batch < 313 ? 41 + batch : 313, `after batch ${batch}`);
    }
    assert.equal(tableValues(path).size, 20_000);
    await store.close();
    const reopened = SqliteStore.open(copy, { mode: 'write' });
    const values = await lastValues(reopened);
    assert.equal(values.size, 16_000);
    assert.deepEqual(values, last);
    await reopened.close();
  });

  it('a chunked pass writes a chunk of the snapshot per commit, then deletes the log rows it covers', async () => {
    const path = join(tempDir(), 'store.db');
    const store = withFolding(100, 10, () => SqliteStore.open(path, { mode: 'write' }));
    const names = Array.from({ length: 100 }, (_, i) => `p-${String(i).padStart(3, '0')}`);
    await store.allocateBatch(names.map(one));
    assert.equal(tableValues(path).size, 0, 'the snapshot is taken; nothing written yet');
    for (let batch = 1; batch <= 10; batch += 1) {
      await store.allocateBatch([one('q')]);
      const table = tableValues(path);
      assert.equal(table.size, 10 * batch, `batch ${batch} wrote the next 10 names, in order`);
      assert.ok(names.slice(0, 10 * batch).every((name) => table.get(name) === 1n));
      // The first row (the 100 names) goes with the last chunk; q's rows came after the snapshot and stay.
      assert.equal(logRows(path), batch < 10 ? 1 + batch : 10, `log rows after batch ${batch}`);
    }
    const expected = new Map([...names.map((name): [string, bigint] => [name, 1n]), ['q', 10n]]);
    assert.deepEqual(await lastValues(store), expected);
    const copy = crashCopy(path);
    await store.close();
    assert.equal(logRows(path), 0, 'a clean close folds the rest');
    assert.deepEqual(tableValues(path), expected, 'the table holds every name at its last value');
    const reopened = SqliteStore.open(copy, { mode: 'read' });
    assert.deepEqual(await lastValues(reopened), expected);
    await reopened.close();
  });

  it('a name changed after its chunk was written stays in the overlay, and its later value survives a crash', async () => {
    const path = join(tempDir(), 'store.db');
    const store = withFolding(100, 10, () => SqliteStore.open(path, { mode: 'write' }));
    const names = Array.from({ length: 100 }, (_, i) => `p-${String(i).padStart(3, '0')}`);
    await store.allocateBatch(names.map(one));
    // p-000: changed in the commit that writes its chunk (written as it was); p-005: changed after it;
    // p-095: changed before its chunk, which then writes the new value.
    await store.allocateBatch([one('p-000'), one('p-095')]);
    await store.allocateBatch([one('p-005')]);
    for (let batch = 0; batch < 8; batch += 1) await store.allocateBatch([one('q')]);
    const table = tableValues(path);
    assert.equal(table.size, 100, 'the pass is over');
    assert.deepEqual([table.get('p-000'), table.get('p-005'), table.get('p-095'), table.get('p-050')], [1n, 1n, 2n, 1n]);
    assert.equal(logRows(path), 10, 'only the rows after the snapshot are left');
    const expected = new Map([...names.map((name): [string, bigint] => [name, 1n]), ['q', 8n]]);
    for (const name of ['p-000', 'p-005', 'p-095']) expected.set(name, 2n);
    assert.deepEqual(await lastValues(store), expected, 'the overlay still holds p-000 and p-005 at 2');
    const copy = crashCopy(path);
    await store.close();
    assert.deepEqual(tableValues(path), expected);
    const reopened = SqliteStore.open(copy, { mode: 'write' });
    assert.deepEqual(await lastValues(reopened), expected);
    for (const name of ['p-000', 'p-005', 'p-095', 'p-050']) {
      const [outcome] = await reopened.allocateBatch([one(name)]);
      assert.equal(outcome?.ok === true ? outcome.first : undefined, (expected.get(name) as bigint) + 1n, name);
    }
    await reopened.close();
  });

  it('a crash at any commit of passes (files copied after each) replays every name at its last value', async () => {
    const path = join(tempDir(), 'store.db');
    const store = withFolding(40, 7, () => SqliteStore.open(path, { mode: 'write' }));
    const copies: [string, Map<string, bigint>][] = [];
    const last = new Map<string, bigint>();
    let passesEnded = 0;
    for (let round = 0; round < 60; round += 1) {
      const before = logRows(path);
      for (const [name, value] of await allocate(store, 90, 1, round)) last.set(name, value);
      if (logRows(path) < before) passesEnded += 1;
      copies.push([crashCopy(path), new Map(last)]);
    }
    assert.ok(passesEnded >= 3, `passes ended (${passesEnded})`);
    await store.close();
    for (const [copy, expected] of copies) {
      const reopened = SqliteStore.open(copy, { mode: 'write' });
      assert.deepEqual(await lastValues(reopened), expected);
      const outcomes = await reopened.allocateBatch([...expected.keys()].map(one));
      assert.deepEqual(
        outcomes.map((outcome) => (outcome.ok ? outcome.first : undefined)),
        [...expected.values()].map((value) => value + 1n),
        'the next value of every name is after its last answered one',
      );
      await reopened.close();
    }
  });

  it('a pass writes twice the entries each commit logs, so the log stays bounded under batches of new names', async () => {
    const path = join(tempDir(), 'store.db');
    const store = withFolding(100, 2, () => SqliteStore.open(path, { mode: 'write' }));
    const last = new Map<string, bigint>();
    let most = 0;
    let passesEnded = 0;
    // 40 new names a batch: a fixed chunk of 2 names a commit would never catch up with them.
    for (let batch = 0; batch < 60; batch += 1) {
      const requests = Array.from({ length: 40 }, (_, i) => one(`b-${batch * 40 + i}`));
      const before = logRows(path);
      await store.allocateBatch(requests);
      for (const { name } of requests) last.set(name, 1n);
      if (logRows(path) < before) passesEnded += 1;
      most = Math.max(most, logRows(path) * 40);
    }
    assert.ok(passesEnded >= 10, `passes ended (${passesEnded})`);
    // At most (1 + 1/2) x (100 + one batch of 40) entries, as allocation-log.ts's FOLD_PACE says.
    assert.ok(most <= 210, `the log held at most ${most} entries`);
    assert.ok(tableValues(path).size >= 2000, 'the passes wrote most names into the table');
    const copy = crashCopy(path);
    await store.close();
    const reopened = SqliteStore.open(copy, { mode: 'write' });
    assert.deepEqual(await lastValues(reopened), last);
    await reopened.close();
  });

  it('a start that replays a long log folds it by passes, never in one transaction', async () => {
    const path = join(tempDir(), 'store.db');
    // 3,000 entries logged while the threshold was far away, then a crash.
    const store = withFolding(1_000_000, 64, () => SqliteStore.open(path, { mode: 'write' }));
    const last = new Map<string, bigint>();
    for (let batch = 0; batch < 30; batch += 1) {
      const requests = Array.from({ length: 100 }, (_, i) => one(`r-${batch * 100 + i}`));
      await store.allocateBatch(requests);
      for (const { name } of requests) last.set(name, 1n);
    }
    const copy = crashCopy(path);
    await store.close();
    // Opened with a threshold of 100: the log is 30 times over it.
    const reopened = withFolding(100, 64, () => SqliteStore.open(copy, { mode: 'write' }));
    await reopened.allocateBatch([one('x')]);
    assert.equal(tableValues(copy).size, 0, 'the first commit after the start starts a pass and writes nothing of it');
    const sizes: number[] = [];
    for (let batch = 0; batch < 47; batch += 1) {
      await reopened.allocateBatch([one('x')]);
      sizes.push(tableValues(copy).size);
    }
    // 64 names a commit of one entry: 3,001 names (x included) in 47 commits, the log rows then deleted.
    assert.deepEqual(sizes.slice(0, 3), [64, 128, 192]);
    assert.equal(sizes.at(-1), 3001);
    assert.equal(logRows(copy), 47, 'only the rows after the snapshot are left');
    last.set('x', 48n);
    assert.deepEqual(await lastValues(reopened), last);
    await reopened.close();
  });

  it('lists overlaid names in UTF-8 byte order, as the table does', async () => {
    const path = join(tempDir(), 'store.db');
    const store = SqliteStore.open(path, { mode: 'write' });
    const names = ['z', 'é', '\uE000', '\u{10000}', 'a', 'ab', 'a\u{10FFFF}'];
    await store.allocateBatch(names.map(one));
    const before = (await store.listSequences({ prefix: '', after: undefined, limit: 100 })).map((record) => record.name);
    const prefixed = (await store.listSequences({ prefix: 'a', after: 'a', limit: 1 })).map((record) => record.name);
    await store.modifySequence('a', () => ({ write: { kind: 'none' as const }, result: undefined }));
    assert.equal(logRows(path), 0);
    assert.deepEqual(before, (await store.listSequences({ prefix: '', after: undefined, limit: 100 })).map((record) => record.name));
    assert.deepEqual(before, ['a', 'ab', 'a\u{10FFFF}', 'z', 'é', '\uE000', '\u{10000}']);
    assert.deepEqual(prefixed, ['ab']);
    await store.close();
  });
});
