import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { INT64_MAX } from '../../src/int64.js';
import { initialPosition, resolveOptions, type OptionChanges } from '../../src/sequence.js';
import type { AllocationOutcome, AllocationRequest, SequenceStore } from '../../src/store/store.js';

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
  await store.modifySequence(name, () => ({ write: { kind: 'put', options, position: initialPosition(options) }, result: undefined }));
}

async function exported(store: SequenceStore): Promise<Record<string, bigint>> {
  const result: Record<string, bigint> = {};
  for await (const [name, value] of store.exportLastValues()) result[name] = value;
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
      assert.deepEqual(values(await store.allocate([one('a'), one('b'), one('a'), one('a', 3n), one('b')])), [
        1n,
        1n,
        2n,
        '3..5',
        2n,
      ]);
      assert.deepEqual(values(await store.allocate([one('a')])), [6n]);
      await store.close();
    });

    it('answers not_found without creating when asked not to create', async () => {
      const store = await (await newHarness()).open();
      assert.deepEqual(values(await store.allocate([one('ghost', 1n, undefined, false)])), ['not_found']);
      assert.equal(await store.getSequence('ghost'), undefined);
      await store.close();
    });

    it('takes nothing for a request that crosses the bound, and serves the rest of the batch', async () => {
      const store = await (await newHarness()).open();
      await define(store, 'edge', { start: INT64_MAX - 2n, minValue: 1n });
      assert.deepEqual(values(await store.allocate([one('edge', 4n), one('other'), one('edge', 3n), one('edge')])), [
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
      assert.deepEqual(values(await store.allocate([one('down'), one('down', 2n), one('wrap', 3n), one('wrap', 2n), one('wrap')])), [
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
        const [outcome] = await store.allocate([one('cached')]);
        assert.ok(outcome?.ok);
        seen.push(outcome.first);
      }
      assert.deepEqual(seen, Array.from({ length: 25 }, (_, i) => BigInt(i + 1)));
      const record = await store.getSequence('cached');
      assert.ok(record !== undefined && record.position.lastValue >= 25n && record.position.lastValue <= 40n);
      await store.close();
    });

    it('replays idempotent requests, refuses a key reused for another request, and keeps keys across reopening', async () => {
      const harness = await newHarness();
      let store = await harness.open();
      assert.deepEqual(values(await store.allocate([one('k', 1n, 'key-1'), one('k', 1n, 'key-1'), one('k', 2n, 'key-2')])), [
        1n,
        1n,
        '2..3',
      ]);
      const [replay, other, otherCount] = await store.allocate([one('k', 1n, 'key-1'), one('j', 1n, 'key-1'), one('k', 5n, 'key-2')]);
      assert.deepEqual(replay, { ok: true, first: 1n, last: 1n, replayed: true });
      assert.deepEqual([other, otherCount], [
        { ok: false, reason: 'key_reused' },
        { ok: false, reason: 'key_reused' },
      ]);
      await store.close();
      store = await harness.open();
      assert.deepEqual(await store.allocate([one('k', 2n, 'key-2'), one('k')]), [
        { ok: true, first: 2n, last: 3n, replayed: true },
        { ok: true, first: 4n, last: 4n, replayed: false },
      ]);
      // Deleting the sequence takes its keys with it.
      await store.modifySequence('k', () => ({ write: { kind: 'delete' }, result: undefined }));
      assert.deepEqual(values(await store.allocate([one('k', 1n, 'key-1')])), [1n]);
      await store.close();
    });

    it('purges idempotency keys older than the cut-off', async () => {
      const store = await (await newHarness()).open();
      await store.allocate(Array.from({ length: 30 }, (_, i) => one('p', 1n, `p-${i}`)));
      assert.equal(await store.purgeIdempotencyKeys(Date.now() - 60_000, 100), 0);
      const cutoff = Date.now() + 1000;
      assert.deepEqual([await store.purgeIdempotencyKeys(cutoff, 20), await store.purgeIdempotencyKeys(cutoff, 20)], [20, 10]);
      assert.deepEqual(values(await store.allocate([one('p', 1n, 'p-0')])), [31n]);
      await store.close();
    });

    it('applies admin changes atomically and at once, also to cached sequences', async () => {
      const store = await (await newHarness()).open();
      await define(store, 'r', { cache: 5n });
      await store.allocate([one('r'), one('r')]);
      await store.modifySequence('r', (current) => {
        assert.ok(current !== undefined);
        return { write: { kind: 'put', options: current.options, position: { lastValue: 100n, isCalled: false } }, result: undefined };
      });
      assert.deepEqual(values(await store.allocate([one('r')])), [100n]);
      await assert.rejects(
        store.modifySequence('r', () => {
          throw new Error('refused');
        }),
        /refused/,
      );
      await store.modifySequence('r', () => ({ write: { kind: 'delete' }, result: undefined }));
      assert.equal(await store.getSequence('r'), undefined);
      assert.deepEqual(values(await store.allocate([one('r')])), [1n]);
      await store.close();
    });

    it('lists by UTF-8 byte order, with prefix and keyset pagination', async () => {
      const store = await (await newHarness()).open();
      const names = ['b', 'a/2', 'a/10', 'a', 'é', 'Z', 'a/1', '😀'];
      await store.allocate(names.map((name) => one(name)));
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
      await store.allocate([one('high', 10n), one('low')]);
      const summary = await store.importLastValues(
        new Map([
          ['high', 5n],
          ['low', 7n],
          ['new', 3n],
          ['zero', 0n],
        ]),
      );
      assert.deepEqual(summary, { created: 2, raised: 1, unchanged: 1 });
      assert.deepEqual(await exported(store), { high: 10n, low: 7n, new: 3n, zero: 0n });
      assert.deepEqual(values(await store.allocate([one('low'), one('zero'), one('new')])), [8n, 1n, 4n]);
      await store.close();
    });

    it('imports whole sequences (the full format) without moving a counter back', async () => {
      const store = await (await newHarness()).open();
      await store.allocate([one('ahead', 50n), one('behind')]);
      const options = resolveOptions({ increment: 3n, maxValue: 1000n, cache: 5n });
      const summary = await store.importSequences([
        { name: 'fresh', options, position: { lastValue: 10n, isCalled: true } },
        { name: 'ahead', options, position: { lastValue: 10n, isCalled: true } },
        { name: 'behind', options, position: { lastValue: 100n, isCalled: false } },
      ]);
      assert.deepEqual(summary, { created: 1, raised: 1, unchanged: 1 });
      assert.deepEqual((await store.getSequence('fresh'))?.options, options);
      assert.deepEqual((await store.getSequence('behind'))?.position, { lastValue: 100n, isCalled: false });
      assert.deepEqual(values(await store.allocate([one('fresh'), one('behind'), one('ahead')])), [13n, 100n, 51n]);
      await store.close();
    });

    it('never hands out a value twice under concurrent batches', async () => {
      const store = await (await newHarness()).open();
      await define(store, 'cached', { cache: 7n });
      const batches = await Promise.all(
        Array.from({ length: 20 }, (_, i) => store.allocate([one('hot'), one('hot', 3n), one('cached'), one('cached', 2n), one(`n${i % 4}`)])),
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
      await store.allocate([one('kept', 41n)]);
      await store.close();
      store = await harness.open();
      assert.deepEqual(values(await store.allocate([one('kept')])), [42n]);
      await store.close();
    });
  });
}
