import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { fullEntries } from '../../src/core/import-rules.js';
import { initialPosition, resolveOptions, type OptionChanges } from '../../src/core/sequence.js';
import type { AllocationOutcome, AllocationRequest, SequenceStore, SettleOutcome, SettleRequest } from '../../src/core/store.js';
import type { StoreHarness } from './store-contract.js';

/**
 * The gapless state machine (core/gapless.ts) as every store keeps it:
 * reservations, lowest free first, confirm / release / void with their
 * replays and refusals, strict leases, ids remembered, the summary, the
 * values listing, forced resets and deletes, and the full format's state.
 */

const reserve = (name: string, key?: string, count = 1n): AllocationRequest => ({
  name,
  count,
  create: false,
  idempotency: key === undefined ? undefined : { key, requestCount: undefined },
});

type Granted = AllocationOutcome & { ok: true };

function granted(outcome: AllocationOutcome | undefined): Granted {
  assert.ok(outcome?.ok === true, `expected a reservation, got ${JSON.stringify(outcome, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`);
  assert.ok(outcome.grant !== undefined, 'a gapless allocation carries its reservation');
  assert.equal(outcome.first, outcome.last);
  return outcome;
}

async function reserveOne(store: SequenceStore, name: string, key?: string): Promise<Granted> {
  const [outcome] = await store.allocateBatch([reserve(name, key)]);
  return granted(outcome);
}

async function act(store: SequenceStore, name: string, id: string, action: SettleRequest['action'], reason?: string): Promise<SettleOutcome> {
  const [outcome] = await store.settleBatch([{ name, id, action, reason }]);
  assert.ok(outcome !== undefined);
  return outcome;
}

async function define(store: SequenceStore, name: string, changes: OptionChanges): Promise<void> {
  const options = resolveOptions(changes);
  await store.modifySequence(name, () => ({
    write: { kind: 'put', options, position: initialPosition(options), issued: undefined, seriesFirst: undefined, period: undefined, clearGapless: true },
    result: undefined,
  }));
}

async function summary(store: SequenceStore, name: string) {
  const record = await store.getSequence(name);
  assert.ok(record?.gapless !== undefined, `${name} is a live gapless sequence`);
  return record.gapless;
}

const idOf = (outcome: Granted): string => (outcome.grant as { id: string }).id;

export function gaplessContract(kind: string, newHarness: () => Promise<StoreHarness>): void {
  describe(`${kind} store contract: gapless sequences`, () => {
    it('reserves values in order with unguessable ids and leases; confirm, release and void settle them', async () => {
      const store = await (await newHarness()).open();
      await define(store, 'inv', { gapless: true, leaseSeconds: 60 });
      assert.deepEqual(await summary(store, 'inv'), { confirmedThrough: undefined, reserved: 0, free: 0 });
      const before = Date.now();
      const [a, b, c] = (await store.allocateBatch([reserve('inv'), reserve('inv'), reserve('inv')])).map(granted) as [Granted, Granted, Granted];
      assert.deepEqual([a.first, b.first, c.first], [1n, 2n, 3n]);
      assert.equal(new Set([idOf(a), idOf(b), idOf(c)]).size, 3);
      for (const outcome of [a, b, c]) {
        assert.match(idOf(outcome), /^[A-Za-z0-9_-]{22,64}$/);
        const expiresAt = (outcome.grant as { expiresAt: number }).expiresAt;
        // The lease is 60 s from the store's now (PostgreSQL: the database's clock, close to ours).
        assert.ok(expiresAt > before + 50_000 && expiresAt < Date.now() + 70_000, `expires_at ${expiresAt}`);
      }
      assert.deepEqual(await summary(store, 'inv'), { confirmedThrough: undefined, reserved: 3, free: 0 });

      assert.deepEqual(await act(store, 'inv', idOf(a), 'confirm'), { ok: true, answer: { value: 1n, state: 'confirmed', reason: undefined, labels: undefined }, replayed: false });
      assert.deepEqual(await act(store, 'inv', idOf(b), 'void', 'customer cancelled'), {
        ok: true,
        answer: { value: 2n, state: 'void', reason: 'customer cancelled', labels: undefined },
        replayed: false,
      });
      assert.deepEqual(await act(store, 'inv', idOf(c), 'release'), { ok: true, answer: { value: 3n, state: 'free', reason: undefined, labels: undefined }, replayed: false });
      assert.deepEqual(await summary(store, 'inv'), { confirmedThrough: 2n, reserved: 0, free: 1 });

      // The same action again answers the same; another action is refused; the void keeps its first reason.
      assert.deepEqual(await act(store, 'inv', idOf(a), 'confirm'), { ok: true, answer: { value: 1n, state: 'confirmed', reason: undefined, labels: undefined }, replayed: true });
      assert.deepEqual(await act(store, 'inv', idOf(b), 'void', 'another reason'), {
        ok: true,
        answer: { value: 2n, state: 'void', reason: 'customer cancelled', labels: undefined },
        replayed: true,
      });
      assert.deepEqual(await act(store, 'inv', idOf(a), 'release'), { ok: false, reason: 'settled' });
      assert.deepEqual(await act(store, 'inv', idOf(c), 'confirm'), { ok: false, reason: 'settled' });

      // Lowest free first: the released 3 goes out again before 4, under a new id.
      const again = await reserveOne(store, 'inv');
      assert.equal(again.first, 3n);
      assert.equal(again.tookExpired, false);
      assert.notEqual(idOf(again), idOf(c));
      assert.equal((await reserveOne(store, 'inv')).first, 4n);
      await act(store, 'inv', idOf(again), 'confirm');
      assert.deepEqual(await summary(store, 'inv'), { confirmedThrough: 3n, reserved: 1, free: 0 });
      await store.close();
    });

    it('refuses what it never issued, and more than one value a request', async () => {
      const store = await (await newHarness()).open();
      await define(store, 'g', { gapless: true });
      await define(store, 'plain', {});
      const mine = await reserveOne(store, 'g');
      assert.deepEqual(await act(store, 'g', 'AAAAAAAAAAAAAAAAAAAAAA', 'confirm'), { ok: false, reason: 'not_found' });
      assert.deepEqual(await act(store, 'plain', idOf(mine), 'confirm'), { ok: false, reason: 'not_found' });
      assert.deepEqual(await act(store, 'missing', idOf(mine), 'confirm'), { ok: false, reason: 'not_found' });
      const outcomes = await store.allocateBatch([reserve('g', undefined, 2n), reserve('g')]);
      assert.deepEqual(outcomes[0], { ok: false, reason: 'gapless_count' });
      assert.equal(granted(outcomes[1]).first, 2n);
      assert.deepEqual(await store.listValues('plain', { state: undefined, after: undefined, limit: 10 }), []);
      assert.equal(await store.listValues('missing', { state: undefined, after: undefined, limit: 10 }), undefined);
      await store.close();
    });

    it('ends a lease at expires_at: refused after it, free at once, handed out again lowest first, the old id still expired', async () => {
      const store = await (await newHarness()).open();
      await define(store, 'short', { gapless: true, leaseSeconds: 1 });
      const first = await reserveOne(store, 'short');
      const second = await reserveOne(store, 'short');
      await act(store, 'short', idOf(second), 'confirm');
      await sleep(1600);
      assert.deepEqual(await summary(store, 'short'), { confirmedThrough: undefined, reserved: 0, free: 1 });
      const listed = await store.listValues('short', { state: 'free', after: undefined, limit: 10 });
      assert.deepEqual(listed?.map((v) => [v.value, v.state]), [[1n, 'free']]);
      assert.deepEqual(await act(store, 'short', idOf(first), 'confirm'), { ok: false, reason: 'expired' });
      const retaken = await reserveOne(store, 'short');
      assert.equal(retaken.first, 1n);
      assert.equal(retaken.tookExpired, true);
      assert.deepEqual(await act(store, 'short', idOf(first), 'release'), { ok: false, reason: 'expired' });
      assert.deepEqual(await act(store, 'short', idOf(retaken), 'confirm'), { ok: true, answer: { value: 1n, state: 'confirmed', reason: undefined, labels: undefined }, replayed: false });
      assert.deepEqual(await summary(store, 'short'), { confirmedThrough: 2n, reserved: 0, free: 0 });
      await store.close();
    });

    it('replays an idempotent reservation with the same id, also across reopening', async () => {
      const harness = await newHarness();
      let store = await harness.open();
      await define(store, 'k', { gapless: true });
      const original = await reserveOne(store, 'k', 'key-1');
      const [replay, other] = await store.allocateBatch([reserve('k', 'key-1'), reserve('k', 'key-2')]);
      assert.deepEqual(granted(replay).grant, original.grant);
      assert.equal(granted(replay).replayed, true);
      assert.equal(granted(other).first, 2n);
      await store.close();
      store = await harness.open();
      assert.deepEqual(granted((await store.allocateBatch([reserve('k', 'key-1')]))[0]).grant, original.grant);
      // Reservations are durable: the reopened store settles them.
      assert.equal((await act(store, 'k', idOf(original), 'confirm')).ok, true);
      await store.close();
    });

    it('lists values not confirmed by state, ascending, with keyset pagination and never an id', async () => {
      const store = await (await newHarness()).open();
      await define(store, 'v', { gapless: true });
      const outcomes = (await store.allocateBatch(Array.from({ length: 6 }, () => reserve('v')))).map(granted);
      const [o1, o2, o3, o4] = outcomes as [Granted, Granted, Granted, Granted];
      await act(store, 'v', idOf(o1), 'confirm');
      await act(store, 'v', idOf(o2), 'void', 'torn');
      await act(store, 'v', idOf(o3), 'release');
      await act(store, 'v', idOf(o4), 'void');
      const all = await store.listValues('v', { state: undefined, after: undefined, limit: 3 });
      assert.deepEqual(all?.map((v) => [v.value, v.state, v.reason]), [
        [2n, 'void', 'torn'],
        [3n, 'free', undefined],
        [4n, 'void', undefined],
      ]);
      const rest = await store.listValues('v', { state: undefined, after: { period: '', value: 4n }, limit: 3 });
      assert.deepEqual(rest?.map((v) => [v.value, v.state]), [
        [5n, 'reserved'],
        [6n, 'reserved'],
      ]);
      assert.ok(rest.every((v) => v.expiresAt !== undefined && !('reservation' in v)));
      assert.deepEqual((await store.listValues('v', { state: 'void', after: undefined, limit: 10 }))?.map((v) => v.value), [2n, 4n]);
      assert.deepEqual((await store.listValues('v', { state: 'reserved', after: { period: '', value: 5n }, limit: 10 }))?.map((v) => v.value), [6n]);
      await store.close();
    });

    it('goes down the series for a descending sequence: highest free first', async () => {
      const store = await (await newHarness()).open();
      await define(store, 'down', { gapless: true, increment: -1n, start: 10n, minValue: 1n, maxValue: 10n });
      const [a, b, c] = (await store.allocateBatch([reserve('down'), reserve('down'), reserve('down')])).map(granted) as [Granted, Granted, Granted];
      assert.deepEqual([a.first, b.first, c.first], [10n, 9n, 8n]);
      await act(store, 'down', idOf(c), 'release');
      await act(store, 'down', idOf(b), 'release');
      await act(store, 'down', idOf(a), 'confirm');
      assert.equal((await reserveOne(store, 'down')).first, 9n);
      assert.deepEqual(await summary(store, 'down'), { confirmedThrough: 10n, reserved: 1, free: 1 });
      await store.close();
    });

    it('forgets reservations on a forced reset and on delete', async () => {
      const store = await (await newHarness()).open();
      await define(store, 'f', { gapless: true });
      const old = await reserveOne(store, 'f');
      await store.modifySequence('f', (current) => {
        assert.ok(current !== undefined);
        const write = { kind: 'put', options: current.options, position: initialPosition(current.options), issued: undefined, seriesFirst: undefined, period: undefined, clearGapless: true } as const;
        return { write, result: undefined };
      });
      assert.deepEqual(await act(store, 'f', idOf(old), 'confirm'), { ok: false, reason: 'not_found' });
      assert.deepEqual(await summary(store, 'f'), { confirmedThrough: undefined, reserved: 0, free: 0 });
      const fresh = await reserveOne(store, 'f');
      assert.equal(fresh.first, 1n);
      await store.modifySequence('f', () => ({ write: { kind: 'delete', tombstone: { low: 1n, high: 1n } }, result: undefined }));
      assert.deepEqual(await act(store, 'f', idOf(fresh), 'confirm'), { ok: false, reason: 'not_found' });
      await store.close();
    });

    it('carries its state through the full format: values, open reservations and the series, into another store', async () => {
      const store = await (await newHarness()).open();
      await define(store, 'm', { gapless: true });
      const outcomes = (await store.allocateBatch(Array.from({ length: 4 }, () => reserve('m')))).map(granted);
      const [m1, m2, m3, m4] = outcomes as [Granted, Granted, Granted, Granted];
      await act(store, 'm', idOf(m1), 'confirm');
      await act(store, 'm', idOf(m2), 'void', 'why');
      await act(store, 'm', idOf(m3), 'release');
      const state = await store.readGapless('m');
      const record = await store.getSequence('m');
      assert.ok(state !== undefined && record !== undefined);
      assert.equal(state.seriesFirst, 1n);
      assert.deepEqual(state.reservations.map((r) => [r.id, r.value]), [[idOf(m4), 4n]]);
      assert.deepEqual(state.values.map((v) => [v.value, v.state]), [
        [2n, 'void'],
        [3n, 'free'],
        [4n, 'reserved'],
      ]);
      assert.equal(await store.readGapless('nothing'), undefined);
      await store.close();

      const target = await (await newHarness()).open();
      const entries = fullEntries([{ name: 'm', options: record.options, position: record.position, issued: record.issued, gapless: state }]);
      assert.equal((await target.importSequences(entries)).created, 1);
      assert.deepEqual(await summary(target, 'm'), { confirmedThrough: 2n, reserved: 1, free: 1 });
      assert.equal((await reserveOne(target, 'm')).first, 3n);
      assert.deepEqual(await act(target, 'm', idOf(m4), 'confirm'), { ok: true, answer: { value: 4n, state: 'confirmed', reason: undefined, labels: undefined }, replayed: false });
      // The same file again changes nothing.
      assert.equal((await target.importSequences(entries)).unchanged, 1);
      await target.close();
    });

    it('never holds one value in two open reservations, nor confirms one twice, under concurrent batches', async () => {
      const store = await (await newHarness()).open();
      await define(store, 'busy', { gapless: true });
      const confirmed: bigint[] = [];
      await Promise.all(
        Array.from({ length: 6 }, async (_unused, worker) => {
          for (let round = 0; round < 8; round += 1) {
            const outcomes = (await store.allocateBatch([reserve('busy'), reserve('busy')])).map(granted);
            const settled = await store.settleBatch(
              outcomes.map((o, i) => ({ name: 'busy', id: idOf(o), action: (worker + round + i) % 3 === 0 ? 'release' : 'confirm', reason: undefined })),
            );
            settled.forEach((s) => {
              if (s.ok && s.answer.state === 'confirmed') confirmed.push(s.answer.value);
            });
          }
        }),
      );
      assert.equal(new Set(confirmed).size, confirmed.length, 'no value confirmed twice');
      const { free, reserved, confirmedThrough } = await summary(store, 'busy');
      const sorted = [...confirmed].sort((x, y) => (x < y ? -1 : 1));
      assert.equal(reserved, 0);
      // Every value handed out is confirmed or free: the confirmed ones are 1..N minus the free ones.
      const listedFree = (await store.listValues('busy', { state: 'free', after: undefined, limit: 1000 }))?.map((v) => v.value) ?? [];
      assert.equal(listedFree.length, free);
      const all = [...sorted, ...listedFree].sort((x, y) => (x < y ? -1 : 1));
      assert.deepEqual(all, Array.from({ length: all.length }, (_u, i) => BigInt(i + 1)));
      assert.equal(confirmedThrough, listedFree.length === 0 ? BigInt(all.length) : (listedFree[0] as bigint) - 1n || undefined);
      await store.close();
    });
  });
}
