import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CommitInfo } from './core/allocator.js';
import { asAppError, type ErrorCode } from './errors.js';
import { LiveStats } from './live-stats.js';

/** Every metric's name starts with this, the process and Node.js ones too. */
export const METRICS_PREFIX = 'takeanumber_';

/** Why the allocator refused a /next request, by the error code the client got. */
const REFUSAL_REASONS = {
  sequence_exhausted: 'exhausted',
  sequence_not_found: 'not_found',
  idempotency_key_reused: 'key_reused',
  overloaded: 'overloaded',
  store_unavailable: 'store_unavailable',
  shutting_down: 'shutting_down',
} as const satisfies Partial<Record<ErrorCode, string>>;

/** How gapless reservations ended, the `outcome` label of takeanumber_reservations_total. */
export type ReservationOutcome = 'confirmed' | 'released' | 'voided' | 'expired';
const RESERVATION_OUTCOMES: readonly ReservationOutcome[] = ['confirmed', 'released', 'voided', 'expired'];

/** The `route` label of requests no route matched (a 404 of the router). */
export const UNMATCHED_ROUTE = 'unmatched';

// Seconds. A /next answer waits for an fsync: around a millisecond on an SSD.
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
// Requests per commit; the allocator takes at most 4096 in one.
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];

const HTTP_LABELS = ['route', 'method', 'status_code'] as const;
type HttpLabels = Readonly<Record<(typeof HTTP_LABELS)[number], string>>;

/** The requests of one route, method and status code: plain counters. */
interface HttpSeries {
  readonly labels: HttpLabels;
  count: number;
  /** Seconds, summed. */
  sum: number;
  /** Requests per bucket of LATENCY_BUCKETS, not cumulative (those above the last are only in `count`). */
  readonly buckets: Float64Array;
}

/** One line of a metric, as prom-client's registry formats it. */
interface ExportedValue {
  readonly metricName: string;
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
}

/**
 * The HTTP request-duration histogram, kept as plain counters per series:
 * recording a request increments numbers and builds nothing. A prom-client
 * Histogram builds a label hash and objects on every observation, which cost
 * about 1 µs of CPU per request, 4-5% of a /next request. prom-client's
 * registry exports it like its own histograms: it reads a metric's name,
 * help, type and `get()`.
 */
class RequestDurations {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly help = 'Time from receiving a request to sending its answer, by route pattern, method and status code.';
  /** route → method → status code → series: no string or object built per request. */
  #series = new Map<string, Map<string, Map<number, HttpSeries>>>();

  constructor(readonly name: string) {}

  observe(route: string, method: string, statusCode: number, seconds: number): void {
    let byMethod = this.#series.get(route);
    if (byMethod === undefined) {
      byMethod = new Map();
      this.#series.set(route, byMethod);
    }
    let byStatus = byMethod.get(method);
    if (byStatus === undefined) {
      byStatus = new Map();
      byMethod.set(method, byStatus);
    }
    let series = byStatus.get(statusCode);
    if (series === undefined) {
      const labels = { route, method, status_code: String(statusCode) };
      series = { labels, count: 0, sum: 0, buckets: new Float64Array(LATENCY_BUCKETS.length) };
      byStatus.set(statusCode, series);
    }
    series.count += 1;
    series.sum += seconds;
    let bucket = 0;
    while (bucket < LATENCY_BUCKETS.length && seconds > (LATENCY_BUCKETS[bucket] as number)) bucket += 1;
    if (bucket < LATENCY_BUCKETS.length) series.buckets[bucket] = (series.buckets[bucket] as number) + 1;
  }

  *series(): Iterable<HttpSeries> {
    for (const byMethod of this.#series.values()) for (const byStatus of byMethod.values()) yield* byStatus.values();
  }

  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: ExportedValue[] }> {
    const values: ExportedValue[] = [];
    for (const { labels, count, sum, buckets } of this.series()) {
      let cumulative = 0;
      LATENCY_BUCKETS.forEach((bound, i) => {
        cumulative += buckets[i] as number;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: bound }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: '+Inf' }, value: count });
      values.push({ metricName: `${this.name}_sum`, labels, value: sum });
      values.push({ metricName: `${this.name}_count`, labels, value: count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  /** `registry.resetMetrics()`. */
  reset(): void {
    this.#series = new Map();
  }
}

export interface MetricsOptions {
  /** Label numbers handed out by sequence name (one series per sequence: mind the cardinality). */
  readonly perSequence?: boolean;
}

/**
 * The metrics of one app, in a registry of its own (never prom-client's
 * global one, so that several apps can live in one process, as in tests).
 * Recording a request only increments numbers (with --metrics-per-sequence,
 * a label object for the sequence too); values kept elsewhere (pending
 * requests) and the request counter are read when scraped.
 */
export class Metrics {
  readonly registry = new Registry();
  /** The same events, as the per-second series and rates of GET /stats. */
  readonly live: LiveStats;
  readonly perSequence: boolean;
  readonly #httpDurations = new RequestDurations(`${METRICS_PREFIX}http_request_duration_seconds`);
  readonly #valuesAllocated: Counter<'sequence'>;
  readonly #replays: Counter;
  readonly #refusals = new Map<ErrorCode, Counter.Internal>();
  readonly #reservations = new Map<ReservationOutcome, Counter.Internal>();
  readonly #commitDuration: Histogram;
  readonly #commitSize: Histogram;
  readonly #commitFailures: Counter;
  #pending: () => number = () => 0;
  #defaultMetricsStarted = false;

  constructor(options: MetricsOptions = {}) {
    this.perSequence = options.perSequence ?? false;
    this.live = new LiveStats({ pending: () => this.#pending() });
    const registers = [this.registry];
    const durations = this.#httpDurations;
    // prom-client's registry takes any object shaped like its metrics; its typings list only its own classes.
    this.registry.registerMetric(durations as unknown as Histogram);
    // The histogram's _count, as a counter of its own for dashboards, read from the same series when scraped.
    new Counter({
      name: `${METRICS_PREFIX}http_requests_total`,
      help: 'HTTP requests answered, by route pattern, method and status code.',
      labelNames: HTTP_LABELS,
      registers,
      collect() {
        this.reset();
        for (const { labels, count } of durations.series()) this.inc(labels, count);
      },
    });
    this.#valuesAllocated = new Counter({
      name: `${METRICS_PREFIX}values_allocated_total`,
      help: this.perSequence
        ? 'Numbers handed out by /next (a batch counts each of its values; replays count nothing), by sequence.'
        : 'Numbers handed out by /next (a batch counts each of its values; replays count nothing).',
      labelNames: this.perSequence ? ['sequence'] : [],
      registers,
    });
    this.#replays = new Counter({
      name: `${METRICS_PREFIX}idempotent_replays_total`,
      help: '/next requests answered with the recorded answer of an earlier request with the same Idempotency-Key.',
      registers,
    });
    const refusals = new Counter({
      name: `${METRICS_PREFIX}allocation_refusals_total`,
      help: '/next requests the allocator refused, by reason.',
      labelNames: ['reason'],
      registers,
    });
    for (const [code, reason] of Object.entries(REFUSAL_REASONS)) {
      // Created up front, so that every reason is exported (at 0) from the start.
      const child = refusals.labels(reason);
      child.inc(0);
      this.#refusals.set(code as ErrorCode, child);
    }
    const reservations = new Counter({
      name: `${METRICS_PREFIX}reservations_total`,
      help:
        'Gapless reservations by how they ended: confirmed, released, voided (a repeated action counts once), ' +
        'or expired (counted when /next hands its value out again).',
      labelNames: ['outcome'],
      registers,
    });
    for (const outcome of RESERVATION_OUTCOMES) {
      const child = reservations.labels(outcome);
      child.inc(0);
      this.#reservations.set(outcome, child);
    }
    this.#commitDuration = new Histogram({
      name: `${METRICS_PREFIX}commit_duration_seconds`,
      help: 'Time the store took to confirm (or fail) one group commit.',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#commitSize = new Histogram({
      name: `${METRICS_PREFIX}commit_batch_size`,
      help: 'Requests per group commit (one transaction and one fsync for all of them).',
      buckets: BATCH_BUCKETS,
      registers,
    });
    this.#commitFailures = new Counter({
      name: `${METRICS_PREFIX}commit_failures_total`,
      help: 'Group commits that failed or timed out (their requests got store_unavailable).',
      registers,
    });
    const pending = (): number => this.#pending();
    new Gauge({
      name: `${METRICS_PREFIX}pending_requests`,
      help: '/next requests (and confirms, releases, voids of gapless reservations) accepted and not yet answered: queued or in a commit.',
      registers,
      collect() {
        this.set(pending());
      },
    });
  }

  /** Where the pending-requests gauge reads its value (the allocator's `pending`). */
  watchPending(read: () => number): void {
    this.#pending = read;
  }

  /** Records one answered HTTP request; `route` is the route pattern, undefined when none matched. */
  observeRequest(route: string | undefined, method: string, statusCode: number, elapsedMs: number): void {
    this.#httpDurations.observe(route ?? UNMATCHED_ROUTE, method, statusCode, elapsedMs / 1000);
    this.live.answered();
  }

  /** Records `count` numbers handed out from sequence `name` (not for replays). */
  allocated(name: string, count: number): void {
    if (this.perSequence) this.#valuesAllocated.inc({ sequence: name }, count);
    else this.#valuesAllocated.inc(count);
    this.live.allocated(name, count);
  }

  /** Records how a gapless reservation ended (not for a repeated action, which changed nothing). */
  reservationSettled(outcome: ReservationOutcome): void {
    this.#reservations.get(outcome)?.inc();
  }

  /** Records an idempotent replay. */
  replayed(): void {
    this.#replays.inc();
  }

  /** Records a refused allocation, if `error` is one of the allocator's refusals. */
  refused(error: unknown): void {
    const known = asAppError(error);
    if (known !== undefined) this.#refusals.get(known.code)?.inc();
  }

  /** The allocator's `onCommit` (bound: pass it as it is). */
  readonly onCommit = (info: CommitInfo): void => {
    this.#commitDuration.observe(info.durationMs / 1000);
    this.#commitSize.observe(info.size);
    if (!info.ok) this.#commitFailures.inc();
    this.live.onCommit(info);
  };

  /** The Content-Type of `render()`. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every metric in the Prometheus text format. */
  async render(): Promise<string> {
    // Started on the first scrape: an app nobody scrapes (tests, embedding)
    // runs no event-loop delay monitor or GC observer.
    if (!this.#defaultMetricsStarted) {
      this.#defaultMetricsStarted = true;
      collectDefaultMetrics({ register: this.registry, prefix: METRICS_PREFIX });
    }
    return this.registry.metrics();
  }
}
