import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { INT64_MAX } from '../../src/core/int64.js';
import { initialPosition, resolveOptions, type OptionChanges } from '../../src/core/sequence.js';
import { fullEntries, ImportConflictError, seedEntries } from '../../src/core/import-rules.js';
import { lastIssuedValues } from '../../src/core/paging.js';
import type { AllocationOutcome, AllocationRequest, SequenceStore } from '../../src/core/store.js';

/** Opens stores on one fresh database: each `open()` sees the same data (close the previous one first for SQLite). */
export interface StoreHarness {
  open(): Promise<SequenceStore>;
}

const one = (name: string, count = 1n, key?: string, create = true): AllocationRequest => ({
  name,
  count,
  create,
  idempotency: key === undefined ? undefined : { key, requestCount: count === 1n ? undefined : count },
});

const values = (outcomes: AllocationOutcome[]): (string | bigint)[] =>
  outcomes.map((outcome) => (outcome.ok ? (outcome.first === outcome.last ? outcome.first : `${outcome.first}..${outcome.last}`) : outcome.reason));

async function define(store: SequenceStore, name: string, changes: OptionChanges): Promise<void> {
  const options = resolveOptions(changes);
  await store.modifySequence(name, () => ({
    write: { kind: 'put', options, position: initialPosition(options), issued: undefined, seriesFirst: undefined, period: undefined, clearGapless: false },
    result: undefined,
  }));
}

async function exported(store: SequenceStore): Promise<Record<string, bigint>> {
  const result: Record<string, bigint> = {};
  for await (const [name, value] of lastIssuedValues(store)) result[name] = value;
  return result;
}

/**
 * The one contract every store keeps, run against SQLite and PostgreSQL
 * alike: ordering, bounds, cycles, caching, idempotency, admin changes,
 * listing, import and export, concurrency, reopening.
 */
export function storeContract(kind: string, newHarness: () => Promise<StoreHarness>): void {
  describe(`${kind} store contract`, () => {
    it('serves a batch in arrival order per sequence, creating sequences on first use', async () => {
      const store = await (await newHarness()).open();
      assert.deepEqual(values(await store.allocateBatch([one('a'), one('b'), one('a'), one('a', 3n), one('b')])), [
        1n,
        1n,
        2n,
        '3..5',
        2n,
      ]);
      assert.deepEqual(values(await store.allocateBatch([one('a')])), [6n]);
      await store.close();
    });

    it('answers not_found without creating when asked not to create', async () => {
      const store = await (await newHarness()).open();
      assert.deepEqual(values(await store.allocateBatch([one('ghost', 1n, undefined, false)])), ['not_found']);
      assert.equal(await store.getSequence('ghost'), undefined);
      await store.close();
    });

    it('takes nothing for a request that crosses the bound, and serves the rest of the batch', async () => {
      const store = await (await newHarness()).open();
      await define(store, 'edge', { start: INT64_MAX - 2n, minValue: 1n });
      assert.deepEqual(values(await store.allocateBatch([one('edge', 4n), one('other'), one('edge', 3n), one('edge')])), [
        'exhausted',
        1n,
        `${INT64_MAX - 2n}..${INT64_MAX}`,
        'exhausted',
      ]);
      await store.close();
    });

    it('follows increments, descending sequences and cycles', async () => {
      const store = await (await newHarness()).open();
      await define(store, 'down', { increment: -5n });
      await define(store, 'wrap', { maxValue: 4n, cycle: true });
      assert.deepEqual(values(await store.allocateBatch([one('down'), one('down', 2n), one('wrap', 3n), one('wrap', 2n), one('wrap')])), [
        -1n,
        '-6..-11',
        '1..3',
        '1..2',
        3n,
      ]);
      await store.close();
    });

    it('hands out cached values unique and increasing, and shows the reserved frontier', async () => {
      const store = await (await newHarness()).open();
      await define(store, 'cached', { cache: 10n });
      const seen: bigint[] = [];
      for (let i = 0; i < 25; i += 1) {
        const [outcome] = await store.allocateBatch([one('cached')]);
        assert.ok(outcome?.ok);
        seen.push(outcome.first);
      }
      assert.deepEqual(seen, Array.from({ length: 25 }, (_, i) => BigInt(i + 1)));
      const record = await store.getSequence('cached');
      assert.ok(record !== undefined && record.position.lastValue >= 25n && record.position.lastValue <= 40n);
      await store.close();
    });

    it('replays idempotent requests, refuses a key reused for another count, keeps keys per sequence and across reopening', async () => {
      const harness = await newHarness();
      let store = await harness.open();
      assert.deepEqual(values(await store.allocateBatch([one('k', 1n, 'key-1'), one('k', 1n, 'key-1'), one('k', 2n, 'key-2')])), [
        1n,
        1n,
        '2..3',
      ]);
      const [replay, other, otherCount, otherAgain] = await store.allocateBatch([
        one('k', 1n, 'key-1'),
        one('j', 1n, 'key-1'),
        one('k', 5n, 'key-2'),
        one('j', 1n, 'key-1'),
      ]);
      assert.deepEqual(replay, { ok: true, first: 1n, last: 1n, replayed: true, grant: undefined, tookExpired: false, labels: undefined });
      // Keys are per sequence: the same key on another sequence is its own request (replayed within the batch too).
      assert.deepEqual(other, { ok: true, first: 1n, last: 1n, replayed: false, grant: undefined, tookExpired: false, labels: undefined });
      assert.deepEqual(otherCount, { ok: false, reason: 'key_reused' });
      assert.deepEqual(otherAgain, { ok: true, first: 1n, last: 1n, replayed: true, grant: undefined, tookExpired: false, labels: undefined });
      await store.close();
      store = await harness.open();
      assert.deepEqual(await store.allocateBatch([one('k', 2n, 'key-2'), one('k')]), [
        { ok: true, first: 2n, last: 3n, replayed: true, grant: undefined, tookExpired: false, labels: undefined },
        { ok: true, first: 4n, last: 4n, replayed: false, grant: undefined, tookExpired: false, labels: undefined },
      ]);
      // Forgetting the sequence takes its keys with it.
      await store.modifySequence('k', () => ({ write: { kind: 'forget' }, result: undefined }));
      assert.deepEqual(values(await store.allocateBatch([one('k', 1n, 'key-1')])), [1n]);
      await store.close();
    });

    it('purges idempotency keys older than the cut-off', async () => {
      const store = await (await newHarness()).open();
      await store.allocateBatch(Array.from({ length: 30 }, (_, i) => one('p', 1n, `p-${i}`)));
      assert.equal(await store.purgeIdempotencyKeys(Date.now() - 60_000, 100), 0);
      const cutoff = Date.now() + 1000;
      assert.deepEqual([await store.purgeIdempotencyKeys(cutoff, 20), await store.purgeIdempotencyKeys(cutoff, 20)], [20, 10]);
      assert.deepEqual(values(await store.allocateBatch([one('p', 1n, 'p-0')])), [31n]);
      await store.close();
    });

    it('applies admin changes atomically and at once, also to cached sequences', async () => {
      const store = await (await newHarness()).open();
      await define(store, 'r', { cache: 5n });
      await store.allocateBatch([one('r'), one('r')]);
      await store.modifySequence('r', (current) => {
        assert.ok(current !== undefined);
        return {
          write: { kind: 'put', options: current.options, position: { lastValue: 100n, isCalled: false }, issued: current.issued, seriesFirst: undefined, period: undefined, clearGapless: false },
          result: undefined,
        };
      });
      assert.deepEqual(values(await store.allocateBatch([one('r')])), [100n]);
      await assert.rejects(
        store.modifySequence('r', () => {
          throw new Error('refused');
        }),
        /refused/,
      );
      await store.modifySequence('r', () => ({ write: { kind: 'forget' }, result: undefined }));
      assert.equal(await store.getSequence('r'), undefined);
      assert.deepEqual(values(await store.allocateBatch([one('r')])), [1n]);
      await store.close();
    });

    it('keeps high-water marks: every value handed out or reserved widens them, in either direction', async () => {
      const store = await (await newHarness()).open();
      await define(store, 'down', { increment: -3n });
      await define(store, 'blocks', { cache: 10n });
      await store.allocateBatch([one('up', 4n), one('up'), one('down', 2n), one('blocks', 2n)]);
      assert.deepEqual((await store.getSequence('up'))?.issued, { low: 1n, high: 5n });
      assert.deepEqual((await store.getSequence('down'))?.issued, { low: -4n, high: -1n });
      // A reserved block counts whole: its unused values are never handed out again either.
      assert.deepEqual((await store.getSequence('blocks'))?.issued, { low: 1n, high: 10n });
      await define(store, 'fresh', {});
      assert.equal((await store.getSequence('fresh'))?.issued, undefined);
      await store.close();
    });

    it('leaves a tombstone on delete: invisible, and the name used again continues after its marks', async () => {
      const harness = await newHarness();
      let store = await harness.open();
      await store.allocateBatch([one('gone', 7n), one('kept')]);
      const before = await store.getSequence('gone');
      assert.ok(before !== undefined);
      await store.modifySequence('gone', () => ({ write: { kind: 'delete', tombstone: before.issued }, result: undefined }));
      assert.equal(await store.getSequence('gone'), undefined);
      assert.deepEqual((await store.listSequences({ prefix: '', after: undefined, limit: 10 })).map((r) => r.name), ['kept']);
      assert.deepEqual(
        (await store.listSequences({ prefix: '', after: undefined, limit: 10, deleted: true })).map((r) => [r.name, r.issued]),
        [['gone', { low: 1n, high: 7n }]],
      );
      assert.deepEqual(await exported(store), { kept: 1n }, 'the seed format has no tombstones');
      // modifySequence sees the tombstone.
      await store.modifySequence('gone', (row) => {
        assert.ok(row?.deletedAt !== undefined);
        assert.deepEqual(row.issued, { low: 1n, high: 7n });
        return { write: { kind: 'none' }, result: undefined };
      });
      assert.deepEqual(values(await store.allocateBatch([one('gone', 1n, undefined, false)])), ['not_found']);
      await store.close();
      store = await harness.open();
      // First use again, across reopening: after the marks, with the default options.
      assert.deepEqual(values(await store.allocateBatch([one('gone'), one('gone', 2n)])), [8n, '9..10']);
      const back = await store.getSequence('gone');
      assert.deepEqual([back?.issued, back?.deletedAt], [{ low: 1n, high: 10n }, undefined]);
      // Forgotten: every trace goes.
      await store.modifySequence('gone', () => ({ write: { kind: 'forget' }, result: undefined }));
      assert.deepEqual(values(await store.allocateBatch([one('gone')])), [1n]);
      await store.close();
    });

    it('takes a tombstone to exhaustion when nothing past its marks is left', async () => {
      const store = await (await newHarness()).open();
      await define(store, 'top', { start: INT64_MAX - 1n });
      await store.allocateBatch([one('top', 2n)]);
      await store.modifySequence('top', (row) => ({ write: { kind: 'delete', tombstone: row?.issued }, result: undefined }));
      assert.deepEqual(values(await store.allocateBatch([one('top'), one('top')])), ['exhausted', 'exhausted']);
      assert.equal((await store.getSequence('top'))?.issued?.high, INT64_MAX);
      await store.close();
    });

    it('refuses a whole import whose entry would hand out values again (another direction), changing nothing', async () => {
      const store = await (await newHarness()).open();
      await store.allocateBatch([one('up', 41n)]);
      const down = resolveOptions({ increment: -1n, minValue: -1000n, maxValue: 1000n });
      await assert.rejects(
        store.importSequences(
          fullEntries([
            { name: 'new', options: down, position: initialPosition(down), issued: undefined },
            { name: 'up', options: down, position: { lastValue: 30n, isCalled: false }, issued: undefined },
          ]),
        ),
        (error: unknown) => error instanceof ImportConflictError && error.conflicts.length === 1 && error.conflicts[0]?.name === 'up',
      );
      assert.equal(await store.getSequence('new'), undefined, 'nothing was imported');
      assert.deepEqual(values(await store.allocateBatch([one('up')])), [42n]);
      await store.close();
    });

    it('imports tombstones: kept for absent names, and a live sequence is moved past their marks', async () => {
      const store = await (await newHarness()).open();
      await store.allocateBatch([one('live', 3n)]);
      const summary = await store.importSequences(
        fullEntries(
          [],
          [
            { name: 'was', issued: { low: 1n, high: 20n } },
            { name: 'live', issued: { low: 1n, high: 9n } },
          ],
        ),
      );
      assert.deepEqual(summary, { created: 0, raised: 1, unchanged: 0, deleted: 1 });
      assert.equal(await store.getSequence('was'), undefined);
      assert.deepEqual(values(await store.allocateBatch([one('was'), one('live')])), [21n, 10n]);
      await store.close();
    });

    it('lists by UTF-8 byte order, with prefix and keyset pagination', async () => {
      const store = await (await newHarness()).open();
      const names = ['b', 'a/2', 'a/10', 'a', 'é', 'Z', 'a/1', '😀'];
      await store.allocateBatch(names.map((name) => one(name)));
      const list = async (prefix: string, after: string | undefined, limit: number) =>
        (await store.listSequences({ prefix, after, limit })).map((record) => record.name);
      assert.deepEqual(await list('', undefined, 100), ['Z', 'a', 'a/1', 'a/10', 'a/2', 'b', 'é', '😀']);
      assert.deepEqual(await list('a/', undefined, 100), ['a/1', 'a/10', 'a/2']);
      assert.deepEqual(await list('a/', 'a/1', 1), ['a/10']);
      assert.deepEqual(await list('', 'b', 100), ['é', '😀']);
      assert.deepEqual(await list('é', undefined, 100), ['é']);
      await store.close();
    });

    it('imports the seed format without lowering a counter, and exports it', async () => {
      const store = await (await newHarness()).open();
      await store.allocateBatch([one('high', 10n), one('low')]);
      const summary = await store.importSequences(seedEntries(
        new Map([
          ['high', 5n],
          ['low', 7n],
          ['new', 3n],
          ['zero', 0n],
        ]),
      ));
      assert.deepEqual(summary, { created: 2, raised: 1, unchanged: 1, deleted: 0 });
      assert.deepEqual(await exported(store), { high: 10n, low: 7n, new: 3n, zero: 0n });
      assert.deepEqual(values(await store.allocateBatch([one('low'), one('zero'), one('new')])), [8n, 1n, 4n]);
      await store.close();
    });

    it('imports whole sequences (the full format) without moving a counter back', async () => {
      const store = await (await newHarness()).open();
      await store.allocateBatch([one('ahead', 50n), one('behind')]);
      const options = resolveOptions({ increment: 3n, maxValue: 1000n, cache: 5n });
      const summary = await store.importSequences(
        fullEntries([
          { name: 'fresh', options, position: { lastValue: 10n, isCalled: true }, issued: { low: 1n, high: 10n } },
          { name: 'ahead', options, position: { lastValue: 10n, isCalled: true }, issued: { low: 1n, high: 10n } },
          { name: 'behind', options, position: { lastValue: 100n, isCalled: false }, issued: undefined },
        ]),
      );
      assert.deepEqual(summary, { created: 1, raised: 1, unchanged: 1, deleted: 0 });
      assert.deepEqual((await store.getSequence('fresh'))?.options, options);
      assert.deepEqual((await store.getSequence('behind'))?.position, { lastValue: 100n, isCalled: false });
      assert.deepEqual(values(await store.allocateBatch([one('fresh'), one('behind'), one('ahead')])), [13n, 100n, 51n]);
      await store.close();
    });

    it('never hands out a value twice under concurrent batches', async () => {
      const store = await (await newHarness()).open();
      await define(store, 'cached', { cache: 7n });
      const batches = await Promise.all(
        Array.from({ length: 20 }, (_, i) => store.allocateBatch([one('hot'), one('hot', 3n), one('cached'), one('cached', 2n), one(`n${i % 4}`)])),
      );
      for (const name of ['hot', 'cached']) {
        const taken: bigint[] = [];
        for (const batch of batches) {
          for (const [index, outcome] of batch.entries()) {
            const requestName = index < 2 ? 'hot' : index < 4 ? 'cached' : 'n';
            if (requestName !== name || !outcome.ok) continue;
            for (let v = outcome.first; v <= outcome.last; v += 1n) taken.push(v);
          }
        }
        assert.equal(new Set(taken).size, taken.length, `${name}: a value was handed out twice`);
        assert.equal(taken.length, name === 'hot' ? 80 : 60);
      }
      await store.close();
    });

    it('keeps every value across reopening', async () => {
      const harness = await newHarness();
      let store = await harness.open();
      await store.allocateBatch([one('kept', 41n)]);
      await store.close();
      store = await harness.open();
      assert.deepEqual(values(await store.allocateBatch([one('kept')])), [42n]);
      await store.close();
    });
  });
}
