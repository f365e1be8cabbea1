/**
 * Moving gapless sequences between stores (`export --format full`, then
 * `import`): the series stays unbroken, free values come back first, void
 * values keep their reasons, open reservations can still be settled on the
 * new store; and the checks that refuse a full-format file whose gapless
 * entries could hand a value out twice.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app.js';
import { ImportFileError, parseImportFile } from '../src/commands/import.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import type { SequenceStore } from '../src/core/store.js';
import { testApp } from './helpers/app.js';
import { runCli } from './helpers/cli.js';
import { startPostgres } from './helpers/postgres.js';
import { tempDir } from './helpers/temp.js';
import { assertError, gapless, pastLease, reserve, settle, summary, values } from './helpers/gapless.js';

const postgres = await startPostgres();

async function served(store: SequenceStore): Promise<FastifyInstance> {
  const app = await buildApp({ store });
  await app.ready();
  return app;
}

describe('moving gapless sequences from SQLite to PostgreSQL', () => {
  it('keeps the series unbroken: values, reasons, leases and open reservations carry over', async () => {
    const dir = tempDir();
    const sqlitePath = join(dir, 'from.db');
    const source = await testApp(sqlitePath);
    const { app } = source;
    await gapless(app, 'invoices', { lease_seconds: 3600 });
    const r = [];
    for (let i = 0; i < 6; i += 1) r.push(await reserve(app, 'invoices'));
    const [r1, r2, r3, r4, r5, r6] = r.map((x) => x.id) as [string, string, string, string, string, string];
    await settle(app, 'invoices', r1, 'confirm');
    await settle(app, 'invoices', r2, 'void', { reason: 'printer jam: «duplicate»' });
    await settle(app, 'invoices', r3, 'release');
    await settle(app, 'invoices', r5, 'confirm');
    // An open reservation whose lease ended and whose value went to another (also open, also lapsed by the move).
    await gapless(app, 'receipts', { lease_seconds: 1 });
    const lapsed = await reserve(app, 'receipts');
    await pastLease(lapsed.expiresAt);
    const retaken = await reserve(app, 'receipts');
    assert.equal(retaken.value, lapsed.value);
    await app.inject({ method: 'POST', url: '/next/orders?count=5' });
    const listedBefore = (await values(app, 'invoices')).body;
    const summaryBefore = await summary(app, 'invoices');
    assert.deepEqual(summaryBefore, { confirmed_through: 2n, reserved: 2n, free: 1n });
    await source.close();

    const file = join(dir, 'full.json');
    const exported = await runCli(['export', file, '--format', 'full', '--store', `sqlite:${sqlitePath}`]);
    assert.equal(exported.code, 0, exported.stderr);
    const text = readFileSync(file, 'utf8');
    assert.match(text, /"version": 4/);
    assert.match(text, /"name": "orders", .*"gapless": false, "lease_seconds": 300, "restart": "never", "time_zone": "UTC", "format": null, "period": null, "issued_low": 1, "issued_high": 5\}/);
    assert.match(text, /"name": "invoices", .*"gapless": true, "lease_seconds": 3600, .*"series_first": 1, "values": \[/);
    for (const id of [r1, r2, r3, r5]) assert.ok(!text.includes(id), 'settled reservation ids are not carried');
    for (const id of [r4, r6, lapsed.id, retaken.id]) assert.ok(text.includes(id), 'open reservations are');

    const url = await postgres.newDatabase();
    const imported = await runCli(['import', file, '--store', url]);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /3 created, 0 raised, 0 already/);
    const again = await runCli(['import', file, '--store', url]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /0 created, 0 raised, 3 already/, 'the same file again changes nothing');
    const reexport = join(dir, 'again.json');
    assert.equal((await runCli(['export', reexport, '--format', 'full', '--store', url])).code, 0);
    assert.equal(readFileSync(reexport, 'utf8'), text, 'PostgreSQL exports what it imported, byte for byte');

    const store = await PostgresStore.open({ url, poolSize: 2, statementTimeoutMs: 5000 });
    const moved = await served(store);
    try {
      assert.equal((await values(moved, 'invoices')).body, listedBefore, 'the same values, states, reasons, leases and times');
      assert.deepEqual(await summary(moved, 'invoices'), summaryBefore);
      // Holders settle on the new store; settled ids were not carried.
      assert.equal((await settle(moved, 'invoices', r4, 'confirm')).body, '{"sequence_id":"invoices","value":4,"state":"confirmed"}');
      assertError(await settle(moved, 'invoices', r1, 'confirm'), 404, 'reservation_not_found');
      // The released value first, then new values after the last one the old store handed out.
      const three = await reserve(moved, 'invoices');
      const seven = await reserve(moved, 'invoices');
      assert.deepEqual([three.value, seven.value], [3n, 7n]);
      for (const id of [three.id, r6, seven.id]) assert.equal((await settle(moved, 'invoices', id, 'confirm')).statusCode, 200);
      assert.deepEqual(await summary(moved, 'invoices'), { confirmed_through: 7n, reserved: 0n, free: 0n });
      assert.equal((await values(moved, 'invoices')).body.includes('"value":2,"state":"void"'), true);

      for (const id of [lapsed.id, retaken.id]) assertError(await settle(moved, 'receipts', id, 'confirm'), 409, 'reservation_expired');
      assert.equal((await reserve(moved, 'receipts')).value, lapsed.value, 'the lapsed value is free on the new store');
      assert.equal((await moved.inject({ method: 'POST', url: '/next/orders' })).body, '{"sequence_id":"orders","next_value":6}');
    } finally {
      await moved.close();
      await store.close();
    }
  });
});

const HOLDER = 'H'.repeat(22);
const OTHER = 'O'.repeat(22);
const AT = '2026-01-01T08:00:00.000Z';

/** A version 3 file with one gapless sequence that handed out 1..5, with these extra fields. */
function gaplessFile(extra: string, options = '"gapless": true, "lease_seconds": 60'): string {
  return (
    '{"format": "takeanumber-full", "version": 3, "sequences": [{"name": "inv", "last_value": 5, "is_called": true, "start": 1, ' +
    `"increment": 1, "min_value": 1, "max_value": 100, "cycle": false, "cache": 1, ${options}, "issued_low": 1, "issued_high": 5${extra}}], "deleted": []}`
  );
}

const reserved = (value: number, id = HOLDER): string => `{"value": ${value}, "state": "reserved", "reservation": "${id}", "expires_at": "${AT}", "updated_at": "${AT}"}`;
const holder = (value: number, id = HOLDER, state = 'reserved'): string => `{"id": "${id}", "value": ${value}, "expires_at": "${AT}", "state": "${state}", "reason": null}`;
const series = (values: string[], reservations: string[], first = '1'): string =>
  `, "series_first": ${first}, "values": [${values.join(', ')}], "reservations": [${reservations.join(', ')}]`;

describe('reading gapless entries of the full format', () => {
  it('reads a consistent series', () => {
    const content = parseImportFile(gaplessFile(series([reserved(4), `{"value": 2, "state": "void", "reason": "x", "updated_at": "${AT}"}`], [holder(4), holder(1, OTHER)])), 'f.json');
    assert.equal(content.format, 'full');
    const [entry] = content.sequences;
    assert.ok(entry?.gapless !== undefined);
    assert.equal(entry.options.gapless, true);
    assert.equal(entry.options.leaseSeconds, 60);
    assert.deepEqual(entry.gapless.values.map((v) => [v.value, v.state, v.reservation, v.reason]), [[4n, 'reserved', HOLDER, undefined], [2n, 'void', undefined, 'x']]);
    assert.equal(entry.gapless.reservations.length, 2, 'an open reservation whose value went to another is kept (it answers expired)');
  });

  it('refuses entries that could hand a value out twice or leave a reservation without its value, naming them', () => {
    const cases: [string, RegExp][] = [
      [gaplessFile(series([`{"value": 6, "state": "free", "updated_at": "${AT}"}`], [])), /value 6 lies outside the values its series handed out/],
      [gaplessFile(series([`{"value": 1, "state": "free", "updated_at": "${AT}"}`], [], '2')), /value 1 lies outside/],
      [gaplessFile(series([`{"value": 2, "state": "free", "updated_at": "${AT}"}`], [], 'null')), /value 2 lies outside/],
      [gaplessFile(series([`{"value": 2, "state": "free", "updated_at": "${AT}"}`, `{"value": 2, "state": "void", "updated_at": "${AT}"}`], [])), /value 2 appears twice/],
      [gaplessFile(series([reserved(3)], [])), /value 3 is reserved by H+, which "reservations" does not hold open/],
      [gaplessFile(series([reserved(3)], [holder(4)])), /does not hold open for it/],
      [gaplessFile(series([], [holder(3, HOLDER, 'confirmed')])), /state must be reserved \(only open reservations are carried\)/],
      [gaplessFile(series([], [holder(3), holder(4)])), /reservation H+ appears twice/],
      [gaplessFile(series([], [holder(3).replace(AT, '2999-01-01T00:00:00.000Z')])), /reservation H+ is open until 2999-01-01T00:00:00.000Z, but value 3 is not reserved by it/],
      [gaplessFile(series([], [holder(3, 'short')])), /must be an object with a reservation id/],
      [gaplessFile(series([`{"value": 2, "state": "confirmed", "updated_at": "${AT}"}`], [])), /state must be reserved, free or void/],
      [gaplessFile(series([`{"value": 2, "state": "free", "updated_at": "yesterday"}`], [])), /updated_at must be an ISO 8601 time/],
      [gaplessFile(series([`{"value": 2, "state": "void", "reason": "${'x'.repeat(501)}", "updated_at": "${AT}"}`], [])), /reason must be at most 500 characters/],
      [gaplessFile(series([], [], '9')), /series_first 9 lies outside the values it handed out/],
      [gaplessFile(''), /needs "values" and "reservations" arrays|series_first must be null/],
      [gaplessFile(series([], []), '"gapless": false, "lease_seconds": 60'), /belong to gapless sequences only/],
      [gaplessFile('', '"gapless": true, "lease_seconds": 0'), /lease_seconds must be a whole number from 1 to 86400/],
      [gaplessFile('', '"lease_seconds": 60'), /gapless must be true or false/],
      [gaplessFile(series([], []), '"gapless": true, "lease_seconds": 60, "cache": 5').replace('"cache": 1, ', ''), /cache must be 1/],
    ];
    for (const [text, expected] of cases) {
      assert.throws(() => parseImportFile(text, 'full.json'), (error: unknown) => {
        assert.ok(error instanceof ImportFileError, text);
        assert.match(error.message, /sequences\[0\] "inv": /, text);
        assert.match(error.message, expected, text);
        return true;
      });
    }
  });
});
