/**
 * The load side of the chaos tests: `/next` requests recorded in a history
 * (helpers/history.ts), concurrent callers over whichever processes are live,
 * a seeded choice of requests, and retries of keyed requests.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { until } from './cli.js';
import type { HistoryRecorder, Operation, OperationOutcome, OperationRequest } from './history.js';

/** A live `serve` process that requests may go to. */
export interface Target {
  readonly url: string;
  /** Its name in the history (one per process: a restarted instance is a new process). */
  readonly process: string;
}

export interface ChaosSequence {
  readonly name: string;
  readonly cache: number;
}

/** The sequences both chaos suites load: two with cache 1, one with cache 50. */
export const CHAOS_SEQUENCES: readonly ChaosSequence[] = [
  { name: 'plain', cache: 1 },
  { name: 'cached', cache: 50 },
  { name: 'other', cache: 1 },
];

/** The number of cycles: CHAOS_CYCLES, else `fallback` (the short form of the normal test run). */
export function chaosCycles(fallback: number): number {
  const text = process.env.CHAOS_CYCLES;
  if (text === undefined || text === '') return fallback;
  const cycles = Number(text);
  if (!Number.isSafeInteger(cycles) || cycles < 1) throw new Error(`CHAOS_CYCLES must be a whole number from 1, not ${JSON.stringify(text)}`);
  return cycles;
}

/** The seed of the run's choices: CHAOS_SEED, else a random one (printed, so a run's choices can be repeated). */
export function chaosSeed(): number {
  const text = process.env.CHAOS_SEED;
  if (text !== undefined && text !== '') return Number(text) >>> 0;
  return Math.floor(Math.random() * 2 ** 32);
}

/** A small seeded generator (mulberry32): numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A whole number from `low` to `high`, both included. */
export const between = (random: () => number, low: number, high: number): number => low + Math.floor(random() * (high - low + 1));

/** Bound on one request: past it the outcome is recorded as unknown (the checker then asks whether its process was killed). */
const REQUEST_LIMIT_MS = 30_000;

const SINGLE = /^\{"sequence_id":("(?:[^"\\]|\\.)*"),"next_value":(-?\d+)\}$/;
const BATCH = /^\{"sequence_id":("(?:[^"\\]|\\.)*"),"next_value":(-?\d+),"last_value":(-?\d+),"count":(\d+)\}$/;

/** Reads a 200 answer exactly as the README shows it; undefined if it is not that. */
function readAnswer(request: OperationRequest, text: string): { first: bigint; last: bigint } | undefined {
  const match = request.count === undefined ? SINGLE.exec(text) : BATCH.exec(text);
  if (match === null) return undefined;
  const [, id = '', first = '', last = first, count] = match;
  if (JSON.parse(id) !== request.sequence) return undefined;
  if (request.count !== undefined && count !== String(request.count)) return undefined;
  return { first: BigInt(first), last: BigInt(last) };
}

/** Why a request got no answer, in a few words (fetch wraps the socket's error as its cause). */
export function reasonOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause: unknown = error.cause;
  if (cause instanceof Error) return `${error.message}: ${(cause as NodeJS.ErrnoException).code ?? cause.message}`;
  return `${error.name}: ${error.message}`;
}

/** `POST {url}/next/{sequence}[?count=N]` with the request's key, recorded in `recorder`. */
export async function recordedNext(recorder: HistoryRecorder, target: Target, request: Omit<OperationRequest, 'process'>): Promise<Operation> {
  const full: OperationRequest = { ...request, process: target.process };
  const query = request.count === undefined ? '' : `?count=${request.count}`;
  const complete = recorder.invoke(full);
  let outcome: OperationOutcome;
  try {
    const response = await fetch(`${target.url}/next/${encodeURIComponent(request.sequence)}${query}`, {
      method: 'POST',
      headers: request.key === undefined ? {} : { 'Idempotency-Key': request.key },
      signal: AbortSignal.timeout(REQUEST_LIMIT_MS),
    });
    const text = await response.text();
    if (response.status === 200) {
      const values = readAnswer(full, text);
      outcome =
        values === undefined
          ? { type: 'invalid', status: response.status, text }
          : { type: 'ok', ...values, replayed: response.headers.get('idempotent-replayed') === 'true' };
    } else {
      outcome = { type: 'error', status: response.status, code: /"code":"([a-z_]+)"/.exec(text)?.[1] };
    }
  } catch (error) {
    // The connection failed or died (or no answer in time): whatever happened on the server is unknown.
    outcome = { type: 'unknown', reason: reasonOf(error) };
  }
  return complete(outcome);
}

/** What a load of either kind runs with: its recorder and its sequences. */
export interface LoadOptionsOf<Recorder, Sequence> {
  readonly recorder: Recorder;
  /** The processes live now (a killed one is removed before it is killed). */
  readonly targets: () => readonly Target[];
  readonly sequences: readonly Sequence[];
  readonly callers: number;
  readonly random: () => number;
  /** Prefix of the idempotency keys (unique to the run). */
  readonly keyPrefix: string;
}

export type LoadOptions = LoadOptionsOf<HistoryRecorder, ChaosSequence>;

export interface Load {
  /** Acknowledged answers so far. */
  acknowledged(): number;
  /** Waits until `more` answers beyond the current count are acknowledged (bounded: fails after `limitMs`). */
  waitForAcknowledged(more: number, what: string, limitMs?: number): Promise<void>;
  /** Stops the callers and waits for them. */
  stop(): Promise<void>;
  /** The keyed requests sent so far (acknowledged or not), for retries. */
  readonly keyed: readonly Omit<OperationRequest, 'process'>[];
}

/**
 * Concurrent callers, each sending one request after another to a random live
 * process: single requests, batches (`count` 1..20), new keyed requests (single
 * or batch) and retries of earlier keyed requests (acknowledged or not, before
 * or after restarts). After an error or no answer a caller pauses briefly.
 */
export function startLoad(options: LoadOptions): Load {
  const { recorder, random } = options;
  const keyed: Omit<OperationRequest, 'process'>[] = [];
  let acknowledged = 0;
  let stopped = false;

  const caller = async (index: number): Promise<void> => {
    for (let i = 0; !stopped; i += 1) {
      const live = options.targets();
      if (live.length === 0) {
        await sleep(5);
        continue;
      }
      const target = live[Math.floor(random() * live.length)] as Target;
      const sequence = options.sequences[Math.floor(random() * options.sequences.length)] as ChaosSequence;
      const kind = random();
      let request: Omit<OperationRequest, 'process'>;
      if (kind < 0.1 && keyed.length > 0) {
        request = keyed[Math.floor(random() * keyed.length)] as Omit<OperationRequest, 'process'>;
      } else if (kind < 0.35) {
        const count = random() < 0.5 ? undefined : between(random, 1, 20);
        request = { sequence: sequence.name, cache: sequence.cache, count, key: `${options.keyPrefix}-${index}-${i}` };
        keyed.push(request);
      } else if (kind < 0.65) {
        request = { sequence: sequence.name, cache: sequence.cache, count: between(random, 1, 20) };
      } else {
        request = { sequence: sequence.name, cache: sequence.cache };
      }
      const operation = await recordedNext(recorder, target, request);
      if (operation.outcome.type === 'ok') acknowledged += 1;
      else await sleep(10); // pace the load while a process or the database is away
    }
  };
  const callers = Array.from({ length: options.callers }, (_, index) => caller(index));

  return {
    keyed,
    acknowledged: () => acknowledged,
    async waitForAcknowledged(more, what, limitMs = 20_000) {
      const target = acknowledged + more;
      await until(() => acknowledged >= target, limitMs, () => `${what}: fewer than ${more} acknowledged answers within ${limitMs} ms`);
    },
    async stop() {
      stopped = true;
      await Promise.all(callers);
    },
  };
}

/**
 * Retries up to `limit` acknowledged keyed requests (chosen with `random`)
 * over the live targets, `concurrency` at a time, recording them: each must
 * replay its first answer (the checker compares them).
 */
export async function retryAcknowledgedKeys(
  recorder: HistoryRecorder,
  targets: readonly Target[],
  random: () => number,
  limit: number,
  concurrency = 8,
): Promise<number> {
  const seen = new Set<string>();
  const requests: Omit<OperationRequest, 'process'>[] = [];
  for (const operation of recorder.operations) {
    if (operation.key === undefined || operation.outcome.type !== 'ok' || seen.has(operation.key)) continue;
    seen.add(operation.key);
    requests.push({ sequence: operation.sequence, cache: operation.cache, count: operation.count, key: operation.key });
  }
  // A seeded shuffle, then the first `limit`.
  for (let i = requests.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [requests[i], requests[j]] = [requests[j] as Omit<OperationRequest, 'process'>, requests[i] as Omit<OperationRequest, 'process'>];
  }
  const chosen = requests.slice(0, limit);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < chosen.length) {
        const request = chosen[next++] as Omit<OperationRequest, 'process'>;
        await recordedNext(recorder, targets[Math.floor(random() * targets.length)] as Target, request);
      }
    }),
  );
  return chosen.length;
}

/** `PUT {url}/sequences/{name}` with a JSON body; the status and text. */
export async function putSequence(url: string, name: string, body: unknown): Promise<{ status: number; text: string }> {
  const response = await fetch(`${url}/sequences/${encodeURIComponent(name)}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, text: await response.text() };
}
