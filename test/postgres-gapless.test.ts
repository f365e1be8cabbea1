/**
 * Gapless sequences on PostgreSQL, beyond the store contract: several
 * instances on one database reserving, settling and letting leases end at
 * once (the database's clock judges every lease), replays across instances,
 * a sequence made gapless while another instance holds cached blocks of it,
 * a full-format move of a series, and a fault while settling.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, it } from 'node:test';
import pg from 'pg';
import { defineSequence, deleteSequence, resetSequence } from '../src/core/admin.js';
import { fullEntries, ImportConflictError, seedEntries } from '../src/core/import-rules.js';
import type { Grant, SettleAction } from '../src/core/gapless.js';
import { StoreUnavailableError, type AllocationOutcome, type AllocationRequest, type SettleOutcome, type SequenceStore } from '../src/core/store.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { startPostgres } from './helpers/postgres.js';

const postgres = await startPostgres();

/** Stores a test opened, closed after it whatever happened (an open pool would keep the file running). */
const opened: PostgresStore[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

async function open(url: string, statementTimeoutMs = 5000): Promise<PostgresStore> {
  const store = await PostgresStore.open({ url, poolSize: 4, statementTimeoutMs });
  opened.push(store);
  return store;
}

const next = (name: string, key?: string, count = 1n): AllocationRequest => ({
  name,
  count,
  create: true,
  idempotency: key === undefined ? undefined : { key, requestCount: count === 1n ? undefined : count },
});

/** One reservation: its value and grant, or fails the test. */
async function reserve(store: SequenceStore, name: string, key?: string): Promise<{ value: bigint; grant: Grant; tookExpired: boolean, labels: undefined }> {
  const [outcome] = await store.allocateBatch([next(name, key)]);
  assert.ok(outcome?.ok === true && outcome.grant !== undefined, `no reservation: ${JSON.stringify(outcome, (_, v: unknown) => (typeof v === 'bigint' ? `${v}` : v))}`);
  assert.equal(outcome.first, outcome.last);
  return { value: outcome.first, grant: outcome.grant, tookExpired: outcome.tookExpired, labels: undefined };
}

async function settle(store: SequenceStore, name: string, id: string, action: SettleAction, reason?: string): Promise<SettleOutcome> {
  const [outcome] = await store.settleBatch([{ name, id, action, reason }]);
  assert.ok(outcome !== undefined);
  return outcome;
}

/** Polls (generously) until `check` holds: leases end by the database's clock, never asserted on timing. */
async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what}`);
    await sleep(100);
  }
}

/** A reservation as the database keeps it: times in ms by its clock. */
interface StoredReservationRow {
  id: string;
  value: bigint;
  expiresAt: number;
  state: string;
  settledAt: number | undefined;
}

async function storedReservations(url: string, name: string): Promise<StoredReservationRow[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string; value: string; expires_at: string; state: string; settled_at: string | null }>(
      'SELECT id, value, expires_at, state, settled_at FROM takeanumber_gapless_reservations WHERE name = $1',
      [name],
    );
    return rows.map((row) => ({
      id: row.id,
      value: BigInt(row.value),
      expiresAt: Number(row.expires_at),
      state: row.state,
      settledAt: row.settled_at === null ? undefined : Number(row.settled_at),
    }));
  } finally {
    await client.end();
  }
}

describe('PostgreSQL gapless sequences', () => {
  it('two instances reserving, settling and letting 1 s leases end at once: no value held twice, none confirmed twice, the series unbroken', async () => {
    const url = await postgres.newDatabase();
    const stores = [await open(url), await open(url)] as const;
    const name = 'invoices';
    await defineSequence(stores[0], name, { gapless: true, leaseSeconds: 1 });
    const LEASE_MS = 1000;

    interface Granted {
      readonly value: bigint;
      readonly grant: Grant;
      readonly tookExpired: boolean;
    }
    const granted: Granted[] = [];
    /** Settlements that wrote (not replays), by reservation id. */
    const settled = new Map<string, { action: SettleAction; value: bigint; reason: string | undefined }>();
    const refusals: Record<string, number> = {};
    let races = 0;
    let replays = 0;
    const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)] as T;

    const record = (id: string, action: SettleAction, outcome: SettleOutcome, value: bigint, reason?: string): void => {
      if (!outcome.ok) {
        refusals[outcome.reason] = (refusals[outcome.reason] ?? 0) + 1;
        return;
      }
      assert.equal(outcome.answer.value, value, 'a settlement answers the reservation\'s value');
      if (outcome.replayed) {
        replays += 1;
        assert.equal(settled.get(id)?.action, action, 'a replay follows a settlement by the same action');
        return;
      }
      assert.equal(settled.has(id), false, `reservation ${id} settled twice`);
      settled.set(id, { action, value, reason });
    };

    const deadline = Date.now() + 4000;
    const worker = async (w: number): Promise<void> => {
      for (let round = 0; Date.now() < deadline; round += 1) {
        const store = pick(stores);
        // Sometimes several reservations in one batch (one transaction on the locked path).
        const outcomes: AllocationOutcome[] = await store.allocateBatch(Array.from({ length: Math.random() < 0.2 ? 3 : 1 }, () => next(name)));
        for (const outcome of outcomes) {
          assert.ok(outcome.ok && outcome.grant !== undefined, `worker ${w}: ${JSON.stringify(outcome.ok ? 'no grant' : outcome.reason)}`);
          granted.push({ value: outcome.first, grant: outcome.grant, tookExpired: outcome.tookExpired });
          const { id } = outcome.grant;
          const value = outcome.first;
          // The first round of workers 0 to 3 takes each path once (a race, a settlement after the lease, a repeat,
          // an abandon), however slow the machine; every other round picks at random.
          const forced = round === 0 ? w : -1;
          const late = forced === 1 || (forced === -1 && Math.random() < 0.1);
          await sleep(late ? 1100 + Math.random() * 300 : Math.random() * 50);
          const roll = [0, 0.3, 0.3, 0.9][forced] ?? Math.random();
          if (roll < 0.1) {
            // Two instances settle one reservation differently at the same moment: exactly one wins.
            races += 1;
            const [confirm, voided] = await Promise.all([settle(stores[0], name, id, 'confirm'), settle(stores[1], name, id, 'void', `race ${w}`)]);
            record(id, 'confirm', confirm, value);
            record(id, 'void', voided, value, `race ${w}`);
            // Both refused only when the lease had ended; else one wins and the other finds it settled.
            if (confirm.ok || voided.ok) assert.deepEqual(confirm.ok ? voided : confirm, { ok: false, reason: 'settled' });
            else assert.deepEqual([confirm.reason, voided.reason], ['expired', 'expired']);
          } else if (roll < 0.85) {
            const action: SettleAction = roll < 0.45 ? 'confirm' : roll < 0.7 ? 'release' : 'void';
            const reason = action === 'void' ? `void ${w}.${round}` : undefined;
            record(id, action, await settle(pick(stores), name, id, action, reason), value, reason);
            // Sometimes the same action again, on either instance: the same answer.
            if (forced === 2 || Math.random() < 0.2) record(id, action, await settle(pick(stores), name, id, action, reason), value, reason);
          }
          // Else abandoned: its lease ends and the value is free again.
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));

    // Every lease ends; then the free values are taken and confirmed until none is left.
    await eventually(async () => (await stores[0].getSequence(name))?.gapless?.reserved === 0, 'every lease has ended');
    for (;;) {
      const summary = (await stores[1].getSequence(name))?.gapless;
      assert.ok(summary !== undefined);
      if (summary.free === 0) break;
      const taken = await reserve(stores[1], name);
      granted.push(taken);
      record(taken.grant.id, 'confirm', await settle(stores[0], name, taken.grant.id, 'confirm'), taken.value);
    }

    const rows = new Map((await storedReservations(url, name)).map((row) => [row.id, row]));
    assert.equal(rows.size, granted.length, 'every reservation id issued is kept');

    // No value held by two unexpired reservations: each holding ends (released, or its lease over) before the next begins.
    const byValue = new Map<bigint, Granted[]>();
    for (const g of granted) byValue.set(g.value, [...(byValue.get(g.value) ?? []), g]);
    let retaken = 0;
    for (const [value, grants] of byValue) {
      grants.sort((a, b) => a.grant.expiresAt - b.grant.expiresAt);
      for (let i = 1; i < grants.length; i += 1) {
        const before = grants[i - 1] as Granted;
        const after = grants[i] as Granted;
        retaken += 1;
        const held = rows.get(before.grant.id);
        assert.ok(held !== undefined);
        const settledBefore = settled.get(before.grant.id);
        assert.ok(settledBefore === undefined || settledBefore.action === 'release', `value ${value} handed out again after a ${settledBefore?.action}`);
        const heldUntil = settledBefore === undefined ? before.grant.expiresAt : (held.settledAt ?? Number.NaN);
        const startedAt = after.grant.expiresAt - LEASE_MS;
        assert.ok(startedAt >= heldUntil, `value ${value}: reserved at ${startedAt} while held until ${heldUntil}`);
        assert.equal(after.tookExpired, settledBefore === undefined, `value ${value}: tookExpired says whether its lease had ended`);
      }
    }
    // A settlement wrote before its lease ended, by the database's clock.
    for (const [id, { action }] of settled) {
      const row = rows.get(id);
      assert.ok(row?.settledAt !== undefined && row.settledAt < row.expiresAt, `reservation ${id} settled (${action}) after its lease`);
      assert.equal(row.state, { confirm: 'confirmed', release: 'free', void: 'void' }[action]);
    }

    // The series: every value from the first to the highest handed out is confirmed or void, exactly once.
    const final = [...settled.values()].filter(({ action }) => action !== 'release');
    const finalValues = final.map(({ value }) => value).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    assert.equal(new Set(finalValues).size, finalValues.length, 'a value confirmed or voided twice');
    const highest = granted.reduce((max, g) => (g.value > max ? g.value : max), 0n);
    assert.deepEqual(finalValues, Array.from({ length: Number(highest) }, (_, i) => BigInt(i + 1)));
    const record1 = await stores[0].getSequence(name);
    assert.deepEqual(record1?.gapless, { confirmedThrough: highest, reserved: 0, free: 0 });
    assert.equal(record1.seriesFirst, 1n);
    const voids = await stores[1].listValues(name, { state: 'void', after: undefined, limit: 1000 });
    assert.deepEqual(
      voids?.map((view) => [view.value, view.reason]),
      final.filter(({ action }) => action === 'void').map(({ value, reason }) => [value, reason]).sort((a, b) => ((a[0] as bigint) < (b[0] as bigint) ? -1 : 1)),
    );
    assert.ok(retaken > 0 && races > 0 && replays > 0 && (refusals.expired ?? 0) > 0, `the run exercised it: ${JSON.stringify({ retaken, races, replays, refusals })}`);
  });

  it('replays a keyed reservation on every instance, also when both take the key at once, reserving one value only', async () => {
    const url = await postgres.newDatabase();
    const [a, b] = [await open(url), await open(url)];
    await defineSequence(a, 'g', { gapless: true });
    const first = await reserve(a, 'g', 'key-1');
    const replay = (await b.allocateBatch([next('g', 'key-1')]))[0];
    assert.deepEqual(replay, { ok: true, first: first.value, last: first.value, replayed: true, grant: first.grant, tookExpired: false, labels: undefined });
    assert.deepEqual((await b.allocateBatch([next('g', 'key-1', 2n)]))[0], { ok: false, reason: 'key_reused' });
    assert.deepEqual((await a.allocateBatch([next('g', undefined, 2n)]))[0], { ok: false, reason: 'gapless_count' });

    for (let i = 0; i < 10; i += 1) {
      const [fromA, fromB] = await Promise.all([a.allocateBatch([next('g', `both-${i}`)]), b.allocateBatch([next('g', `both-${i}`), next('g', `both-${i}`)])]);
      const answers = [...fromA, ...fromB];
      for (const answer of answers) assert.ok(answer.ok && answer.grant !== undefined);
      assert.equal(new Set(answers.map((answer) => (answer.ok ? answer.grant?.id : undefined))).size, 1, 'one reservation for one key');
    }
    const summary = (await a.getSequence('g'))?.gapless;
    assert.deepEqual(summary, { confirmedThrough: undefined, reserved: 11, free: 0 }, 'one value reserved a key');
    // The grant a key replays is the same after it is settled.
    assert.deepEqual(await settle(b, 'g', first.grant.id, 'confirm'), { ok: true, answer: { value: 1n, state: 'confirmed', reason: undefined, labels: undefined }, replayed: false });
    assert.deepEqual((await a.allocateBatch([next('g', 'key-1')]))[0], { ok: true, first: 1n, last: 1n, replayed: true, grant: first.grant, tookExpired: false, labels: undefined });
  });

  it('judges leases by the database clock: an ended lease is refused, reads as free, and its value goes out again', async () => {
    const url = await postgres.newDatabase();
    const store = await open(url);
    await defineSequence(store, 'lease', { gapless: true, leaseSeconds: 1 });
    const abandoned = await reserve(store, 'lease');
    const kept = await reserve(store, 'lease');
    await eventually(async () => (await store.listValues('lease', { state: 'free', after: undefined, limit: 10 }))?.length === 2, 'both leases end');
    assert.deepEqual(await store.listValues('lease', { state: 'reserved', after: undefined, limit: 10 }), []);
    const free = await store.listValues('lease', { state: undefined, after: undefined, limit: 10 });
    assert.ok(free !== undefined);
    assert.deepEqual(free.map((view) => [view.value, view.state, view.expiresAt]), [[1n, 'free', undefined], [2n, 'free', undefined]]);
    assert.equal(free[0]?.updatedAt, abandoned.grant.expiresAt, 'a free value read from an ended lease was freed when the lease ended');
    assert.deepEqual(await settle(store, 'lease', kept.grant.id, 'confirm'), { ok: false, reason: 'expired' });
    assert.deepEqual((await store.getSequence('lease'))?.gapless, { confirmedThrough: undefined, reserved: 0, free: 2 });

    const again = await reserve(store, 'lease');
    assert.deepEqual([again.value, again.tookExpired], [1n, true], 'the lowest free value, whose lease had ended');
    assert.deepEqual(await settle(store, 'lease', abandoned.grant.id, 'release'), { ok: false, reason: 'expired' }, 'the old id stays expired');
    assert.deepEqual(await settle(store, 'lease', again.grant.id, 'void', 'torn'), { ok: true, answer: { value: 1n, state: 'void', reason: 'torn', labels: undefined }, replayed: false });
    const views = await store.listValues('lease', { state: undefined, after: undefined, limit: 1 });
    assert.deepEqual(views?.map((view) => [view.value, view.state, view.reason]), [[1n, 'void', 'torn']]);
    assert.deepEqual((await store.listValues('lease', { state: undefined, after: { period: '', value: 1n }, limit: 10 }))?.map((view) => view.value), [2n]);
    assert.deepEqual((await store.getSequence('lease'))?.gapless, { confirmedThrough: 1n, reserved: 0, free: 1 });
    assert.equal(await store.listValues('none', { state: undefined, after: undefined, limit: 10 }), undefined);
  });

  it('a sequence made gapless while another instance holds cached blocks of it: no value goes out after without a reservation', async () => {
    const url = await postgres.newDatabase();
    const [cached, admin] = [await open(url), await open(url)];
    await defineSequence(admin, 'c', { cache: 10n });
    const plain: bigint[] = [];
    for (let i = 0; i < 3; i += 1) {
      const [outcome] = await cached.allocateBatch([next('c')]);
      assert.ok(outcome?.ok === true && outcome.grant === undefined);
      plain.push(outcome.first);
    }
    await defineSequence(admin, 'c', { cache: 1n, gapless: true });
    const before = (await admin.getSequence('c'))?.issued;
    assert.ok(before !== undefined);
    const seen = new Set(plain);
    let reservations = 0;
    for (let i = 0; i < 30; i += 1) {
      const [outcome] = await cached.allocateBatch([next('c')]);
      assert.ok(outcome?.ok === true, JSON.stringify(outcome?.ok));
      assert.ok(!seen.has(outcome.first), `value ${outcome.first} twice`);
      seen.add(outcome.first);
      if (outcome.grant === undefined) assert.ok(outcome.first <= before.high, `value ${outcome.first} went out without a reservation after the change`);
      else reservations += 1;
    }
    assert.ok(reservations >= 20, `${reservations} reservations`);
  });

  it('moves a series whole to another database (full format), forgets it on a forced reset and on delete', async () => {
    const [fromUrl, toUrl] = [await postgres.newDatabase(), await postgres.newDatabase()];
    const [from, to] = [await open(fromUrl), await open(toUrl)];
    await defineSequence(from, 's', { gapless: true, start: 10n, increment: -2n, minValue: -100n, maxValue: 100n });
    const taken = [await reserve(from, 's'), await reserve(from, 's'), await reserve(from, 's'), await reserve(from, 's')];
    assert.deepEqual(taken.map((t) => t.value), [10n, 8n, 6n, 4n]);
    const [confirmed, released, voided, open_] = taken as [(typeof taken)[0], (typeof taken)[0], (typeof taken)[0], (typeof taken)[0]];
    await settle(from, 's', confirmed.grant.id, 'confirm');
    await settle(from, 's', released.grant.id, 'release');
    await settle(from, 's', voided.grant.id, 'void', 'cancelled');
    assert.deepEqual((await from.getSequence('s'))?.gapless, { confirmedThrough: 10n, reserved: 1, free: 1 }, 'descending: the prefix stops before 8, free');

    const record = await from.getSequence('s');
    const gapless = await from.readGapless('s');
    assert.ok(record !== undefined && gapless !== undefined);
    assert.deepEqual(gapless.reservations.map((r) => [r.id, r.value, r.state]), [[open_.grant.id, 4n, 'reserved']], 'open ids only');
    assert.deepEqual(gapless.values.map((v) => [v.value, v.state]), [[4n, 'reserved'], [6n, 'void'], [8n, 'free']]);
    assert.equal(await from.readGapless('nothing'), undefined);
    assert.deepEqual(
      await to.importSequences(fullEntries([{ name: 's', options: record.options, position: record.position, issued: record.issued, gapless }])),
      { created: 1, raised: 0, unchanged: 0, deleted: 0 },
    );
    assert.deepEqual(await to.readGapless('s'), gapless);
    assert.deepEqual((await to.getSequence('s'))?.gapless, record.gapless);
    assert.equal((await to.getSequence('s'))?.seriesFirst, 10n);
    // The holder settles on the new store; the free value goes out first.
    assert.deepEqual(await settle(to, 's', open_.grant.id, 'confirm'), { ok: true, answer: { value: 4n, state: 'confirmed', reason: undefined, labels: undefined }, replayed: false });
    assert.equal((await reserve(to, 's')).value, 8n);
    assert.deepEqual(await settle(to, 's', confirmed.grant.id, 'confirm'), { ok: false, reason: 'not_found' }, 'settled ids are not carried');

    // A forced reset starts a new series: values and ids go.
    await resetSequence(to, 's', 50n, true);
    assert.deepEqual(await to.listValues('s', { state: undefined, after: undefined, limit: 10 }), []);
    assert.deepEqual(await settle(to, 's', open_.grant.id, 'confirm'), { ok: false, reason: 'not_found' });
    assert.deepEqual((await to.getSequence('s'))?.gapless, { confirmedThrough: undefined, reserved: 0, free: 0 });
    assert.equal((await reserve(to, 's')).value, 50n);
    assert.equal((await to.getSequence('s'))?.seriesFirst, 50n);

    // A delete: values and ids go with it; the name used again is an ordinary sequence after its marks.
    await deleteSequence(from, 's', false);
    assert.deepEqual(await settle(from, 's', open_.grant.id, 'confirm'), { ok: false, reason: 'not_found' });
    assert.equal(await from.listValues('s', { state: undefined, after: undefined, limit: 10 }), undefined);
    const client = new pg.Client({ connectionString: fromUrl });
    await client.connect();
    const { rows } = await client.query<{ n: string }>(
      "SELECT (SELECT count(*) FROM takeanumber_gapless_values WHERE name = 's') + (SELECT count(*) FROM takeanumber_gapless_reservations WHERE name = 's') AS n",
    );
    await client.end();
    assert.deepEqual(rows, [{ n: '0' }]);
    const [reused] = await from.allocateBatch([next('s')]);
    assert.ok(reused?.ok === true && reused.grant === undefined);
  });

  it('a sequence turned gapless again after a forced reset into its values starts a clean series (its old voids gone)', async () => {
    const url = await postgres.newDatabase();
    const store = await open(url);
    await defineSequence(store, 'again', { gapless: true });
    const voided = await reserve(store, 'again');
    assert.equal((await settle(store, 'again', voided.grant.id, 'void')).ok, true);
    // Only voids left: gapless may be turned off; then a forced reset goes back over the values it handed out.
    await defineSequence(store, 'again', { gapless: false });
    await resetSequence(store, 'again', 1n, true);
    await defineSequence(store, 'again', { gapless: true });
    assert.deepEqual(await store.listValues('again', { state: undefined, after: undefined, limit: 10 }), []);
    const fresh = await reserve(store, 'again');
    assert.equal(fresh.value, 1n);
    assert.deepEqual(await settle(store, 'again', voided.grant.id, 'void'), { ok: false, reason: 'not_found' }, 'the old series\' ids are forgotten');
    assert.deepEqual((await store.getSequence('again'))?.seriesFirst, 1n);
  });

  it('an import never moves a gapless series on (a gap): refused once it has begun, allowed before its first value', async () => {
    const url = await postgres.newDatabase();
    const store = await open(url);
    await defineSequence(store, 'begun', { gapless: true });
    await defineSequence(store, 'unborn', { gapless: true });
    const held = await reserve(store, 'begun');
    await assert.rejects(store.importSequences(seedEntries(new Map([['begun', 100n], ['unborn', 100n]]))), (error: unknown) => {
      assert.ok(error instanceof ImportConflictError);
      assert.deepEqual(error.conflicts.map((conflict) => conflict.name), ['begun']);
      assert.match(error.conflicts[0]?.reason ?? '', /gapless/);
      return true;
    });
    assert.deepEqual((await store.getSequence('begun'))?.position, { lastValue: 1n, isCalled: true }, 'nothing was imported');
    assert.deepEqual(await store.importSequences(seedEntries(new Map([['unborn', 100n]]))), { created: 0, raised: 1, unchanged: 0, deleted: 0 });
    assert.equal((await reserve(store, 'unborn')).value, 101n);
    assert.equal((await store.getSequence('unborn'))?.seriesFirst, 101n, 'the series begins at its first reservation');
    assert.equal((await settle(store, 'begun', held.grant.id, 'confirm')).ok, true);
  });

  it('reports a fault while settling as StoreUnavailableError, writing nothing', async () => {
    const url = await postgres.newDatabase();
    const store = await open(url, 1000);
    await defineSequence(store, 'f', { gapless: true });
    const { grant } = await reserve(store, 'f');
    // Another session holds the sequence's row: the settlement waits past the statement timeout.
    const blocker = new pg.Client({ connectionString: url });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query("SELECT 1 FROM takeanumber_sequences WHERE name = 'f' FOR UPDATE");
    await assert.rejects(settle(store, 'f', grant.id, 'confirm'), (error: unknown) => error instanceof StoreUnavailableError);
    await blocker.query('ROLLBACK');
    await blocker.end();
    assert.deepEqual((await store.getSequence('f'))?.gapless, { confirmedThrough: undefined, reserved: 1, free: 0 }, 'nothing was written');
    assert.deepEqual(await settle(store, 'f', grant.id, 'confirm'), { ok: true, answer: { value: 1n, state: 'confirmed', reason: undefined, labels: undefined }, replayed: false });
  });
});
