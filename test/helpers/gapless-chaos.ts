/**
 * The load side of the gapless chaos tests: clients that reserve values of
 * gapless sequences and then confirm, release, void or abandon them, every
 * request recorded in a gapless history (helpers/gapless-history.ts); and the
 * end of a run: wait until every lease has ended, list, drain (re-reserve and
 * confirm every free value, lowest first), read the series again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { between, reasonOf, type LoadOptionsOf, type Target } from './chaos.js';
import { until } from './cli.js';
import type { GaplessOperation, GaplessOutcome, GaplessRecorder, ListedValue, SettleAction } from './gapless-model.js';

export interface GaplessSequence {
  readonly name: string;
  readonly leaseSeconds: number;
}

/** The sequences both gapless chaos tests load: short leases, so abandoned values come back during the run. */
export const GAPLESS_SEQUENCES: readonly GaplessSequence[] = [
  { name: 'invoices', leaseSeconds: 1 },
  { name: 'receipts', leaseSeconds: 2 },
];

/** The checker's allowance between the server's clock and the test's (ms), and the wait beyond the last lease. */
export const CLOCK_TOLERANCE_MS = 100;

const REQUEST_LIMIT_MS = 30_000;
const EXPIRES_AT = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** An object with exactly these keys (in this order), or undefined. */
function exactly(text: string, keys: readonly string[]): Record<string, unknown> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const record = parsed as Record<string, unknown>;
  return Object.keys(record).join() === keys.join() ? record : undefined;
}

const wholeNumber = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value);

/** Sends a request and records its outcome; `read` turns a 200's text into the outcome (undefined: unreadable). */
async function recorded(
  complete: (outcome: GaplessOutcome) => GaplessOperation,
  send: () => Promise<Response>,
  read: (text: string, response: Response) => GaplessOutcome | undefined,
): Promise<GaplessOperation> {
  let outcome: GaplessOutcome;
  try {
    const response = await send();
    const text = await response.text();
    if (response.status === 200) outcome = read(text, response) ?? { type: 'invalid', status: 200, text };
    else outcome = { type: 'error', status: response.status, code: /"code":"([a-z_]+)"/.exec(text)?.[1] };
  } catch (error) {
    outcome = { type: 'unknown', reason: reasonOf(error) };
  }
  return complete(outcome);
}

/** `POST {url}/next/{sequence}` (with the key, if any), recorded. */
export function recordedReserve(recorder: GaplessRecorder, target: Target, sequence: GaplessSequence, key?: string): Promise<GaplessOperation> {
  const complete = recorder.invoke({ kind: 'reserve', process: target.process, sequence: sequence.name, leaseSeconds: sequence.leaseSeconds, key });
  return recorded(
    complete,
    () =>
      fetch(`${target.url}/next/${encodeURIComponent(sequence.name)}`, {
        method: 'POST',
        headers: key === undefined ? {} : { 'Idempotency-Key': key },
        signal: AbortSignal.timeout(REQUEST_LIMIT_MS),
      }),
    (text, response) => {
      const body = exactly(text, ['sequence_id', 'next_value', 'reservation', 'expires_at']);
      if (body === undefined || body.sequence_id !== sequence.name || !wholeNumber(body.next_value) || typeof body.reservation !== 'string') return undefined;
      if (typeof body.expires_at !== 'string' || !EXPIRES_AT.test(body.expires_at)) return undefined;
      return {
        type: 'reserved',
        value: BigInt(body.next_value),
        reservation: body.reservation,
        expiresAt: recorder.toTestClock(Date.parse(body.expires_at)),
        replayed: response.headers.get('idempotent-replayed') === 'true',
      };
    },
  );
}

/** `POST {url}/sequences/{sequence}/reservations/{id}/{action}` (void with its reason, if any), recorded. */
export function recordedSettle(recorder: GaplessRecorder, target: Target, sequence: string, reservation: string, action: SettleAction, reason?: string): Promise<GaplessOperation> {
  const complete = recorder.invoke({ kind: 'settle', process: target.process, sequence, reservation, action, reason });
  const withBody = action === 'void' && reason !== undefined;
  return recorded(
    complete,
    () =>
      fetch(`${target.url}/sequences/${encodeURIComponent(sequence)}/reservations/${reservation}/${action}`, {
        method: 'POST',
        ...(withBody ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reason }) } : {}),
        signal: AbortSignal.timeout(REQUEST_LIMIT_MS),
      }),
    (text) => {
      const body = exactly(text, action === 'void' ? ['sequence_id', 'value', 'state', 'reason'] : ['sequence_id', 'value', 'state']);
      if (body === undefined || body.sequence_id !== sequence || !wholeNumber(body.value)) return undefined;
      if (body.state !== 'confirmed' && body.state !== 'free' && body.state !== 'void') return undefined;
      if (action === 'void' && body.reason !== null && typeof body.reason !== 'string') return undefined;
      return { type: 'settled', value: BigInt(body.value), state: body.state, reason: action === 'void' ? (body.reason as string | null) : null };
    },
  );
}

export type GaplessLoadOptions = LoadOptionsOf<GaplessRecorder, GaplessSequence>;

export interface GaplessLoad {
  /** Waits until `more` requests beyond the current count are answered 200 (bounded: fails after `limitMs`). */
  waitForAcknowledged(more: number, what: string, limitMs?: number): Promise<void>;
  /** Stops the callers and waits for them. */
  stop(): Promise<void>;
}

/**
 * Concurrent clients, each: reserve (a third with an Idempotency-Key, some
 * retrying an earlier key), think a little, then confirm (45 %), release
 * (20 %), void (13 %, most with a reason), abandon (15 %: the lease ends) or
 * confirm late, after the lease (7 %: refused as expired). A settle without an
 * answer (or a 503) is sent again, to any live process, up to three times;
 * after an answered one, now and then the same action again (the same 200)
 * or another (409 reservation_settled).
 */
export function startGaplessLoad(options: GaplessLoadOptions): GaplessLoad {
  const { recorder, random } = options;
  const keyed: { sequence: GaplessSequence; key: string }[] = [];
  let acknowledged = 0;
  let stopped = false;
  const pick = async (): Promise<Target> => {
    for (;;) {
      const live = options.targets();
      if (live.length > 0) return live[Math.floor(random() * live.length)] as Target;
      await sleep(5);
    }
  };
  const count = (op: GaplessOperation): GaplessOperation => {
    if (op.outcome.type === 'reserved' || op.outcome.type === 'settled') acknowledged += 1;
    return op;
  };
  const settle = async (sequence: string, reservation: string, action: SettleAction, reason: string | undefined): Promise<GaplessOperation> => {
    let op = count(await recordedSettle(recorder, await pick(), sequence, reservation, action, reason));
    for (let retry = 0; retry < 3 && (op.outcome.type === 'unknown' || (op.outcome.type === 'error' && op.outcome.status >= 500)); retry += 1) {
      await sleep(between(random, 20, 100));
      op = count(await recordedSettle(recorder, await pick(), sequence, reservation, action, reason));
    }
    return op;
  };

  const caller = async (index: number): Promise<void> => {
    for (let i = 0; !stopped; i += 1) {
      const target = await pick();
      const kind = random();
      let request: { sequence: GaplessSequence; key?: string };
      if (kind < 0.08 && keyed.length > 0) request = keyed[Math.floor(random() * keyed.length)] as { sequence: GaplessSequence; key: string };
      else {
        request = { sequence: options.sequences[Math.floor(random() * options.sequences.length)] as GaplessSequence };
        if (kind < 0.35) {
          request = { ...request, key: `${options.keyPrefix}-${index}-${i}` };
          keyed.push(request as { sequence: GaplessSequence; key: string });
        }
      }
      const reserved = count(await recordedReserve(recorder, target, request.sequence, request.key));
      if (reserved.outcome.type !== 'reserved') {
        await sleep(10); // pace the load while a process or the database is away
        continue;
      }
      const { reservation } = reserved.outcome;
      const lease = request.sequence.leaseSeconds * 1000;
      const fate = random();
      // Mostly at once (so kills land on settlements in flight), sometimes after a while (so reservations overlap).
      await sleep(between(random, 0, random() < 0.7 ? 20 : Math.floor(lease / 4)));
      let action: SettleAction;
      if (fate < 0.45) action = 'confirm';
      else if (fate < 0.65) action = 'release';
      else if (fate < 0.78) action = 'void';
      else if (fate < 0.93) continue; // abandoned: the lease ends, the value comes back
      else {
        await sleep(lease + 2 * CLOCK_TOLERANCE_MS); // surely after the lease: refused as expired
        action = 'confirm';
      }
      const reason = action === 'void' && random() < 0.8 ? `cancelled by caller ${index}` : undefined;
      const op = await settle(request.sequence.name, reservation, action, reason);
      if (op.outcome.type === 'settled' && random() < 0.1) {
        const again: SettleAction = random() < 0.5 ? action : action === 'confirm' ? 'void' : 'confirm';
        await settle(request.sequence.name, reservation, again, again === 'void' ? reason : undefined);
      }
    }
  };
  const callers = Array.from({ length: options.callers }, (_, index) => caller(index));

  return {
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

/** Every value `GET {url}/sequences/{name}/values` lists (all states, every page). */
export async function listValues(url: string, name: string): Promise<ListedValue[]> {
  const values: ListedValue[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor === null ? '?limit=1000' : `?limit=1000&cursor=${encodeURIComponent(cursor)}`;
    const response = await fetch(`${url}/sequences/${encodeURIComponent(name)}/values${query}`);
    const text = await response.text();
    if (response.status !== 200) throw new Error(`GET values of ${name}: ${response.status} ${text}`);
    const page = JSON.parse(text) as { values: { value: number; state: ListedValue['state'] }[]; next_cursor: string | null };
    for (const entry of page.values) values.push({ value: BigInt(entry.value), state: entry.state });
    cursor = page.next_cursor;
  } while (cursor !== null);
  return values;
}

/** `GET {url}/sequences/{name}`: a gapless sequence's counts and marks. */
export async function readSeries(url: string, name: string): Promise<{ reserved: number; free: number; confirmedThrough: bigint | null; lastValue: bigint | null }> {
  const response = await fetch(`${url}/sequences/${encodeURIComponent(name)}`);
  const text = await response.text();
  if (response.status !== 200) throw new Error(`GET ${name}: ${response.status} ${text}`);
  const body = JSON.parse(text) as { reserved: number; free: number; confirmed_through: number | null; last_value: number | null };
  const big = (value: number | null): bigint | null => (value === null ? null : BigInt(value));
  return { reserved: body.reserved, free: body.free, confirmedThrough: big(body.confirmed_through), lastValue: big(body.last_value) };
}

/**
 * The end of a run (every client stopped): waits until every lease that may
 * have been granted has ended, then for each sequence lists its values,
 * drains it (each free value reserved and confirmed, one at a time, over the
 * targets in turn) and reads it again, adding a `GaplessFinal` to the recorder.
 * Returns how many values were drained.
 */
export async function drainGapless(recorder: GaplessRecorder, targets: readonly Target[], sequences: readonly GaplessSequence[]): Promise<number> {
  const leaseOf = new Map(sequences.map((sequence) => [sequence.name, sequence.leaseSeconds * 1000]));
  const ended = recorder.operations.reduce((latest, op) => Math.max(latest, op.completed + (op.kind === 'reserve' ? (leaseOf.get(op.sequence) ?? 0) : 0)), 0);
  const wait = ended + 2 * CLOCK_TOLERANCE_MS - performance.now();
  if (wait > 0) await sleep(wait);
  let drained = 0;
  for (const sequence of sequences) {
    const first = targets[0] as Target;
    const listedAt = performance.now();
    const beforeDrain = await listValues(first.url, sequence.name);
    const drainStartedAt = performance.now();
    for (const listed of beforeDrain.filter((value) => value.state === 'free')) {
      const target = targets[drained % targets.length] as Target;
      drained += 1;
      const op = await recordedReserve(recorder, target, sequence);
      // A wrong value is the checker's to report; anything but a reservation stops the drain here.
      if (op.outcome.type !== 'reserved') throw new Error(`drain of ${sequence.name}: /next answered ${JSON.stringify(op.outcome)} for free value ${listed.value}`);
      const confirmed = await recordedSettle(recorder, target, sequence.name, op.outcome.reservation, 'confirm');
      if (confirmed.outcome.type !== 'settled') throw new Error(`drain of ${sequence.name}: confirm answered ${JSON.stringify(confirmed.outcome)}`);
    }
    const afterDrain = await listValues(first.url, sequence.name);
    const series = await readSeries(first.url, sequence.name);
    recorder.finals.push({ sequence: sequence.name, first: 1n, listedAt, beforeDrain, drainStartedAt, afterDrain, ...series });
  }
  return drained;
}
