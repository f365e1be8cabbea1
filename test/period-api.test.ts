import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { exportSequences } from '../src/commands/export.js';
import { ImportFileError, parseImportFile } from '../src/commands/import.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { assertError, body, testApp, type Json } from './helpers/app.js';
import { tempDir } from './helpers/temp.js';

/** The app on a SQLite store whose clock the test sets (ms since the epoch). */
async function clockedApp(iso: string) {
  const clock = { now: Date.parse(iso) };
  const path = join(tempDir(), 'periods.db');
  const store = SqliteStore.open(path, { mode: 'write', clock: () => clock.now });
  const t = await testApp(path, store);
  return { ...t, set: (to: string) => (clock.now = Date.parse(to)) };
}

async function put(app: FastifyInstance, name: string, payload: Json) {
  return app.inject({ method: 'PUT', url: `/sequences/${name}`, payload });
}

async function take(app: FastifyInstance, url: string, headers: Record<string, string> = {}) {
  const response = await app.inject({ method: 'POST', url, headers });
  assert.equal(response.statusCode, 200, response.body);
  return { raw: response.body, json: body(response), headers: response.headers };
}

describe('periods over HTTP: options', () => {
  it('PUT takes restart, time_zone and format; GET and the list show them and the period (null before any)', async () => {
    const t = await clockedApp('2026-11-30T08:00:00Z');
    const created = await put(t.app, 'invoices', { restart: 'yearly', time_zone: 'Europe/Berlin', format: 'INV-{yyyy}-{value:6}' });
    assert.equal(created.statusCode, 201, created.body);
    const shown = body(created);
    assert.deepEqual([shown.restart, shown.time_zone, shown.format, shown.period], ['yearly', 'Europe/Berlin', 'INV-{yyyy}-{value:6}', null]);
    await take(t.app, '/next/invoices');
    const after = body(await t.app.inject({ url: '/sequences/invoices' }));
    assert.equal(after.period, '2026');
    const listed = body(await t.app.inject({ url: '/sequences' })).sequences as Json[];
    assert.deepEqual(
      listed.map((s) => [s.name, s.restart, s.time_zone, s.format, s.period]),
      [['invoices', 'yearly', 'Europe/Berlin', 'INV-{yyyy}-{value:6}', '2026']],
    );
    // A plain sequence shows the defaults.
    const plain = body(await put(t.app, 'plain', {}));
    assert.deepEqual([plain.restart, plain.time_zone, plain.format, plain.period], ['never', 'UTC', null, null]);
    // null clears a format; other options keep theirs.
    const cleared = body(await put(t.app, 'invoices', { format: null }));
    assert.deepEqual([cleared.restart, cleared.time_zone, cleared.format, cleared.period], ['yearly', 'Europe/Berlin', null, '2026']);
    await t.close();
  });

  it('refuses bad options with invalid_options naming the field', async () => {
    const t = await clockedApp('2026-11-30T08:00:00Z');
    const refusals: [Json, string][] = [
      [{ restart: 'weekly' }, 'restart'],
      [{ restart: 1 }, 'restart'],
      [{ restart: null }, 'restart'],
      [{ time_zone: 'Mars/Olympus_Mons' }, 'time_zone'],
      [{ time_zone: '' }, 'time_zone'],
      [{ time_zone: 5 }, 'time_zone'],
      [{ format: '{value}-{x}' }, 'format'],
      [{ format: 'no value' }, 'format'],
      [{ format: `{value}${'x'.repeat(194)}` }, 'format'],
      [{ format: 42 }, 'format'],
      [{ restart: 'yearly', format: 'INV-{value}' }, 'format'],
      [{ restart: 'monthly', format: '{yyyy}-{value}' }, 'format'],
      [{ restart: 'daily', format: '{yyyy}{mm}-{value}' }, 'format'],
    ];
    for (const [payload, field] of refusals) assertError(await put(t.app, 'bad', payload), 400, 'invalid_options', field);
    const guard = body(await put(t.app, 'bad', { restart: 'yearly', format: 'INV-{value}' })).error as Json;
    assert.match(String(guard.message), /formatted numbers would repeat/);
    // A restart added to a sequence whose format cannot tell the periods apart: refused, naming format.
    assert.equal((await put(t.app, 'kept', { format: 'N-{value}' })).statusCode, 201);
    assertError(await put(t.app, 'kept', { restart: 'yearly' }), 400, 'invalid_options', 'format');
    assert.equal((await t.app.inject({ url: '/sequences/bad' })).statusCode, 404);
    await t.close();
  });
});

describe('periods over HTTP: answers', () => {
  it('/next adds period and formatted; a batch adds last_formatted; New Year restarts at start', async () => {
    const t = await clockedApp('2026-12-31T22:59:00Z');
    await put(t.app, 'invoices', { restart: 'yearly', time_zone: 'Europe/Berlin', format: 'INV-{yyyy}-{value:6}', start: 1 });
    assert.equal((await take(t.app, '/next/invoices')).raw, '{"sequence_id":"invoices","next_value":1,"period":"2026","formatted":"INV-2026-000001"}');
    assert.equal(
      (await take(t.app, '/next/invoices?count=3')).raw,
      '{"sequence_id":"invoices","next_value":2,"last_value":4,"count":3,"period":"2026","formatted":"INV-2026-000002","last_formatted":"INV-2026-000004"}',
    );
    // Midnight in Berlin is 23:00 UTC: the counter starts again at start.
    t.set('2026-12-31T23:00:00Z');
    assert.equal((await take(t.app, '/next/invoices')).raw, '{"sequence_id":"invoices","next_value":1,"period":"2027","formatted":"INV-2027-000001"}');
    // The clock steps back: still 2027, and the date too.
    t.set('2026-12-31T22:30:00Z');
    assert.equal((await take(t.app, '/next/invoices')).raw, '{"sequence_id":"invoices","next_value":2,"period":"2027","formatted":"INV-2027-000002"}');
    const shown = body(await t.app.inject({ url: '/sequences/invoices' }));
    assert.deepEqual([shown.period, shown.last_value], ['2027', 2n]);
    await t.close();
  });

  it('a period without a format, a format without a period; plain answers unchanged', async () => {
    const t = await clockedApp('2026-11-30T08:00:00Z');
    await put(t.app, 'daily', { restart: 'daily' });
    await put(t.app, 'tickets', { format: '#{value:3}' });
    assert.equal((await take(t.app, '/next/daily')).raw, '{"sequence_id":"daily","next_value":1,"period":"2026-11-30"}');
    assert.equal((await take(t.app, '/next/tickets')).raw, '{"sequence_id":"tickets","next_value":1,"formatted":"#001"}');
    assert.equal((await take(t.app, '/next/plain')).raw, '{"sequence_id":"plain","next_value":1}');
    assert.equal((await take(t.app, '/next/plain?count=2')).raw, '{"sequence_id":"plain","next_value":2,"last_value":3,"count":2}');
    await t.close();
  });

  it('an idempotent replay answers the recorded period and formatted number, after the boundary too', async () => {
    const t = await clockedApp('2026-12-31T23:59:59Z');
    await put(t.app, 'orders', { restart: 'yearly', format: 'O-{yy}-{value}' });
    const first = await take(t.app, '/next/orders', { 'idempotency-key': 'k1' });
    t.set('2027-01-01T00:00:01Z');
    const again = await take(t.app, '/next/orders', { 'idempotency-key': 'k1' });
    assert.equal(again.raw, first.raw);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(first.raw, '{"sequence_id":"orders","next_value":1,"period":"2026","formatted":"O-26-1"}');
    assert.equal((await take(t.app, '/next/orders')).raw, '{"sequence_id":"orders","next_value":1,"period":"2027","formatted":"O-27-1"}');
    await t.close();
  });
});

describe('periods over HTTP: gapless sequences', () => {
  it('reservations carry their labels; confirm, release and void answer them; a free value of 2026 goes out again as 2026', async () => {
    const t = await clockedApp('2026-12-31T23:50:00Z');
    await put(t.app, 'bills', { gapless: true, restart: 'yearly', format: 'B-{yyyy}-{value}', lease_seconds: 3600 });
    const a = (await take(t.app, '/next/bills')).json;
    const b = (await take(t.app, '/next/bills')).json;
    assert.deepEqual([a.next_value, a.period, a.formatted, typeof a.reservation], [1n, '2026', 'B-2026-1', 'string']);
    assert.deepEqual([b.next_value, b.formatted], [2n, 'B-2026-2']);
    const settle = async (id: unknown, action: string) => {
      const response = await t.app.inject({ method: 'POST', url: `/sequences/bills/reservations/${String(id)}/${action}` });
      assert.equal(response.statusCode, 200, response.body);
      return response.body;
    };
    assert.equal(await settle(a.reservation, 'confirm'), '{"sequence_id":"bills","value":1,"state":"confirmed","period":"2026","formatted":"B-2026-1"}');
    t.set('2027-01-01T00:10:00Z');
    // Released in 2027, value 2 of 2026 keeps its year, and goes out again first, in 2026.
    assert.equal(await settle(b.reservation, 'release'), '{"sequence_id":"bills","value":2,"state":"free","period":"2026","formatted":"B-2026-2"}');
    const again = (await take(t.app, '/next/bills')).json;
    assert.deepEqual([again.next_value, again.period, again.formatted], [2n, '2026', 'B-2026-2']);
    const fresh = (await take(t.app, '/next/bills')).json;
    assert.deepEqual([fresh.next_value, fresh.period, fresh.formatted], [1n, '2027', 'B-2027-1']);
    assert.equal(await settle(fresh.reservation, 'void'), '{"sequence_id":"bills","value":1,"state":"void","reason":null,"period":"2027","formatted":"B-2027-1"}');
    const shown = body(await t.app.inject({ url: '/sequences/bills' }));
    assert.equal(shown.period, '2027');
    // confirmed_through speaks of 2027: its value 1 is void.
    assert.equal(shown.confirmed_through, 1n);
    await t.close();
  });
});

describe('periods in the full format (version 4)', () => {
  it('exports the options, the recorded period and the labels of gapless values, and reads them back', async () => {
    const t = await clockedApp('2026-12-31T22:50:00Z');
    await put(t.app, 'bills', { gapless: true, restart: 'yearly', time_zone: 'Europe/Berlin', format: 'B-{yyyy}-{value}', lease_seconds: 3600 });
    await put(t.app, 'plain', {});
    const a = (await take(t.app, '/next/bills')).json;
    await t.app.inject({ method: 'POST', url: `/sequences/bills/reservations/${String(a.reservation)}/release` });
    const chunks: string[] = [];
    const out = new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk.toString('utf8'));
        done();
      },
    });
    await exportSequences({ kind: 'sqlite', path: t.path }, undefined, out, 'full');
    await t.close();
    const text = chunks.join('');
    assert.match(text, /"version": 4/);
    assert.match(text, /"restart": "yearly", "time_zone": "Europe\/Berlin", "format": "B-\{yyyy\}-\{value\}", "period": \{"label": "2026", "starts_at": "2025-12-31T23:00:00.000Z", "ends_at": "2026-12-31T23:00:00.000Z"\}/);
    assert.match(text, /"restart": "never", "time_zone": "UTC", "format": null, "period": null/);
    assert.match(text, /\{"value": 1, "state": "free", "period": "2026", "formatted": "B-2026-1", "updated_at": /);
    const content = parseImportFile(text, 'full.json');
    assert.ok(content.format === 'full');
    const bills = content.sequences.find((s) => s.name === 'bills');
    assert.deepEqual([bills?.options.restart, bills?.options.timeZone, bills?.options.format, bills?.period?.label], ['yearly', 'Europe/Berlin', 'B-{yyyy}-{value}', '2026']);
    assert.deepEqual(
      bills?.gapless?.values.map((v) => [v.value, v.state, v.labels]),
      [[1n, 'free', { period: '2026', formatted: 'B-2026-1', lastFormatted: 'B-2026-1' }]],
    );
    assert.equal(content.sequences.find((s) => s.name === 'plain')?.period, undefined);
  });

  it('reads version 3 files as sequences without periods, and refuses bad period fields naming the entry', () => {
    const entry = (extra: string) =>
      `{"name": "o", "last_value": 5, "is_called": true, "start": 1, "increment": 1, "min_value": 1, "max_value": 100, ` +
      `"cycle": false, "cache": 1, "gapless": false, "lease_seconds": 300, ${extra}"issued_low": 1, "issued_high": 5}`;
    const file = (version: number, extra: string) => `{"format": "takeanumber-full", "version": ${version}, "sequences": [${entry(extra)}], "deleted": []}`;
    const old = parseImportFile(file(3, ''), 'v3.json');
    assert.ok(old.format === 'full');
    assert.deepEqual([old.sequences[0]?.options.restart, old.sequences[0]?.options.timeZone, old.sequences[0]?.options.format, old.sequences[0]?.period], ['never', 'UTC', null, undefined]);
    const refusals: [string, RegExp][] = [
      ['', /restart must be a string/],
      ['"restart": "weekly", "time_zone": "UTC", "format": null, "period": null, ', /restart must be one of/],
      ['"restart": "never", "time_zone": "Mars/Base", "format": null, "period": null, ', /time_zone must be an IANA time zone name/],
      ['"restart": "yearly", "time_zone": "UTC", "format": "{value}", "period": null, ', /formatted numbers would repeat/],
      ['"restart": "yearly", "time_zone": "UTC", "format": null, "period": {"label": "2026"}, ', /period must be null or/],
      ['"restart": "yearly", "time_zone": "UTC", "format": null, "period": {"label": "2026", "starts_at": "2027-01-01T00:00:00.000Z", "ends_at": "2026-01-01T00:00:00.000Z"}, ', /period must be null or/],
    ];
    for (const [extra, message] of refusals) {
      assert.throws(() => parseImportFile(file(4, extra), 'v4.json'), (error: unknown) => error instanceof ImportFileError && message.test(error.message) && /sequences\[0\] "o"/.test(error.message), extra);
    }
  });
});
