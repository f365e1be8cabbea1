import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fullEntries } from '../../src/core/import-rules.js';
import { periodAt } from '../../src/core/period.js';
import type { AnswerLabels } from '../../src/core/periodic.js';
import { initialPosition, resolveOptions, type OptionChanges } from '../../src/core/sequence.js';
import type { AllocationOutcome, AllocationRequest, SequenceStore, SettleOutcome } from '../../src/core/store.js';
import type { StoreHarness } from './store-contract.js';

/**
 * Calendar periods and formatted numbers (core/period.ts, core/format.ts,
 * core/periodic.ts) as every store keeps them. With a store clock the test
 * controls (`setNow`), the dates matter: restarts at the boundary, a period
 * that never goes back, a zone change from the next period, replays across a
 * boundary, gapless values of an earlier period. Without one (the real clock),
 * only what holds whatever the date: the labels of answers, replays, settles.
 */
export interface ClockedHarness extends StoreHarness {
  /** Sets the store's clock (ms since the epoch); undefined: the store runs on the real clock. */
  readonly setNow: ((now: number) => void | Promise<void>) | undefined;
}

const next = (name: string, count = 1n, key?: string): AllocationRequest => ({
  name,
  count,
  create: false,
  idempotency: key === undefined ? undefined : { key, requestCount: count === 1n ? undefined : count },
});

type Taken = AllocationOutcome & { ok: true };

function taken(outcome: AllocationOutcome | undefined): Taken {
  assert.ok(outcome?.ok === true, `expected values, got ${JSON.stringify(outcome, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`);
  return outcome;
}

async function take(store: SequenceStore, ...requests: AllocationRequest[]): Promise<Taken[]> {
  return (await store.allocateBatch(requests)).map(taken);
}

async function define(store: SequenceStore, name: string, changes: OptionChanges): Promise<void> {
  const options = resolveOptions(changes);
  await store.modifySequence(name, () => ({
    write: { kind: 'put', options, position: initialPosition(options), issued: undefined, seriesFirst: undefined, period: undefined, clearGapless: true },
    result: undefined,
  }));
}

/** An admin change of options, as core/admin.ts makes it: the position, marks and recorded period kept. */
async function change(store: SequenceStore, name: string, changes: OptionChanges): Promise<void> {
  await store.modifySequence(name, (current) => {
    assert.ok(current !== undefined);
    const options = resolveOptions(changes, current.options);
    const { position, issued, seriesFirst, period } = current;
    return { write: { kind: 'put', options, position, issued, seriesFirst, period, clearGapless: false }, result: undefined };
  });
}

async function settle(store: SequenceStore, name: string, id: string, action: 'confirm' | 'release' | 'void'): Promise<SettleOutcome> {
  const [outcome] = await store.settleBatch([{ name, id, action, reason: undefined }]);
  assert.ok(outcome !== undefined);
  return outcome;
}

const labels = (period: string | undefined, formatted?: string, lastFormatted = formatted): AnswerLabels => ({ period, formatted, lastFormatted });
const at = (iso: string): number => Date.parse(iso);

export function periodContract(label: string, newHarness: () => Promise<ClockedHarness>, clocked: boolean): void {
  describe(`${label}: calendar periods and formatted numbers`, () => {
    it('labels single and batch answers with the period and formatted numbers; a plain sequence carries none', async () => {
      const harness = await newHarness();
      await harness.setNow?.(at('2026-07-15T12:00:00Z'));
      const store = await harness.open();
      const before = Date.now();
      await define(store, 'inv', { restart: 'yearly', format: 'INV-{yyyy}-{value:5}' });
      await define(store, 'tag', { format: 'T{{{value}}}' });
      await define(store, 'plain', {});
      const [single, batch] = await take(store, next('inv'), next('inv', 3n));
      const year = harness.setNow === undefined ? pickYear(before, Date.now(), single?.labels?.period) : '2026';
      assert.deepEqual([single?.first, single?.labels], [1n, labels(year, `INV-${year}-00001`)]);
      assert.deepEqual([batch?.first, batch?.last, batch?.labels], [2n, 4n, labels(year, `INV-${year}-00002`, `INV-${year}-00004`)]);
      const [tag, plain] = await take(store, next('tag', 2n), next('plain'));
      assert.deepEqual(tag?.labels, labels(undefined, 'T{1}', 'T{2}'));
      assert.equal(plain?.labels, undefined);
      const record = await store.getSequence('inv');
      assert.equal(record?.period?.label, year);
      assert.equal((await store.getSequence('plain'))?.period, undefined);
      await store.close();
    });

    it('replays a key with the labels it was answered with', async () => {
      const harness = await newHarness();
      await harness.setNow?.(at('2026-12-31T23:00:00Z'));
      const store = await harness.open();
      await define(store, 'r', { restart: 'yearly', format: '{yy}/{value}' });
      const [first] = await take(store, next('r', 1n, 'k'));
      if (harness.setNow !== undefined) {
        assert.deepEqual(first?.labels, labels('2026', '26/1'));
        // The next year: the same key answers what it answered, a new request the new period's first value.
        await harness.setNow(at('2027-01-01T01:00:00Z'));
      }
      const [replay, fresh] = await take(store, next('r', 1n, 'k'), next('r'));
      assert.deepEqual([replay?.replayed, replay?.first, replay?.labels], [true, 1n, first?.labels]);
      if (harness.setNow !== undefined) assert.deepEqual([fresh?.first, fresh?.labels], [1n, labels('2027', '27/1')]);
      await store.close();
    });

    it('gapless: settle answers carry the reservation labels', async () => {
      const harness = await newHarness();
      await harness.setNow?.(at('2026-03-01T08:00:00Z'));
      const store = await harness.open();
      await define(store, 'g', { gapless: true, format: 'G-{value:3}' });
      const [a, b] = await take(store, next('g'), next('g'));
      assert.deepEqual([a?.labels, b?.labels], [labels(undefined, 'G-001'), labels(undefined, 'G-002')]);
      assert.deepEqual(await settle(store, 'g', a?.grant?.id ?? '', 'confirm'), {
        ok: true,
        answer: { value: 1n, state: 'confirmed', reason: undefined, labels: labels(undefined, 'G-001') },
        replayed: false,
      });
      const voided = await settle(store, 'g', b?.grant?.id ?? '', 'void');
      assert.ok(voided.ok);
      assert.deepEqual(voided.answer.labels, labels(undefined, 'G-002'));
      await store.close();
    });

    // The dated cases need a store clock the test sets.
    if (!clocked) return;

    it('restarts at the period boundary in the same commit, at local midnight of a daylight-saving day', async () => {
      const harness = await newHarness();
      const setNow = clockOf(harness);
      // Berlin, 2026-03-29: clocks go forward at 02:00, so that day lasts 23 hours.
      await setNow(at('2026-03-28T22:59:59.900Z'));
      let store = await harness.open();
      await define(store, 'd', { restart: 'daily', timeZone: 'Europe/Berlin', format: '{yyyy}{mm}{dd}-{value}' });
      const before = await take(store, next('d', 2n));
      assert.deepEqual(before[0]?.labels, labels('2026-03-28', '20260328-1', '20260328-2'));
      await setNow(at('2026-03-28T23:00:00Z'));
      const after = await take(store, next('d'), next('d'));
      assert.deepEqual(
        after.map((outcome) => [outcome.first, outcome.labels]),
        [
          [1n, labels('2026-03-29', '20260329-1')],
          [2n, labels('2026-03-29', '20260329-2')],
        ],
      );
      await store.close();
      // Reopened: the period and the position were written with the allocation.
      store = await harness.open();
      const record = await store.getSequence('d');
      assert.deepEqual(record?.period, { label: '2026-03-29', startsAt: at('2026-03-28T23:00:00Z'), endsAt: at('2026-03-29T22:00:00Z') });
      assert.deepEqual(record.position, { lastValue: 2n, isCalled: true });
      assert.deepEqual(record.issued, { low: 1n, high: 2n });
      assert.equal((await take(store, next('d')))[0]?.first, 3n);
      await store.close();
    });

    it('imports the recorded period with a sequence: moved after its end, the next allocation starts the new period', async () => {
      const source = await newHarness();
      const setSource = clockOf(source);
      await setSource(at('2026-12-31T12:00:00Z'));
      const from = await source.open();
      await define(from, 'y', { restart: 'yearly', format: 'Y{yyyy}-{value}' });
      await take(from, next('y', 5n));
      const record = await from.getSequence('y');
      assert.ok(record?.period !== undefined);
      await from.close();

      const target = await newHarness();
      const setTarget = clockOf(target);
      await setTarget(at('2027-01-01T00:00:01Z'));
      const to = await target.open();
      const entry = { name: 'y', options: record.options, position: record.position, issued: record.issued, period: record.period };
      assert.equal((await to.importSequences(fullEntries([entry]))).created, 1);
      assert.deepEqual((await to.getSequence('y'))?.period, record.period);
      const [first] = await take(to, next('y'));
      assert.equal(first?.first, 1n);
      assert.deepEqual(first.labels, labels('2027', 'Y2027-1'));
      // The same file again: the store's later period stays (periods never go back).
      await to.importSequences(fullEntries([entry]));
      assert.equal((await to.getSequence('y'))?.period?.label, '2027');
      await to.close();
    });

    it('never goes back to an earlier period when the clock steps back; the date shown is the period first day', async () => {
      const harness = await newHarness();
      const setNow = clockOf(harness);
      await setNow(at('2026-05-01T00:00:01Z'));
      const store = await harness.open();
      await define(store, 'm', { restart: 'monthly', format: '{yyyy}{mm}{dd}-{value:4}', cache: 10n });
      assert.deepEqual((await take(store, next('m')))[0]?.labels, labels('2026-05', '20260501-0001'));
      await setNow(at('2026-04-30T23:59:00Z'));
      const [stepped] = await take(store, next('m'));
      assert.deepEqual([stepped?.first, stepped?.labels], [2n, labels('2026-05', '20260501-0002')]);
      // The month after: the counter (and its cached block) starts again.
      await setNow(at('2026-06-02T10:00:00Z'));
      const [june] = await take(store, next('m'));
      assert.deepEqual([june?.first, june?.labels], [1n, labels('2026-06', '20260602-0001')]);
      await store.close();
    });

    it('applies a change of time zone from the next period on', async () => {
      const harness = await newHarness();
      const setNow = clockOf(harness);
      await setNow(at('2026-06-10T12:00:00Z'));
      const store = await harness.open();
      await define(store, 'z', { restart: 'daily' });
      assert.equal((await take(store, next('z')))[0]?.labels?.period, '2026-06-10');
      // Kiritimati (UTC+14) is in June 11 from 10:00 UTC; the recorded UTC day holds until its end.
      await change(store, 'z', { timeZone: 'Pacific/Kiritimati' });
      await setNow(at('2026-06-10T20:00:00Z'));
      assert.deepEqual((await take(store, next('z'))).map((o) => [o.first, o.labels?.period]), [[2n, '2026-06-10']]);
      await setNow(at('2026-06-11T00:00:00Z'));
      assert.deepEqual((await take(store, next('z'))).map((o) => [o.first, o.labels?.period]), [[1n, '2026-06-11']]);
      const period = (await store.getSequence('z'))?.period;
      assert.deepEqual(period, { label: '2026-06-11', startsAt: at('2026-06-10T10:00:00Z'), endsAt: at('2026-06-11T10:00:00Z') });
      await store.close();
    });

    it('gapless: a free value of an earlier period goes out again first, with its own labels; confirm answers carry them', async () => {
      const harness = await newHarness();
      const setNow = clockOf(harness);
      await setNow(at('2026-12-31T12:00:00Z'));
      const store = await harness.open();
      await define(store, 'g', { gapless: true, restart: 'yearly', format: 'G-{yyyy}-{value}', leaseSeconds: 86_400 });
      const [one, two] = await take(store, next('g'), next('g'));
      assert.ok((await settle(store, 'g', one?.grant?.id ?? '', 'release')).ok);
      await setNow(at('2027-01-01T00:00:01Z'));
      const [again, fresh, third] = await take(store, next('g'), next('g'), next('g'));
      assert.deepEqual([again?.first, again?.labels], [1n, labels('2026', 'G-2026-1')]);
      assert.deepEqual([fresh?.first, fresh?.labels], [1n, labels('2027', 'G-2027-1')]);
      assert.deepEqual([third?.first, third?.labels], [2n, labels('2027', 'G-2027-2')]);
      assert.equal((await store.getSequence('g'))?.period?.label, '2027');
      const confirmed = await settle(store, 'g', again?.grant?.id ?? '', 'confirm');
      assert.deepEqual(confirmed, { ok: true, answer: { value: 1n, state: 'confirmed', reason: undefined, labels: labels('2026', 'G-2026-1') }, replayed: false });
      const old = await settle(store, 'g', two?.grant?.id ?? '', 'confirm');
      assert.ok(old.ok);
      assert.deepEqual(old.answer.labels, labels('2026', 'G-2026-2'));
      // confirmed_through speaks of the current period: 2027's 1 is still reserved; confirmed, 1; then 2.
      assert.equal((await store.getSequence('g'))?.gapless?.confirmedThrough, undefined);
      assert.ok((await settle(store, 'g', fresh?.grant?.id ?? '', 'confirm')).ok);
      const summary = (await store.getSequence('g'))?.gapless;
      assert.deepEqual(summary, { confirmedThrough: 1n, reserved: 1, free: 0 });
      // A lease that ends frees the value in its own period: it goes out again before 2027's next new one.
      await setNow(at('2027-01-02T00:00:01Z'));
      const [retaken] = await take(store, next('g'));
      assert.deepEqual([retaken?.first, retaken?.labels, retaken?.tookExpired], [2n, labels('2027', 'G-2027-2'), true]);
      await store.close();
    });

    it('gapless: lists values by period, then value, each with its period and formatted number, a page at a time', async () => {
      const harness = await newHarness();
      const setNow = clockOf(harness);
      await setNow(at('2026-12-31T12:00:00Z'));
      const store = await harness.open();
      await define(store, 'p', { gapless: true, restart: 'yearly', format: 'P{yy}-{value}', leaseSeconds: 86_400 });
      const [old] = await take(store, next('p'));
      assert.ok((await settle(store, 'p', old?.grant?.id ?? '', 'void')).ok);
      await setNow(at('2027-01-01T00:00:01Z'));
      await take(store, next('p'), next('p'));
      // Value 1 is in both periods: each is listed once, in its own period, across page boundaries.
      const seen: [string | undefined, bigint, string | undefined][] = [];
      let after: { period: string; value: bigint } | undefined;
      for (;;) {
        const page = (await store.listValues('p', { state: undefined, after, limit: 1 })) ?? [];
        const [view] = page;
        if (view === undefined) break;
        seen.push([view.labels?.period, view.value, view.labels?.formatted]);
        after = { period: view.labels?.period ?? '', value: view.value };
      }
      assert.deepEqual(seen, [
        ['2026', 1n, 'P26-1'],
        ['2027', 1n, 'P27-1'],
        ['2027', 2n, 'P27-2'],
      ]);
      await store.close();
    });
  });
}

function clockOf(harness: ClockedHarness): (now: number) => void | Promise<void> {
  assert.ok(harness.setNow !== undefined, 'this case needs a store clock');
  return harness.setNow;
}

/** The year label of an answer on the real clock: that of the instant before or after it (a new year may begin between). */
function pickYear(before: number, after: number, answered: string | undefined): string {
  const candidates = [periodAt('yearly', 'UTC', before).label, periodAt('yearly', 'UTC', after).label];
  assert.ok(answered !== undefined && candidates.includes(answered), `the period ${answered} is that of the answer's time`);
  return answered;
}
