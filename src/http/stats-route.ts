import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { checkSequenceName } from '../core/sequence-name.js';
import { AppError, ERROR_CODES } from '../errors.js';
import { round, STATS_POINTS, RATE_WINDOW_SECONDS, type LiveStats } from '../live-stats.js';
import { VERSION } from '../version.js';
import { BEARER, errorResponses } from './schemas.js';

/** Most names one `?names=` may ask rates for. */
export const MAX_RATE_NAMES = 100;
/** Sequences listed in `busiest`. */
export const BUSIEST = 20;

const PerSecond = (description: string) => Type.Array(Type.Number(), { maxItems: STATS_POINTS, description });
const PerSecondOrNull = (description: string) =>
  Type.Array(Type.Union([Type.Number(), Type.Null()]), { maxItems: STATS_POINTS, description: `${description}; null for a second without commits` });

const StoreView = Type.Union([
  Type.Object({ kind: Type.Literal('sqlite'), path: Type.String({ description: 'Absolute path of the SQLite file.' }) }),
  Type.Object({
    kind: Type.Literal('postgres'),
    host: Type.String(),
    port: Type.Integer(),
    database: Type.String({ description: 'Never the user or password.' }),
  }),
]);

export const StatsResponse = Type.Object({
  version: Type.String(),
  started_at: Type.String({ format: 'date-time' }),
  uptime_seconds: Type.Number(),
  store: StoreView,
  interval_seconds: Type.Integer({ description: 'Seconds between points of the series.' }),
  series: Type.Object(
    {
      t: Type.Array(Type.Integer(), { maxItems: STATS_POINTS, description: 'Unix seconds at which each point starts, oldest first.' }),
      numbers_per_second: PerSecond('Numbers handed out by /next'),
      requests_per_second: PerSecond('HTTP requests answered'),
      errors_per_second: PerSecond('Error answers (4xx and 5xx)'),
      commit_p50_ms: PerSecondOrNull('Median time the store took to confirm a group commit'),
      commit_p99_ms: PerSecondOrNull('99th percentile of the time the store took to confirm a group commit'),
      batch_size: PerSecondOrNull('Mean requests per group commit'),
      pending: PerSecond('Requests waiting for a commit, sampled at the end of the second'),
    },
    { description: `One point per second over the last ${STATS_POINTS / 60} minutes (only those after ?since=).` },
  ),
  errors: Type.Record(Type.String(), Type.Integer(), {
    maxProperties: ERROR_CODES.length,
    description: 'Error answers since the start, by code of the error catalogue (codes never answered are left out).',
  }),
  busiest: Type.Array(Type.Object({ name: Type.String(), numbers_per_second: Type.Number() }), {
    maxItems: BUSIEST,
    description: `The ${BUSIEST} sequences with the most numbers handed out over the last ${RATE_WINDOW_SECONDS} s, busiest first.`,
  }),
  rates: Type.Optional(
    Type.Record(Type.String(), Type.Number(), {
      description: `With ?names=: numbers per second of each over the last ${RATE_WINDOW_SECONDS} s (0 for a name without traffic).`,
    }),
  ),
});
export type StatsResponse = Static<typeof StatsResponse>;

export const StatsQuery = Type.Object({
  names: Type.Optional(
    Type.String({
      description:
        `Comma-separated sequence names (at most ${MAX_RATE_NAMES}), each percent-encoded: a comma inside a name is sent as %2C. ` +
        'The answer adds their rates.',
    }),
  ),
  since: Type.Optional(Type.Number({ description: 'Unix seconds: only points with t greater than this (for polling).' })),
});

/** What /stats says of the store: its kind and where it is, never a user or password. */
export type StoreView = Static<typeof StoreView>;

/** The store as /stats shows it, from the store's location (`sqlite:/abs/path` or a redacted PostgreSQL URL). */
export function storeView(location: string): StoreView {
  if (location.startsWith('sqlite:')) return { kind: 'sqlite', path: location.slice('sqlite:'.length) };
  try {
    const url = new URL(location);
    return { kind: 'postgres', host: url.hostname, port: url.port === '' ? 5432 : Number(url.port), database: decodeURIComponent(url.pathname.slice(1)) };
  } catch {
    return { kind: 'postgres', host: '', port: 5432, database: '' };
  }
}

/**
 * `GET /stats`: the console's live data, bounded whatever the number of
 * sequences (at most 300 points a series, 20 busiest, 100 rates). `read`
 * scope; it covers every sequence, so tokens limited to a prefix may not.
 */
export function registerStatsRoute(app: FastifyInstance, stats: LiveStats, storeLocation: string): void {
  const store = storeView(storeLocation);
  const startedAt = new Date(stats.startedAt).toISOString();
  app.get<{ Reply: StatsResponse }>(
    '/stats',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['monitoring'],
        security: BEARER,
        summary: 'Live statistics for the console: per-second series, errors, busiest sequences, rates',
        description:
          `Per-second points of the last ${STATS_POINTS / 60} minutes (numbers, requests, errors, commit latency, batch size, pending), ` +
          `error answers by code, the ${BUSIEST} busiest sequences and, for ?names=, each name's numbers per second over the last ` +
          `${RATE_WINDOW_SECONDS} s. Bounded in size and cost whatever the number of sequences.`,
        querystring: StatsQuery,
        response: { 200: StatsResponse, ...errorResponses },
      },
    },
    (request) => {
      const query = request.raw.url?.split('?')[1] ?? '';
      const since = parseSince(query);
      const names = parseNames(query);
      const answer: StatsResponse = {
        version: VERSION,
        started_at: startedAt,
        uptime_seconds: round(stats.uptimeSeconds()),
        store,
        interval_seconds: 1,
        series: stats.series(since),
        errors: stats.errors(),
        busiest: stats.busiest(BUSIEST).map((entry) => ({ name: entry.name, numbers_per_second: round(entry.numbersPerSecond) })),
      };
      if (names !== undefined) answer.rates = Object.fromEntries([...stats.rates(names)].map(([name, rate]) => [name, round(rate)]));
      return answer;
    },
  );
}

/** The raw (still percent-encoded) values of a query parameter. */
function rawValues(query: string, key: string): string[] {
  const values: string[] = [];
  for (const pair of query.split('&')) {
    const equals = pair.indexOf('=');
    if ((equals === -1 ? pair : pair.slice(0, equals)) === key) values.push(equals === -1 ? '' : pair.slice(equals + 1));
  }
  return values;
}

function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    throw new AppError('bad_request', `${what} is not valid percent-encoded UTF-8.`);
  }
}

function parseSince(query: string): number | undefined {
  const values = rawValues(query, 'since');
  if (values.length === 0) return undefined;
  const text = decode(values[0] as string, 'since');
  const since = /^\d{1,15}(\.\d{1,9})?$/.test(text) ? Number(text) : Number.NaN;
  if (values.length > 1 || Number.isNaN(since)) throw new AppError('bad_request', `since must be one number of unix seconds, got '${text}'.`);
  return since;
}

/**
 * The names of `?names=a,b`, split at the commas of the raw query, then
 * each decoded: a name with a comma is sent as %2C. Repeated `names`
 * parameters add up; duplicates count once.
 */
function parseNames(query: string): string[] | undefined {
  const values = rawValues(query, 'names');
  if (values.length === 0) return undefined;
  const names = new Set<string>();
  for (const value of values) {
    for (const piece of value.split(',')) {
      if (piece === '') continue;
      const name = decode(piece, 'A name of ?names=');
      checkSequenceName(name);
      names.add(name);
      if (names.size > MAX_RATE_NAMES) throw new AppError('bad_request', `?names= takes at most ${MAX_RATE_NAMES} names.`);
    }
  }
  return [...names];
}
