/**
 * Fuzzing of the HTTP surface with fast-check, through `app.inject()` (and,
 * for what inject cannot send, raw bytes on a socket): random methods, paths,
 * query strings, headers and bodies. For every answer:
 *
 * - the status is below 500 (a 5xx is a bug: nothing a client sends may cause one);
 * - a 4xx is `{"error": {"code", "message"[, "field"]}}` with a catalogued code
 *   whose status is the one answered, sent as application/json;
 * - a 4xx changed nothing: every sequence (options, position, timestamps) and
 *   every recorded idempotency key is as before the request.
 *
 * Runs (x FUZZ_RUNS): any request 700, /next 1000, PUT and reset 1000,
 * listing 400, concurrent batches 120, raw bytes on a socket 250; a few
 * seconds in all. FUZZ_SEED=<n> replays a run (fast-check prints the seed of a
 * failure), FUZZ_RUNS=<factor> scales the runs, FUZZ_STATS=1 prints what the
 * answers were, per property.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { ERROR_CATALOGUE, ERROR_CODES, type ErrorCode } from '../src/errors.js';
import { allSequences } from '../src/core/paging.js';
import { testApp, type TestApp } from './helpers/app.js';

const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const FACTOR = process.env.FUZZ_RUNS === undefined ? 1 : Number(process.env.FUZZ_RUNS);
/** FUZZ_STATS=1 prints how often each status and error code was answered, to see what the generators reach. */
const STATS = process.env.FUZZ_STATS === '1' ? new Map<string, number>() : undefined;
function tally(status: number, body: string): void {
  if (STATS === undefined) return;
  const code = /"code":"([a-z_]+)"/.exec(body)?.[1] ?? '';
  const key = `${status} ${code}`.trim();
  STATS.set(key, (STATS.get(key) ?? 0) + 1);
}
function printStats(title: string): void {
  if (STATS === undefined) return;
  console.log(`${title}:\n${[...STATS].sort().map(([k, n]) => `  ${k}: ${n}`).join('\n')}`);
  STATS.clear();
}

function params(numRuns: number): fc.Parameters<unknown> {
  return { numRuns: Math.max(1, Math.round(numRuns * FACTOR)), includeErrorInReport: true, ...(SEED === undefined ? {} : { seed: SEED }) };
}

// ---------------------------------------------------------------------------
// The app under test, its seeded sequences, and snapshots of its store.

/** Sequences every property starts from (and that are put back if a fuzzed DELETE removed them). */
const SEEDS: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {
  orders: {},
  cyc: { min_value: 1, max_value: 10, cycle: true },
  desc: { increment: -1, min_value: -100, max_value: -1, start: -1 },
  cached: { cache: 100 },
  exh: { max_value: 3 },
  'near-max': { start: '9223372036854775806' },
  extreme: {
    increment: '-9223372036854775808',
    min_value: '-9223372036854775808',
    max_value: '9223372036854775807',
    start: '9223372036854775807',
    cycle: true,
  },
  'tenant/a': { increment: 1000, cache: 7 },
};
const SEED_NAMES = Object.keys(SEEDS);
/** A key recorded (on `orders`, no count) by the seeding: reusing it with a count on `orders` is 422. */
const USED_KEY = 'used-key';

async function seed(app: FastifyInstance, name: string): Promise<void> {
  const url = encodeURIComponent(name);
  const put = await app.inject({ method: 'PUT', url: `/sequences/${url}`, payload: SEEDS[name] ?? {} });
  assert.ok(put.statusCode === 201 || put.statusCode === 200, `seeding ${name}: ${put.statusCode} ${put.body}`);
  const after: InjectOptions[] = [];
  if (name === 'exh') after.push({ method: 'POST', url: '/next/exh?count=3' });
  if (name === 'orders') after.push({ method: 'POST', url: '/next/orders', headers: { 'idempotency-key': USED_KEY } });
  if (name === 'cached' || name === 'extreme' || name === 'desc') after.push({ method: 'POST', url: `/next/${url}` });
  for (const request of after) {
    const answer = await app.inject(request);
    assert.equal(answer.statusCode, 200, `seeding ${name}: ${answer.body}`);
  }
}

interface Fixture {
  readonly t: TestApp;
  readonly keys: Database.Database;
  close(): Promise<void>;
}

async function fixture(): Promise<Fixture> {
  const t = await testApp();
  for (const name of SEED_NAMES) await seed(t.app, name);
  // A second, read-only connection to the file shows the committed idempotency keys.
  const keys = new Database(t.path, { readonly: true, fileMustExist: true });
  return {
    t,
    keys,
    async close() {
      keys.close();
      await t.close();
    },
  };
}

interface Snapshot {
  readonly sequences: unknown[];
  readonly keys: unknown[];
}

async function snapshot(f: Fixture): Promise<Snapshot> {
  const sequences: unknown[] = [];
  // Live sequences and tombstones alike: a rejected request changes neither.
  for (const deleted of [false, true]) {
    for await (const record of allSequences(f.t.store, { deleted })) sequences.push(record);
  }
  const keys = f.keys.prepare('SELECT * FROM idempotency_keys ORDER BY key').safeIntegers(true).all();
  return { sequences, keys };
}

/**
 * Puts back any seeded sequence a fuzzed DELETE removed, so the properties keep hitting them:
 * forgotten first, as a deleted name keeps its values (a re-created `exh` would have none left).
 */
async function ensureSeeds(f: Fixture): Promise<void> {
  for (const name of SEED_NAMES) {
    if ((await f.t.store.getSequence(name)) !== undefined) continue;
    await f.t.app.inject({ method: 'DELETE', url: `/sequences/${encodeURIComponent(name)}?forget=true` });
    await seed(f.t.app, name);
  }
}

// ---------------------------------------------------------------------------
// The properties.

interface FuzzRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string | string[]>;
  readonly payload?: string | Buffer | undefined;
}

function label(request: FuzzRequest, status: number, body: string): string {
  const payload = request.payload === undefined ? '' : ` payload=${JSON.stringify(String(request.payload).slice(0, 200))}`;
  const headers = JSON.stringify(request.headers).slice(0, 300);
  return `${request.method} ${request.url.slice(0, 300)} headers=${headers}${payload} -> ${status} ${body.slice(0, 500)}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A 4xx must be the catalogue's JSON error, with the catalogue's status for its code. */
function assertErrorShape(status: number, contentType: string | undefined, body: string, isHead: boolean, where: string): void {
  assert.match(contentType ?? '', /^application\/json(;|$)/, `not a JSON error: ${where}`);
  // An answer to HEAD has the headers only.
  if (isHead && body === '') return;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    assert.fail(`error body is not JSON: ${where}`);
  }
  assert.ok(isRecord(parsed), `error body is not an object: ${where}`);
  assert.deepEqual(Object.keys(parsed), ['error'], `error body has other members: ${where}`);
  const error = parsed.error;
  assert.ok(isRecord(error), `"error" is not an object: ${where}`);
  const members = Object.keys(error);
  assert.ok(
    members.every((m) => m === 'code' || m === 'message' || m === 'field'),
    `"error" has unknown members: ${where}`,
  );
  assert.ok(typeof error.code === 'string' && (ERROR_CODES as string[]).includes(error.code), `unknown error code: ${where}`);
  assert.equal(typeof error.message, 'string', `message is not a string: ${where}`);
  assert.ok(error.field === undefined || typeof error.field === 'string', `field is not a string: ${where}`);
  assert.equal(status, ERROR_CATALOGUE[error.code as ErrorCode].status, `status does not match the code: ${where}`);
}

function contentTypeOf(response: LightMyRequestResponse): string | undefined {
  const value = response.headers['content-type'];
  return Array.isArray(value) ? value.join(', ') : value?.toString();
}

function injectOptions(request: FuzzRequest): InjectOptions {
  return {
    method: request.method,
    url: request.url,
    headers: request.headers,
    ...(request.payload === undefined ? {} : { payload: request.payload }),
    // Odd methods too (Node's parser would refuse some before the app; the raw property sends those).
    validate: false,
  };
}

/** Sends one request and checks the three properties; returns the answer for further checks. */
async function checkOne(f: Fixture, request: FuzzRequest): Promise<LightMyRequestResponse> {
  const before = await snapshot(f);
  const response = await f.t.app.inject(injectOptions(request));
  const where = label(request, response.statusCode, response.body);
  tally(response.statusCode, response.body);
  assert.ok(response.statusCode < 500, `5xx: ${where}`);
  if (response.statusCode >= 400) {
    assertErrorShape(response.statusCode, contentTypeOf(response), response.body, request.method.toUpperCase() === 'HEAD', where);
    assert.deepEqual(await snapshot(f), before, `a rejected request changed the store: ${where}`);
  }
  return response;
}

// ---------------------------------------------------------------------------
// Generators.

const LONG_SEGMENTS = [
  'n'.repeat(255),
  'n'.repeat(256),
  'n'.repeat(765),
  'n'.repeat(3060), // the router's parameter limit
  'n'.repeat(3061),
  'n'.repeat(20_000),
  encodeURIComponent(`${'é'.repeat(127)}a`), // 255 bytes
  encodeURIComponent('é'.repeat(128)), // 256 bytes
  encodeURIComponent('🎟'.repeat(64)), // 256 bytes
  '%41'.repeat(255),
  '%41'.repeat(256),
  '%41'.repeat(1021),
  encodeURIComponent('é'.repeat(1000)),
];

const ODD_FRAGMENTS = [
  '%00', '%01', '%1f', '%7F', '%C2%85', '%C2%9F', '%0A', '%0D', '%09', '%20',
  '%', '%Z', '%ZZ', '%4', '%E0%A4', '%E0%A4%A', '%ED%A0%80', '%ED%BF%BF', '%C0%AF', '%C0%80', '%FF', '%FE%FF',
  '%F4%90%80%80', '%F0%9F%8E', '%EF%BF%BF', '%EF%BB%BF', '%E2%80%AE', '%2F', '%2f', '%2e', '%2E%2E', '.', '..',
  '%25', '%2525', '%u0041', '%%', '%%41', '+', ' ', ';', '@', ':', '*', '~', '?', '#', '&', '=', '\\', '\u0000',
  '\u0085', '\ud800', '\udfff', '\u202e', '\ufeff', '\uffff', 'é', '🎟️',
];

/** A piece of a path segment: seeded names, valid encoded names, raw text, odd encodings, long names. */
const fragment: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...SEED_NAMES.map(encodeURIComponent)) },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }).map(encodeURIComponent) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }) },
  { weight: 3, arbitrary: fc.constantFrom(...ODD_FRAGMENTS) },
  { weight: 1, arbitrary: fc.constantFrom(...LONG_SEGMENTS) },
);

/** A sequence name as it appears in a URL (mostly valid, often not). */
const segment: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fragment },
  { weight: 2, arbitrary: fc.array(fragment, { minLength: 0, maxLength: 3 }).map((parts) => parts.join('')) },
);

const FIXED_PATHS = [
  '/', '/next', '/next/', '/sequences', '/sequences/', '/healthz', '/readyz', '/openapi.json', '/docs',
  '/docs/', '/docs/json', '/docs/yaml', '/docs/static/index.html', '/docs/static/swagger-ui.css', '/docs/static/nope',
  '/docs/static/%2e%2e/%2e%2e/package.json', '/docs/static/..%2f..%2fpackage.json', '//next//orders',
  '/next//orders', '/next/orders/', '/next/orders/x', '/sequences/orders/', '/sequences/orders/reset/',
  '/sequences/orders/reset/x', '/sequences//reset', '/sequences/%2F/reset', '/NEXT/orders', '/Sequences', '/healthz/',
  '/next/orders/../cyc', '/next/./orders', '/next/%2e%2e/sequences', 'next/orders', 'http://example.com/next/orders',
  '*', '/healthz;x', '/next/orders;x=1', '/next/orders#frag', '/next/orders%3Fcount=2', '/next\\orders',
  '/sequences?', '/next/orders?', '/%6eext/orders',
];

const path: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: segment.map((s) => `/next/${s}`) },
  { weight: 3, arbitrary: segment.map((s) => `/sequences/${s}`) },
  { weight: 2, arbitrary: segment.map((s) => `/sequences/${s}/reset`) },
  { weight: 2, arbitrary: fc.constantFrom(...FIXED_PATHS) },
  { weight: 1, arbitrary: fc.array(segment, { maxLength: 4 }).map((parts) => `/${parts.join('/')}`) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom('/next', '/sequences', '/docs', '/docs/static', '/healthz', ''), fc.array(segment, { minLength: 1, maxLength: 3 }))
      .map(([base, parts]) => `${base}/${parts.join('/')}`),
  },
);

const COUNT_LIKE = [
  '0', '1', '2', '-1', '-0', '100000', '100001', '99999', '1000', '1001', '99999999999999999999',
  '9223372036854775807', '9223372036854775808', '18446744073709551616', '9999999999999999', '10000000000000000',
  '1.5', '1.0', '1e3', '0x10', '0b1', '0o7', ' 5', '5 ', '%205', '+5', '%2B5', '00001', '0000000000000001',
  '00000000000000001', '１', '٣', '', 'NaN', 'Infinity', '-Infinity', 'true', 'null', 'undefined', '[]', '{}',
  '%', '%ZZ', '%31', '%E0%A4', '%00', 'abc', '1,2', '1;2', '1&count=2',
];

const queryKey: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('count', 'limit', 'cursor', 'prefix') },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'count[]', 'count[0]', 'count.x', '__proto__', 'constructor', 'hasOwnProperty', 'toString', '', 'COUNT', 'count%20',
      '%63ount', 'a', '%', '%ZZ', 'limit[]', 'prefix[]', 'cursor[]',
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 6 }).map(encodeURIComponent) },
);

const cursorLike: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 }).map((s) => Buffer.from(s, 'utf8').toString('base64url')),
  fc.constantFrom(...SEED_NAMES.map((n) => Buffer.from(n, 'utf8').toString('base64url'))),
  fc.uint8Array({ minLength: 1, maxLength: 12 }).map((b) => Buffer.from(b).toString('base64url')),
  fc.uint8Array({ minLength: 1, maxLength: 12 }).map((b) => encodeURIComponent(Buffer.from(b).toString('base64'))),
  fc.constantFrom('=', '====', 'AA', 'AA==', '_-_-', '7f8', '__proto__', 'x'.repeat(400), 'x'.repeat(401), '-'),
);

const queryValue: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -5, max: 100_005 }).map(String) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 12 }).map(String) },
  { weight: 4, arbitrary: fc.constantFrom(...COUNT_LIKE) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).map(String) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 10 }).map(encodeURIComponent) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 10 }) },
  { weight: 2, arbitrary: cursorLike },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      ...SEED_NAMES.map(encodeURIComponent), 'tenant%2F', 'p'.repeat(255), 'p'.repeat(256), encodeURIComponent('é'.repeat(128)),
    ),
  },
);

/** A raw query string: repeated, unknown and key-only parameters included. */
const query: fc.Arbitrary<string> = fc
  .array(fc.tuple(queryKey, fc.option(queryValue, { nil: undefined, freq: 6 })), { maxLength: 5 })
  .map((pairs) => pairs.map(([k, v]) => (v === undefined ? k : `${k}=${v}`)).join('&'));

/** What Node would hand over for a header value a client sent as UTF-8: its bytes as latin1, without CR, LF, NUL. */
function asHeaderValue(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1').replace(/[^\t\x20-\x7e\x80-\xff]/g, '');
}

const headerValue: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'grapheme-ascii', maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }).map(asHeaderValue),
  fc.string({ unit: 'binary', maxLength: 20 }).map(asHeaderValue),
  fc.constantFrom('', ' ', '\t', 'x', USED_KEY, 'k'.repeat(255), 'k'.repeat(256), ' padded ', 'a, b', 'clé', 'ключ', '\xff\xfe'),
);

const idempotencyKey: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(USED_KEY, 'k1', 'k2', 'k3') },
  { weight: 2, arbitrary: fc.uuid() },
  { weight: 3, arbitrary: headerValue },
);

const CONTENT_TYPES = [
  'application/json', 'application/json; charset=utf-8', 'Application/JSON', 'APPLICATION/JSON; CHARSET=UTF-8',
  'application/json;charset=utf-16', 'application/json ; charset=utf-8', 'application/json; foo=bar',
  'application/json;', 'application/json,text/plain', 'application/json; charset="utf-8', 'application/json; charset',
  'text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=----x',
  'multipart/form-data', 'application/octet-stream', 'application/vnd.api+json', 'application/merge-patch+json',
  'application/jsonp', 'application/json-seq', 'json', '*/*', '', ' ', ';', '/', 'a/b/c', 'application/', '/json',
  'text/html; charset="', 'application/json\tx', 'ápplication/json',
];
const contentType: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
  { weight: 1, arbitrary: headerValue },
);

const headerName: fc.Arbitrary<string> = fc.oneof(
  fc.stringMatching(/^[a-z0-9!#$%&'*+.^_`|~-]{1,16}$/),
  fc.constantFrom(
    'content-length', 'transfer-encoding', 'host', 'accept', 'accept-encoding', 'accept-charset', 'expect', 'connection',
    'content-encoding', 'x-forwarded-for', 'x-forwarded-proto', 'x-http-method-override', 'origin', 'cookie', 'range',
    'if-none-match', 'authorization', 'upgrade', 'te', 'trailer', 'x-request-id', 'request-id',
  ),
);

const junkHeaders: fc.Arbitrary<Record<string, string>> = fc.dictionary(
  headerName,
  fc.oneof(
    headerValue,
    fc.constantFrom('0', '1', '-1', 'abc', '99999999', '65537', 'chunked', 'gzip', '100-continue', 'close', 'bytes=0-1', 'websocket'),
  ),
  { maxKeys: 3 },
);

/** Headers: junk, an Idempotency-Key (or several), a Content-Type. */
const headers: fc.Arbitrary<Record<string, string | string[]>> = fc
  .record({
    junk: fc.oneof({ weight: 3, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: junkHeaders }),
    key: fc.oneof(
      { weight: 4, arbitrary: fc.constant(undefined) },
      { weight: 3, arbitrary: idempotencyKey },
      { weight: 1, arbitrary: fc.array(idempotencyKey, { minLength: 2, maxLength: 3 }) },
    ),
    keyName: fc.constantFrom('idempotency-key', 'Idempotency-Key', 'IDEMPOTENCY-KEY'),
    type: fc.option(contentType, { nil: undefined, freq: 3 }),
  })
  .map(({ junk, key, keyName, type }) => {
    const result: Record<string, string | string[]> = { ...junk };
    if (key !== undefined) result[keyName] = key;
    if (type !== undefined) result['content-type'] = type;
    return result;
  });

const INT64_TEXTS = [
  '0', '-0', '1', '-1', '10', '100', '1000', '1000000', '1000001', '9223372036854775807', '-9223372036854775808',
  '9223372036854775808', '-9223372036854775809', '18446744073709551616', '4611686018427387904', '-4611686018427387904',
  '9007199254740993', '1'.padEnd(400, '0'), '-'.padEnd(400, '9'),
  '"9223372036854775807"', '"-9223372036854775808"', '"9223372036854775808"', '"00000000000000000000001"',
  '"000000000000000000001"', '"-000000000000000000001"', '"5"', '"-5"', '"-0"', '"0"', '"99999999999999999999999"',
];
const WRONG_TEXTS = [
  '1.5', '1.0', '-0.0', '1e3', '1E3', '1e400', '-1e-400', '0.1e1', '"1e3"', '" 5"', '"5 "', '"0x10"', '"+5"', '"١"',
  '"٣"', '"-"', '""', '"--1"', '"1-"', '"\\u0035"', 'true', 'false', 'null', '[]', '[1]', '{}', '{"a":1}', '"true"',
  '"null"', '"NaN"', '"Infinity"', '[[[[[[[[[[1]]]]]]]]]]',
];

/** A JSON value as text, leaning toward what the option fields take (so huge integers stay exact). */
const jsonValueText: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -20, max: 20 }).map(String) },
  { weight: 3, arbitrary: fc.constantFrom(...INT64_TEXTS) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map((n) => JSON.stringify(String(n))) },
  { weight: 3, arbitrary: fc.constantFrom(...WRONG_TEXTS) },
  { weight: 1, arbitrary: fc.double().map((d) => (Number.isFinite(d) ? JSON.stringify(d) : 'null')) },
  { weight: 1, arbitrary: fc.json({ maxDepth: 2 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`) },
);

const OPTION_FIELDS = ['start', 'increment', 'min_value', 'max_value', 'cycle', 'cache'];
const objectKey: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...OPTION_FIELDS, 'next_value', 'force') },
  {
    weight: 1,
    arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '', 'Start', 'start ', 'next-value', 'minValue'),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }) },
);
const boolText = fc.constantFrom('true', 'false', 'true', 'false', '"true"', '1', '0', 'null');

/** A JSON object as text: option-like fields, with values right and wrong, keys repeated now and then. */
const objectText: fc.Arbitrary<string> = fc
  .array(
    fc.tuple(objectKey, fc.boolean()).chain(([key, anyValue]) =>
      (anyValue || (key !== 'cycle' && key !== 'force') ? jsonValueText : boolText).map((value) => `${JSON.stringify(key)}:${value}`),
    ),
    { maxLength: 5 },
  )
  .map((members) => `{${members.join(',')}}`);

/** Well-typed values, so that PUT and reset get past type checks to the checks between options and positions. */
const plausibleInt: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: -20, max: 20 }).map(String) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '100', '1000', '-1000', '1000000', '1000001', '9223372036854775807', '-9223372036854775808', '"9223372036854775806"',
      '"-9223372036854775807"',
    ),
  },
  { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String) },
);
const plausibleOptions: fc.Arbitrary<string> = fc
  .record(
    {
      start: plausibleInt,
      increment: plausibleInt,
      min_value: plausibleInt,
      max_value: plausibleInt,
      cycle: fc.boolean().map(String),
      cache: plausibleInt,
    },
    { requiredKeys: [] },
  )
  .map((fields) => `{${Object.entries(fields).map(([k, v]) => `"${k}":${v}`).join(',')}}`);
/** One option changed at a time: the likeliest to pass the checks between options, and to conflict with the position. */
const oneOption: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom('start', 'increment', 'min_value', 'max_value', 'cycle', 'cache'), plausibleInt, fc.boolean())
  .map(([field, value, flag]) => `{"${field}":${field === 'cycle' ? String(flag) : value}}`);
const plausibleReset: fc.Arbitrary<string> = fc
  .record({ next_value: plausibleInt, force: fc.option(fc.boolean(), { nil: undefined }) })
  .map(({ next_value, force }) => `{"next_value":${next_value}${force === undefined ? '' : `,"force":${force}`}}`);

const BODY_TEXTS = [
  '', ' ', '\n', '\t\r\n', 'null', '{}', '[]', '"x"', '0', '-1', 'true', '{"start":1,"start":2}', '{"__proto__":{"start":1}}',
  '{"constructor":{"prototype":{}}}', '\ufeff{}', '{"start":1}garbage', '{', '}', '{"start":}', '{"start":1,}', "{'start':1}",
  '{"start":1}{"start":2}', '{"next_value":1,"force":true}', '{"next_value":"1","force":"yes"}', '\u0000', '{"\u0000":1}',
  '{"start":"\ud800"}', '{"\\ud800":1}', '[{"start":1}]', '"{\\"start\\":1}"', 'NaN', '{"start":NaN}', '{"start":Infinity}',
  '{"start":01}', '{"start":-}', '{"start":+1}', '{"start":.5}', '{"start":0x10}',
  `"${'x'.repeat(70_000)}"`, // over the body limit
  `{"start":1${' '.repeat(65_530)}}`, // just under the body limit
];

/** A request body: none, bytes, JSON of any kind, option objects, deep nesting, odd texts. */
const payload: fc.Arbitrary<string | Buffer | undefined> = fc.oneof(
  { weight: 5, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)) },
  { weight: 1, arbitrary: fc.json({ maxDepth: 3 }) },
  { weight: 4, arbitrary: objectText },
  { weight: 2, arbitrary: jsonValueText },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 32_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 12_000 }).map((n) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`) },
  { weight: 2, arbitrary: fc.constantFrom(...BODY_TEXTS) },
  {
    weight: 1,
    arbitrary: fc
      .uint8Array({ minLength: 1, maxLength: 4 })
      .map((bytes) => Buffer.concat([Buffer.from('{"start":"'), Buffer.from(bytes), Buffer.from('"}')])),
  },
);

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'];
const ODD_METHODS = [
  'TRACE', 'CONNECT', 'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'SEARCH', 'QUERY', 'PURGE',
  'REPORT', 'MKCALENDAR', 'M-SEARCH', 'NOTIFY', 'SUBSCRIBE', 'LINK', 'BREW', 'get', 'post', 'Put', 'X', 'ACL', 'BIND',
];
const method: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...METHODS) },
  { weight: 1, arbitrary: fc.constantFrom(...ODD_METHODS) },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Z][A-Z-]{0,9}$/) },
);

/** Whether inject can send `url` at all: light-my-request parses it as a WHATWG URL (a real client would too). */
function injectable(request: FuzzRequest): boolean {
  const { url } = request;
  return url !== '' && URL.canParse(url.startsWith('//') ? `http://localhost${url}` : url, 'http://localhost');
}

function withQuery(path: string, query: string | undefined): string {
  return query === undefined ? path : `${path}?${query}`;
}

/** Anything at all, anywhere. */
const anyRequest: fc.Arbitrary<FuzzRequest> = fc
  .record({ method, path, query: fc.option(query, { nil: undefined }), headers, payload })
  .map(({ method, path, query, headers, payload }) => ({ method, url: withQuery(path, query), headers, payload }))
  .filter(injectable);

/** `/next/{name}` with counts, keys and the odd body. */
const nextRequest: fc.Arbitrary<FuzzRequest> = fc
  .record({
    method: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('POST', 'GET') }, { weight: 1, arbitrary: method }),
    name: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...SEED_NAMES.map(encodeURIComponent)) }, { weight: 2, arbitrary: segment }),
    count: fc.oneof(
      { weight: 3, arbitrary: fc.constant(undefined) },
      { weight: 3, arbitrary: fc.integer({ min: 1, max: 12 }).map((n) => `count=${n}`) },
      { weight: 2, arbitrary: fc.constantFrom(...COUNT_LIKE).map((c) => `count=${c}`) },
      {
        weight: 1,
        arbitrary: fc
          .array(fc.constantFrom(...COUNT_LIKE.slice(0, 8)), { minLength: 2, maxLength: 3 })
          .map((counts) => counts.map((c) => `count=${c}`).join('&')),
      },
      { weight: 1, arbitrary: query },
    ),
    key: fc.oneof(
      { weight: 2, arbitrary: fc.constant(undefined) },
      { weight: 4, arbitrary: idempotencyKey },
      { weight: 1, arbitrary: fc.array(idempotencyKey, { minLength: 2, maxLength: 3 }) },
    ),
    type: fc.option(contentType, { nil: undefined, freq: 4 }),
    payload: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: payload }),
  })
  .map(({ method, name, count, key, type, payload }) => {
    const headers: Record<string, string | string[]> = {};
    if (key !== undefined) headers['idempotency-key'] = key;
    if (type !== undefined) headers['content-type'] = type;
    return { method, url: withQuery(`/next/${name}`, count), headers, payload };
  })
  .filter(injectable);

/** `PUT /sequences/{name}` and `POST /sequences/{name}/reset` with option bodies, right and wrong. */
const adminRequest: fc.Arbitrary<FuzzRequest> = fc
  .record({
    kind: fc.constantFrom('put', 'reset'),
    name: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...SEED_NAMES.map(encodeURIComponent)) }, { weight: 1, arbitrary: segment }),
    type: fc.oneof({ weight: 8, arbitrary: fc.constant('application/json') }, { weight: 1, arbitrary: fc.option(contentType, { nil: undefined }) }),
    body: fc.oneof({ weight: 6, arbitrary: objectText }, { weight: 1, arbitrary: payload }),
    plausible: fc.option(fc.tuple(fc.oneof(plausibleOptions, oneOption), plausibleReset), { nil: undefined, freq: 2 }),
  })
  .map(({ kind, name, type, body: anyBody, plausible }): FuzzRequest => {
    const body = plausible === undefined ? anyBody : kind === 'put' ? plausible[0] : plausible[1];
    return {
      method: kind === 'put' ? 'PUT' : 'POST',
      url: kind === 'put' ? `/sequences/${name}` : `/sequences/${name}/reset`,
      headers: type === undefined ? {} : { 'content-type': type },
      payload: body,
    };
  })
  .filter(injectable);

/** `GET /sequences` with limit, cursor and prefix, right and wrong, given once or more. */
const listRequest: fc.Arbitrary<FuzzRequest> = fc
  .record({
    method: fc.oneof({ weight: 8, arbitrary: fc.constant('GET') }, { weight: 1, arbitrary: fc.constantFrom('HEAD', 'POST', 'DELETE') }),
    path: fc.oneof(
      { weight: 8, arbitrary: fc.constant('/sequences') },
      { weight: 1, arbitrary: fc.constantFrom('/sequences/', '/sequences?', '/Sequences') },
    ),
    params: fc.array(
      fc.oneof(
        fc.integer({ min: -2, max: 1002 }).map((n) => `limit=${n}`),
        fc.constantFrom(...COUNT_LIKE).map((v) => `limit=${v}`),
        cursorLike.map((c) => `cursor=${c}`),
        fc.oneof(queryValue, fc.constantFrom('', 'o', 'c', 't', 'tenant%2F', 'e', 'n')).map((p) => `prefix=${p}`),
        fc.tuple(queryKey, queryValue).map(([k, v]) => `${k}=${v}`),
      ),
      { maxLength: 4 },
    ),
  })
  .map(({ method, path, params }) => ({
    method,
    url: params.length === 0 ? path : `${path.replace(/\?$/, '')}?${params.join('&')}`,
    headers: {},
  }))
  .filter(injectable);

// ---------------------------------------------------------------------------
// Raw HTTP over a socket: what inject cannot send (dot segments, raw bytes, junk).

interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Makes the fixture's app listen on a free local port (once); returns the port. */
async function listening(f: Fixture): Promise<number> {
  if (!f.t.app.server.listening) await f.t.app.listen({ host: '127.0.0.1', port: 0 });
  const address = f.t.app.server.address();
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}

/**
 * Sends `bytes` on a fresh connection and reads until the server closes it.
 * A whole request (with `Connection: close`) is answered and closed by the
 * server; bytes that may not be a whole request are followed by our end of
 * the connection, so that the server gives up waiting for the rest.
 */
function rawExchange(port: number, bytes: Buffer, halfClose: boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(5000, () => {
      socket.destroy();
      reject(new Error('no answer within 5 s'));
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // The server may reset a connection it refused while we still write: what it answered counts.
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    if (halfClose) socket.end(bytes);
    else socket.write(bytes);
  });
}

function parseRawAnswer(whole: Buffer, isHead: boolean): RawAnswer {
  let raw = whole;
  // Skip interim answers (100 Continue).
  while (/^HTTP\/1\.1 1\d\d /.test(raw.toString('latin1', 0, 13))) raw = raw.subarray(raw.indexOf('\r\n\r\n') + 4);
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  assert.ok(end >= 0, `not an HTTP answer: ${JSON.stringify(text.slice(0, 300))}`);
  const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
  const match = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine);
  assert.ok(match?.[1] !== undefined, `bad status line: ${JSON.stringify(statusLine)}`);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = raw.subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1'));
  if (isHead) body = Buffer.alloc(0);
  else if (headers['content-length'] !== undefined) body = body.subarray(0, Number(headers['content-length']));
  else if (headers['transfer-encoding'] === 'chunked') {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const lineEnd = body.indexOf('\r\n', at);
      const size = parseInt(body.subarray(at, lineEnd).toString('latin1'), 16);
      if (!(size > 0)) break;
      parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  }
  return { status: Number(match[1]), headers, body: body.toString('utf8') };
}

/** The request target in bytes as latin1 text: raw dot segments, raw UTF-8, controls, spaces. */
const rawFragment: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fragment.map((f) => asHeaderValue(f).replace(/[\s#?]/g, '')) },
  { weight: 2, arbitrary: fc.constantFrom('.', '..', '%2e', '%2E%2e', './', '../', '..%2f', '%2e%2e%2f', '//', '\\', '..\\', ';', '@') },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 6 }).map((s) => Buffer.from(s, 'utf8').toString('latin1')) },
  { weight: 1, arbitrary: fc.constantFrom('\x00', '\x01', '\x7f', '\t', ' ', '\r', '\n', '\x85', '\xff', '#', '?', '"', '<', '{', '|') },
);
const rawTarget: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(
        fc.constantFrom('/next/', '/sequences/', '/docs/static/', '/', '/next/orders/', '//'),
        fc.array(rawFragment, { maxLength: 4 }),
        fc.option(query, { nil: undefined }),
      )
      .map(([base, parts, q]) => withQuery(`${base}${parts.join('')}`, q)),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('*', 'http://example.com/next/orders', 'example.com:80', '', 'next/orders', `/next/${'n'.repeat(20_000)}`),
  },
  { weight: 1, arbitrary: fc.constantFrom(...FIXED_PATHS) },
);
const rawHeaderLine: fc.Arbitrary<string> = fc.oneof(
  idempotencyKey.map((k) => `Idempotency-Key: ${k}`),
  contentType.map((c) => `Content-Type: ${c}`),
  fc
    .tuple(headerName, headerValue)
    // Whether the request is whole, and the connection closed after it, stays ours to say.
    .filter(([n]) => !['connection', 'content-length', 'transfer-encoding', 'upgrade'].includes(n))
    .map(([n, v]) => `${n}: ${v}`),
  fc.constantFrom(
    'Transfer-Encoding: chunked', 'Content-Length: 5', 'Content-Length: abc', 'Host: other', 'X-Bad\x01: 1', 'NoColon',
    ' folded: line', 'X: a\x00b', 'Expect: 100-continue',
  ),
);
const rawRequest: fc.Arbitrary<{ readonly bytes: Buffer; readonly isHead: boolean; readonly junk: boolean; readonly mayClose: boolean }> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .record({
        method: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...METHODS) }, { weight: 1, arbitrary: method }),
        target: rawTarget,
        version: fc.oneof(
          { weight: 12, arbitrary: fc.constant('HTTP/1.1') },
          { weight: 1, arbitrary: fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2', 'http/1.1', 'HTTP/1.1 ', '') },
        ),
        host: fc.oneof(
          { weight: 8, arbitrary: fc.constant('Host: localhost\r\n') },
          { weight: 2, arbitrary: fc.constantFrom('', 'Host: \r\n', 'Host: a\r\nHost: b\r\n', 'Host: \xff\r\n') },
        ),
        headers: fc.array(rawHeaderLine, { maxLength: 3 }),
        body: fc.oneof(
          { weight: 3, arbitrary: fc.constant('') },
          { weight: 2, arbitrary: objectText },
          { weight: 1, arbitrary: fc.constantFrom(...BODY_TEXTS.slice(0, 30)) },
        ),
      })
      .map(({ method, target, version, host, headers, body }) => {
        const bodyBytes = Buffer.from(body, 'utf8');
        const head =
          `${method} ${target} ${version}\r\n${host}${headers.map((h) => `${h}\r\n`).join('')}` +
          `Content-Length: ${bodyBytes.length}\r\nConnection: close\r\n\r\n`;
        // Node's server closes a CONNECT without answering when nobody listens for 'connect' (no proxy here).
        const mayClose = method === 'CONNECT';
        return { bytes: Buffer.concat([Buffer.from(head, 'latin1'), bodyBytes]), isHead: method === 'HEAD', junk: false, mayClose };
      }),
  },
  {
    weight: 1,
    arbitrary: fc
      .uint8Array({ minLength: 1, maxLength: 200 })
      .map((b) => ({ bytes: Buffer.from(b), isHead: false, junk: true, mayClose: true })),
  },
);

// ---------------------------------------------------------------------------

describe('HTTP fuzzing', () => {
  it('any method, path, query, headers and body: no 5xx, JSON errors, nothing changed by a 4xx', async () => {
    const f = await fixture();
    try {
      await fc.assert(
        fc.asyncProperty(anyRequest, async (request) => {
          await ensureSeeds(f);
          await checkOne(f, request);
        }),
        params(700),
      );
    } finally {
      printStats('any request');
      await f.close();
    }
  });

  it('/next/{name} with counts, Idempotency-Keys and bodies: no 5xx, JSON errors, a 4xx allocates nothing', async () => {
    const f = await fixture();
    try {
      await fc.assert(
        fc.asyncProperty(nextRequest, async (request) => {
          const response = await checkOne(f, request);
          if (response.statusCode === 200) {
            const body = response.json<Record<string, unknown>>();
            // The query as the server reads it: keys percent-decoded, a fragment cut off.
            const batch = new URL(request.url, 'http://localhost').searchParams.has('count');
            assert.deepEqual(
              Object.keys(body),
              batch ? ['sequence_id', 'next_value', 'last_value', 'count'] : ['sequence_id', 'next_value'],
              label(request, 200, response.body),
            );
            assert.equal(typeof body.sequence_id, 'string');
            assert.equal(typeof body.next_value, 'number');
          }
        }),
        params(1000),
      );
    } finally {
      printStats('/next');
      await f.close();
    }
  });

  it('PUT /sequences/{name} and reset with option bodies right and wrong: no 5xx, a 4xx changes nothing', async () => {
    const f = await fixture();
    try {
      await fc.assert(
        fc.asyncProperty(adminRequest, async (request) => {
          await ensureSeeds(f);
          await checkOne(f, request);
        }),
        params(1000),
      );
    } finally {
      printStats('PUT and reset');
      await f.close();
    }
  });

  it('GET /sequences with limit, cursor and prefix: no 5xx, JSON errors, pages within the limit', async () => {
    const f = await fixture();
    try {
      await fc.assert(
        fc.asyncProperty(listRequest, async (request) => {
          const response = await checkOne(f, request);
          if (response.statusCode === 200 && request.method === 'GET') {
            const body = response.json<{ sequences: { name: string }[]; next_cursor: unknown }>();
            const names = body.sequences.map((s) => s.name);
            assert.deepEqual(names, [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
            assert.ok(names.length <= 1000);
            assert.ok(body.next_cursor === null || typeof body.next_cursor === 'string');
          }
        }),
        params(400),
      );
    } finally {
      printStats('listing');
      await f.close();
    }
  });

  it('random requests sent concurrently: no 5xx, JSON errors, nothing changed when all are rejected', async () => {
    const f = await fixture();
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.oneof(anyRequest, nextRequest, adminRequest), { minLength: 2, maxLength: 12 }), async (requests) => {
          await ensureSeeds(f);
          const before = await snapshot(f);
          const responses = await Promise.all(
            requests.map((r) =>
              f.t.app.inject(injectOptions(r)),
            ),
          );
          responses.forEach((response, i) => {
            const request = requests[i];
            assert.ok(request !== undefined);
            const where = label(request, response.statusCode, response.body);
            tally(response.statusCode, response.body);
            assert.ok(response.statusCode < 500, `5xx: ${where}`);
            if (response.statusCode >= 400) {
              assertErrorShape(response.statusCode, contentTypeOf(response), response.body, request.method.toUpperCase() === 'HEAD', where);
            }
          });
          if (responses.every((r) => r.statusCode >= 400)) {
            assert.deepEqual(await snapshot(f), before, 'rejected requests changed the store');
          }
        }),
        params(120),
      );
    } finally {
      printStats('concurrent');
      await f.close();
    }
  });

  it('raw HTTP on a socket (dot segments, raw bytes, junk): no 5xx, JSON errors, nothing changed by a 4xx', async () => {
    const f = await fixture();
    try {
      const port = await listening(f);
      await fc.assert(
        fc.asyncProperty(rawRequest, async ({ bytes, isHead, junk, mayClose }) => {
          await ensureSeeds(f);
          const before = await snapshot(f);
          const raw = await rawExchange(port, bytes, junk);
          const where = JSON.stringify(bytes.toString('latin1').slice(0, 400));
          // Bytes that are not a whole request, and CONNECT, may get no answer at all.
          if (raw.length === 0 && mayClose) {
            tally(0, 'no answer');
            return;
          }
          const answer = parseRawAnswer(raw, isHead);
          const at = `${where} -> ${answer.status} ${answer.body.slice(0, 300)}`;
          tally(answer.status, answer.body);
          assert.ok(answer.status < 500, `5xx: ${at}`);
          if (answer.status >= 400) {
            assertErrorShape(answer.status, answer.headers['content-type'], answer.body, isHead, at);
            assert.deepEqual(await snapshot(f), before, `a rejected request changed the store: ${at}`);
          }
        }),
        params(250),
      );
    } finally {
      printStats('raw HTTP');
      await f.close();
    }
  });

  describe('regressions found by fuzzing', () => {
    /** Sends raw requests to the listening app; returns each answer. */
    async function rawAnswers(f: Fixture, requests: readonly string[]): Promise<RawAnswer[]> {
      const port = await listening(f);
      const answers: RawAnswer[] = [];
      for (const request of requests) answers.push(parseRawAnswer(await rawExchange(port, Buffer.from(request, 'latin1'), false), false));
      return answers;
    }

    function assertBadRequest(answer: RawAnswer, where: string): void {
      assert.equal(answer.status, 400, where);
      assertErrorShape(answer.status, answer.headers['content-type'], answer.body, false, where);
      assert.equal((JSON.parse(answer.body) as { error: { code: string } }).error.code, 'bad_request', where);
    }

    it('an HTTP/1.1 request without Host is 400 bad_request in the error shape (Node answered an empty 400)', async () => {
      const f = await fixture();
      try {
        const before = await snapshot(f);
        const requests = [
          'GET /next/no-host HTTP/1.1\r\nConnection: close\r\n\r\n',
          'POST /next/no-host HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
          'PUT /sequences/no-host HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}',
          'GET /nowhere HTTP/1.1\r\nConnection: close\r\n\r\n',
        ];
        const answers = await rawAnswers(f, requests);
        answers.forEach((answer, i) => assertBadRequest(answer, requests[i] ?? ''));
        assert.deepEqual(await snapshot(f), before);
        // HTTP/1.0 needs no Host, and an empty Host is a Host.
        const [old, empty] = await rawAnswers(f, [
          'GET /next/no-host HTTP/1.0\r\n\r\n',
          'GET /next/no-host HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n',
        ]);
        assert.equal(old?.body, '{"sequence_id":"no-host","next_value":1}');
        assert.equal(empty?.body, '{"sequence_id":"no-host","next_value":2}');
      } finally {
        await f.close();
      }
    });

    it('an Expect other than 100-continue is 400 bad_request in the error shape (Node answered an empty 417)', async () => {
      const f = await fixture();
      try {
        const before = await snapshot(f);
        const requests = [
          'GET /next/ HTTP/1.1\r\nHost: localhost\r\nexpect: \r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
          'POST /next/expect HTTP/1.1\r\nHost: localhost\r\nExpect: 200-ok\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
          'PUT /sequences/expect HTTP/1.1\r\nHost: localhost\r\nExpect: x\r\n' +
            'Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}',
        ];
        const answers = await rawAnswers(f, requests);
        answers.forEach((answer, i) => assertBadRequest(answer, requests[i] ?? ''));
        // Through inject too (which bypasses Node's check): the app refuses it the same way.
        const injected = await f.t.app.inject({ method: 'POST', url: '/next/expect', headers: { expect: 'something' } });
        assert.equal(injected.statusCode, 400);
        assert.equal(injected.json<{ error: { code: string } }>().error.code, 'bad_request');
        assert.deepEqual(await snapshot(f), before);
        // 100-continue still works.
        const [ok] = await rawAnswers(f, [
          'POST /next/expect HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
        ]);
        assert.equal(ok?.body, '{"sequence_id":"expect","next_value":1}');
      } finally {
        await f.close();
      }
    });
  });
});
