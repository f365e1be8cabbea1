import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkFormat, formatValue, InvalidFormatError, MAX_FORMAT_LENGTH, parseFormat } from '../src/core/format.js';
import { dayAt, formatDay, isTimeZone, periodAt, periodFor, startOfDay, type Period } from '../src/core/period.js';
import { enterPeriod, hasLabels, hasPeriods, labelsOf } from '../src/core/periodic.js';
import { initialPosition, InvalidOptionsError, resolveOptions, type SequenceOptions } from '../src/core/sequence.js';

/** An instant (ms) from an ISO time: every clock in these tests is injected this way. */
const at = (iso: string): number => Date.parse(iso);
const iso = (ms: number): string => new Date(ms).toISOString();
const span = (period: Period): [string, string, string] => [period.label, iso(period.startsAt), iso(period.endsAt)];

describe('periods: boundaries in UTC', () => {
  it('a year runs from 1 January 00:00 to the next 1 January 00:00', () => {
    assert.deepEqual(span(periodAt('yearly', 'UTC', at('2026-12-31T23:59:59.999Z'))), ['2026', '2026-01-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
    assert.deepEqual(span(periodAt('yearly', 'UTC', at('2027-01-01T00:00:00.000Z'))), ['2027', '2027-01-01T00:00:00.000Z', '2028-01-01T00:00:00.000Z']);
  });

  it('a month ends at the first of the next, December into January', () => {
    assert.deepEqual(span(periodAt('monthly', 'UTC', at('2026-11-30T23:59:59.999Z'))), ['2026-11', '2026-11-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z']);
    assert.deepEqual(span(periodAt('monthly', 'UTC', at('2026-12-15T12:00:00Z'))), ['2026-12', '2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
  });

  it('a day ends at the next midnight, the last of a month and year included', () => {
    assert.deepEqual(span(periodAt('daily', 'UTC', at('2026-11-30T08:00:00Z'))), ['2026-11-30', '2026-11-30T00:00:00.000Z', '2026-12-01T00:00:00.000Z']);
    assert.deepEqual(span(periodAt('daily', 'UTC', at('2026-12-31T23:59:59.999Z'))), ['2026-12-31', '2026-12-31T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
  });

  it('29 February is a day of its own in a leap year, and February ends after it', () => {
    assert.deepEqual(span(periodAt('daily', 'UTC', at('2028-02-29T10:00:00Z'))), ['2028-02-29', '2028-02-29T00:00:00.000Z', '2028-03-01T00:00:00.000Z']);
    assert.deepEqual(span(periodAt('monthly', 'UTC', at('2028-02-29T23:59:59Z'))), ['2028-02', '2028-02-01T00:00:00.000Z', '2028-03-01T00:00:00.000Z']);
    // Not a leap year: 28 February is followed by 1 March.
    assert.equal(periodAt('daily', 'UTC', at('2027-02-28T10:00:00Z')).endsAt, at('2027-03-01T00:00:00Z'));
    const leapDay = periodAt('daily', 'UTC', at('2028-02-29T10:00:00Z'));
    assert.equal(formatValue('{yyyy}{mm}{dd}-{value}', 7n, formatDay(leapDay, 'UTC', at('2028-02-29T10:00:00Z'))), '20280229-7');
  });
});

describe('periods: Europe/Berlin, local midnight with daylight saving', () => {
  const berlin = 'Europe/Berlin';

  it('the year begins at local midnight: 23:00 UTC on 31 December', () => {
    assert.equal(periodAt('yearly', berlin, at('2026-12-31T22:59:59Z')).label, '2026');
    assert.deepEqual(span(periodAt('yearly', berlin, at('2026-12-31T23:00:00Z'))), ['2027', '2026-12-31T23:00:00.000Z', '2027-12-31T23:00:00.000Z']);
  });

  it('the last Sunday of March (clocks go forward at 02:00) is a day of 23 hours', () => {
    const day = periodAt('daily', berlin, at('2026-03-29T12:00:00Z'));
    assert.deepEqual(span(day), ['2026-03-29', '2026-03-28T23:00:00.000Z', '2026-03-29T22:00:00.000Z']);
    assert.equal(day.endsAt - day.startsAt, 23 * 3_600_000);
    assert.equal(periodAt('daily', berlin, at('2026-03-29T21:59:59Z')).label, '2026-03-29');
    assert.equal(periodAt('daily', berlin, at('2026-03-29T22:00:00Z')).label, '2026-03-30');
    // The month that contains the change ends at midnight summer time.
    assert.deepEqual(span(periodAt('monthly', berlin, at('2026-03-10T00:00:00Z'))), ['2026-03', '2026-02-28T23:00:00.000Z', '2026-03-31T22:00:00.000Z']);
  });

  it('the last Sunday of October (clocks go back at 03:00) is a day of 25 hours', () => {
    const day = periodAt('daily', berlin, at('2026-10-25T12:00:00Z'));
    assert.deepEqual(span(day), ['2026-10-25', '2026-10-24T22:00:00.000Z', '2026-10-25T23:00:00.000Z']);
    assert.equal(day.endsAt - day.startsAt, 25 * 3_600_000);
    // The hour that happens twice (02:00 to 03:00 local) belongs to the same day both times.
    assert.equal(periodAt('daily', berlin, at('2026-10-25T00:30:00Z')).label, '2026-10-25');
    assert.equal(periodAt('daily', berlin, at('2026-10-25T01:30:00Z')).label, '2026-10-25');
  });

  it('a zone that skips midnight begins the day at its first instant', () => {
    // Chile moves from 00:00 to 01:00 on the first Sunday of September 2026: that day starts at 01:00 local.
    assert.equal(iso(startOfDay({ year: 2026, month: 9, day: 6 }, 'America/Santiago')), '2026-09-06T04:00:00.000Z');
    assert.deepEqual(dayAt(at('2026-09-06T03:59:59Z'), 'America/Santiago'), { year: 2026, month: 9, day: 5 });
  });

  it('knows IANA zone names and refuses others', () => {
    assert.equal(isTimeZone('Europe/Berlin'), true);
    assert.equal(isTimeZone('UTC'), true);
    assert.equal(isTimeZone('Mars/Olympus_Mons'), false);
    assert.equal(isTimeZone(''), false);
    assert.equal(isTimeZone('x'.repeat(65)), false);
  });
});

describe('periodFor: the period never goes back', () => {
  const y2026 = periodAt('yearly', 'UTC', at('2026-06-01T00:00:00Z'));
  const y2027 = periodAt('yearly', 'UTC', at('2027-01-01T00:00:05Z'));

  it('a sequence without a recorded period adopts the current one without restarting', () => {
    const decision = periodFor('yearly', 'UTC', undefined, at('2026-11-30T08:00:00Z'));
    assert.equal(decision.period?.label, '2026');
    assert.equal(decision.restarted, false);
    assert.deepEqual(periodFor('never', 'UTC', undefined, at('2026-11-30T08:00:00Z')), { period: undefined, restarted: false });
  });

  it('the recorded period stays until its end, and the next one restarts the counter', () => {
    assert.deepEqual(periodFor('yearly', 'UTC', y2026, at('2026-12-31T23:59:59.999Z')), { period: y2026, restarted: false });
    const next = periodFor('yearly', 'UTC', y2026, at('2027-01-01T00:00:00Z'));
    assert.equal(next.period?.label, '2027');
    assert.equal(next.restarted, true);
  });

  it('a clock stepped back across New Year allocates in the recorded period, and its date says so', () => {
    const back = at('2026-12-31T23:59:58Z');
    assert.deepEqual(periodFor('yearly', 'UTC', y2027, back), { period: y2027, restarted: false });
    // Far back too (a badly skewed instance): still the recorded period.
    assert.deepEqual(periodFor('yearly', 'UTC', y2027, at('2020-01-01T00:00:00Z')), { period: y2027, restarted: false });
    assert.deepEqual(formatDay(y2027, 'UTC', back), { year: 2027, month: 1, day: 1 });
    assert.deepEqual(labelsOf(options({ restart: 'yearly', format: 'INV-{yyyy}-{value:4}' }), y2027, back, 1n, 1n), {
      period: '2027',
      formatted: 'INV-2027-0001',
      lastFormatted: 'INV-2027-0001',
    });
  });

  it('a change of time zone applies from the next period', () => {
    // To Tokyo (UTC+9) during 2026: its 2027 began at 15:00 UTC, but the recorded 2026 runs to its end.
    assert.deepEqual(periodFor('yearly', 'Asia/Tokyo', y2026, at('2026-12-31T20:00:00Z')), { period: y2026, restarted: false });
    const tokyo = periodFor('yearly', 'Asia/Tokyo', y2026, at('2027-01-01T00:00:00Z'));
    assert.deepEqual(tokyo.period && span(tokyo.period), ['2027', '2026-12-31T15:00:00.000Z', '2027-12-31T15:00:00.000Z']);
    assert.equal(tokyo.restarted, true);
    // To New York (UTC-5): at the recorded end it is still 2026 there, so 2026 goes on, now ending at New York's midnight.
    const newYork = periodFor('yearly', 'America/New_York', y2026, at('2027-01-01T00:00:00Z'));
    assert.deepEqual(newYork.period && span(newYork.period), ['2026', '2026-01-01T00:00:00.000Z', '2027-01-01T05:00:00.000Z']);
    assert.equal(newYork.restarted, false);
    assert.equal(periodFor('yearly', 'America/New_York', newYork.period, at('2027-01-01T05:00:00Z')).restarted, true);
  });

  it('a change of restart applies from the next period', () => {
    // Yearly to monthly in June: the year 2026 stays the period until it ends, then months begin.
    assert.deepEqual(periodFor('monthly', 'UTC', y2026, at('2026-06-15T00:00:00Z')), { period: y2026, restarted: false });
    const january = periodFor('monthly', 'UTC', y2026, at('2027-01-01T00:00:00Z'));
    assert.equal(january.period?.label, '2027-01');
    assert.equal(january.restarted, true);
    // Yearly to never: the year runs to its end, then no period and no restart (the counter goes on).
    assert.deepEqual(periodFor('never', 'UTC', y2026, at('2026-12-31T00:00:00Z')), { period: y2026, restarted: false });
    assert.deepEqual(periodFor('never', 'UTC', y2026, at('2027-01-01T00:00:00Z')), { period: undefined, restarted: false });
  });
});

function options(changes: Parameters<typeof resolveOptions>[0]): SequenceOptions {
  return resolveOptions(changes);
}

describe('enterPeriod and labels', () => {
  const yearly = options({ restart: 'yearly', start: 10n, format: '{yyyy}/{value}' });
  const y2026 = periodAt('yearly', 'UTC', at('2026-06-01T00:00:00Z'));
  const state = { position: { lastValue: 41n, isCalled: true }, issued: { low: 10n, high: 41n }, period: y2026 };

  it('in the same period: the same position and marks, nothing to write', () => {
    const entered = enterPeriod(yearly, state, at('2026-12-31T23:59:59Z'));
    assert.deepEqual(entered, { ...state, restarted: false, changed: false });
  });

  it('in a new period: back to start, the marks of the old period cleared, all written', () => {
    const entered = enterPeriod(yearly, state, at('2027-01-01T00:00:00Z'));
    assert.equal(entered.restarted, true);
    assert.equal(entered.changed, true);
    assert.deepEqual(entered.position, initialPosition(yearly));
    assert.equal(entered.issued, undefined);
    assert.equal(entered.period?.label, '2027');
  });

  it('a first allocation records its period without moving the counter', () => {
    const entered = enterPeriod(yearly, { ...state, period: undefined }, at('2026-11-30T08:00:00Z'));
    assert.deepEqual([entered.restarted, entered.changed, entered.position, entered.period?.label], [false, true, state.position, '2026']);
  });

  it('labels: the period, the first and last value formatted; none for plain sequences', () => {
    assert.deepEqual(labelsOf(yearly, y2026, at('2026-11-30T08:00:00Z'), 10n, 12n), { period: '2026', formatted: '2026/10', lastFormatted: '2026/12' });
    assert.deepEqual(labelsOf(options({ restart: 'daily' }), periodAt('daily', 'UTC', at('2026-11-30T08:00:00Z')), at('2026-11-30T08:00:00Z'), 1n, 1n), {
      period: '2026-11-30',
      formatted: undefined,
      lastFormatted: undefined,
    });
    const plain = options({});
    assert.equal(hasPeriods(plain, undefined), false);
    assert.equal(hasLabels(plain, undefined), false);
    assert.equal(hasLabels(options({ format: '#{value}' }), undefined), true);
    // A sequence whose restart went back to never still has its recorded period until it ends.
    assert.equal(hasPeriods(plain, y2026), true);
  });
});

describe('formats', () => {
  const day = { year: 2026, month: 3, day: 5 };

  it('pads {value:N} to at least N digits, the sign before the zeros', () => {
    assert.equal(formatValue('INV-{yyyy}-{value:6}', 42n, day), 'INV-2026-000042');
    assert.equal(formatValue('{value:6}', -42n, day), '-000042');
    assert.equal(formatValue('{value}', -42n, day), '-42');
    assert.equal(formatValue('{value:2}', 12345n, day), '12345');
    assert.equal(formatValue('{value:20}', -9223372036854775808n, day), '-09223372036854775808');
    assert.equal(formatValue('{value:1}', 0n, day), '0');
  });

  it('writes the date parts with leading zeros, {yy} the last two digits', () => {
    assert.equal(formatValue('{yyyy}{mm}{dd}|{yy}|{value}', 7n, day), '20260305|26|7');
    assert.equal(formatValue('{yy}-{value}', 7n, { year: 2105, month: 1, day: 1 }), '05-7');
  });

  it('{{ and }} are literal braces', () => {
    assert.equal(formatValue('{{{value}}}', 7n, day), '{7}');
    assert.equal(formatValue('{{value}}-{value}', 7n, day), '{value}-7');
  });

  it('refuses every malformed template with a message that says why', () => {
    const refusals: [string, string][] = [
      ['A}{value}', "format has a lone '}' at position 2; write '}}' for a literal brace."],
      ['{value}-{yyyy', "format has a '{' at position 9 that is never closed; write '{{' for a literal brace."],
      ['{value}-{foo}', 'format has an unknown placeholder {foo}: use {value}, {value:N}, {yyyy}, {yy}, {mm}, {dd}, or {{ and }} for literal braces.'],
      ['{}{value}', 'format has an unknown placeholder {}: use {value}, {value:N}, {yyyy}, {yy}, {mm}, {dd}, or {{ and }} for literal braces.'],
      ['{value:0}', '{value:N} takes N from 1 to 20, got 0.'],
      ['{value:21}', '{value:N} takes N from 1 to 20, got 21.'],
      ['{value:100}', 'format has an unknown placeholder {value:100}: use {value}, {value:N}, {yyyy}, {yy}, {mm}, {dd}, or {{ and }} for literal braces.'],
      ['{VALUE}', 'format has an unknown placeholder {VALUE}: use {value}, {value:N}, {yyyy}, {yy}, {mm}, {dd}, or {{ and }} for literal braces.'],
      ['INV-{yyyy}', 'format must contain {value} or {value:N}: without it every number would read the same.'],
      ['{{value}}', 'format must contain {value} or {value:N}: without it every number would read the same.'],
    ];
    for (const [template, message] of refusals) {
      assert.throws(() => checkFormat(template, 'never'), (error: unknown) => error instanceof InvalidFormatError && error.message === message, template);
    }
  });

  it('takes at most 200 characters', () => {
    const longest = `{value}${'x'.repeat(MAX_FORMAT_LENGTH - 7)}`;
    assert.equal(longest.length, 200);
    checkFormat(longest, 'never');
    assert.throws(() => parseFormat(`${longest}x`), { name: 'InvalidFormatError', message: 'format is at most 200 characters, got 201.' });
  });

  it('the uniqueness guard: a format must tell the periods apart', () => {
    const repeats = (restart: string, needs: string): string =>
      `With restart "${restart}" the format must contain ${needs}: the counter starts again each period, so formatted numbers would repeat.`;
    const cases: ['yearly' | 'monthly' | 'daily', string, string | undefined][] = [
      ['yearly', 'INV-{value}', repeats('yearly', '{yyyy} or {yy}')],
      ['yearly', 'INV-{mm}-{value}', repeats('yearly', '{yyyy} or {yy}')],
      ['yearly', 'INV-{yyyy}-{value}', undefined],
      ['yearly', 'INV-{yy}-{value}', undefined],
      ['monthly', '{yyyy}-{value}', repeats('monthly', '{yyyy} or {yy}, and {mm}')],
      ['monthly', '{mm}-{value}', repeats('monthly', '{yyyy} or {yy}, and {mm}')],
      ['monthly', '{yy}{mm}-{value}', undefined],
      ['daily', '{yyyy}{mm}-{value}', repeats('daily', '{yyyy} or {yy}, {mm} and {dd}')],
      ['daily', '{mm}{dd}-{value}', repeats('daily', '{yyyy} or {yy}, {mm} and {dd}')],
      ['daily', 'ORD-{yyyy}{mm}{dd}-{value:3}', undefined],
    ];
    for (const [restart, template, message] of cases) {
      if (message === undefined) checkFormat(template, restart);
      else assert.throws(() => checkFormat(template, restart), { message }, `${restart} ${template}`);
    }
    // Without periods a format needs no date at all.
    checkFormat('#{value}', 'never');
  });
});

describe('options: restart, time_zone, format', () => {
  const refused = (changes: Parameters<typeof resolveOptions>[0], field: string, message: string, base?: SequenceOptions) =>
    assert.throws(() => resolveOptions(changes, base), (error: unknown) => error instanceof InvalidOptionsError && error.field === field && error.message === message);

  it('defaults: never, UTC, no format', () => {
    const plain = resolveOptions({});
    assert.deepEqual([plain.restart, plain.timeZone, plain.format], ['never', 'UTC', null]);
  });

  it('names the field at fault', () => {
    // @ts-expect-error: an unknown restart, as a client may send it
    refused({ restart: 'weekly' }, 'restart', 'restart must be one of "never", "yearly", "monthly", "daily".');
    refused({ timeZone: 'Mars/Olympus_Mons' }, 'time_zone', 'time_zone must be an IANA time zone name such as "Europe/Berlin"; "Mars/Olympus_Mons" is not one.');
    refused({ format: '{value}-{x}' }, 'format', 'format has an unknown placeholder {x}: use {value}, {value:N}, {yyyy}, {yy}, {mm}, {dd}, or {{ and }} for literal braces.');
  });

  it('checks a kept format against a new restart, and null clears it', () => {
    const base = resolveOptions({ format: 'N-{value}' });
    refused({ restart: 'yearly' }, 'format', 'With restart "yearly" the format must contain {yyyy} or {yy}: the counter starts again each period, so formatted numbers would repeat.', base);
    assert.equal(resolveOptions({ restart: 'yearly', format: null }, base).format, null);
    assert.equal(resolveOptions({ restart: 'yearly', format: 'N-{yy}-{value}' }, base).format, 'N-{yy}-{value}');
    assert.equal(resolveOptions({ timeZone: 'Europe/Berlin' }, base).format, 'N-{value}');
  });
});
