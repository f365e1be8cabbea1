import { AppError } from '../errors.js';
import { INT64_MAX, INT64_MIN } from '../core/int64.js';
import { MAX_LEASE_SECONDS, type OptionChanges, type OptionName } from '../core/sequence.js';
import { MAX_REASON_LENGTH, type ValueState } from '../core/gapless.js';

/**
 * Input checks with the catalogue's codes. Ajv cannot check 64-bit values
 * (the lossless JSON parser hands them over as bigint, which Ajv does not count
 * as an integer), so request input is checked here and the route schemas
 * describe it for OpenAPI.
 */

const DECIMAL = /^-?\d+$/;

/** A 64-bit integer given as a JSON integer (bigint from the lossless parser) or a string of decimal digits. */
function int64(value: unknown, field: string): bigint {
  let parsed: bigint | undefined;
  if (typeof value === 'bigint') parsed = value;
  else if (typeof value === 'string' && DECIMAL.test(value) && value.length <= 21) parsed = BigInt(value);
  if (parsed === undefined) {
    throw new AppError('invalid_options', `${field} must be an integer (a JSON integer or a string of decimal digits).`, {
      field,
    });
  }
  if (parsed < INT64_MIN || parsed > INT64_MAX) {
    throw new AppError('invalid_options', `${field} must lie within the signed 64-bit range.`, { field });
  }
  return parsed;
}

function boolean(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') throw new AppError('invalid_options', `${field} must be true or false.`, { field });
  return value;
}

/** A number of seconds: an int64 input small enough to be a JS number (resolveOptions checks the range). */
function wholeSeconds(value: unknown, field: string): number {
  const seconds = int64(value, field);
  if (seconds < BigInt(Number.MIN_SAFE_INTEGER) || seconds > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new AppError('invalid_options', `${field} must be a whole number of seconds from 1 to ${MAX_LEASE_SECONDS}, got ${seconds}.`, { field });
  }
  return Number(seconds);
}

function object(body: unknown): Record<string, unknown> {
  // No body (or an empty one) is no fields at all.
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw new AppError('invalid_body', 'The request body must be a JSON object.');
  }
  return body as Record<string, unknown>;
}

const OPTION_FIELDS: Readonly<Record<OptionName, keyof OptionChanges>> = {
  start: 'start',
  increment: 'increment',
  min_value: 'minValue',
  max_value: 'maxValue',
  cycle: 'cycle',
  cache: 'cache',
  gapless: 'gapless',
  lease_seconds: 'leaseSeconds',
  restart: 'restart',
  time_zone: 'timeZone',
  format: 'format',
};

/** A text option (restart, time_zone, format): a JSON string; format may be null (none). resolveOptions checks the content. */
function text(value: unknown, field: string, nullable: boolean): string | null {
  if (typeof value === 'string') return value;
  if (nullable && value === null) return null;
  throw new AppError('invalid_options', `${field} must be a string${nullable ? ' or null' : ''}.`, { field });
}

/** The body of `PUT /sequences/{name}`: the options to set (all optional). */
export function parseOptionChanges(body: unknown): OptionChanges {
  const changes: Record<string, bigint | boolean | number | string | null> = {};
  for (const [field, value] of Object.entries(object(body))) {
    // hasOwn: a name like "toString" or "__proto__" is unknown, not an inherited member.
    const key = Object.hasOwn(OPTION_FIELDS, field) ? OPTION_FIELDS[field as OptionName] : undefined;
    if (key === undefined) {
      throw new AppError('invalid_options', `Unknown option '${field}'; the options are ${Object.keys(OPTION_FIELDS).join(', ')}.`, {
        field,
      });
    }
    if (field === 'cycle' || field === 'gapless') changes[key] = boolean(value, field);
    // Whole seconds; resolveOptions checks the range (1 to 86400), naming lease_seconds.
    else if (field === 'lease_seconds') changes[key] = wholeSeconds(value, field);
    else if (field === 'restart' || field === 'time_zone' || field === 'format') changes[key] = text(value, field, field === 'format');
    else changes[key] = int64(value, field);
  }
  return changes;
}

export interface ResetRequest {
  readonly nextValue: bigint;
  readonly force: boolean;
}

/** The body of `POST /sequences/{name}/reset`: `{"next_value": N, "force"?: boolean}`. */
export function parseReset(body: unknown): ResetRequest {
  const fields = object(body);
  for (const field of Object.keys(fields)) {
    if (field !== 'next_value' && field !== 'force') {
      throw new AppError('invalid_options', `Unknown field '${field}'; a reset takes next_value and force.`, { field });
    }
  }
  if (fields.next_value === undefined) {
    throw new AppError('invalid_options', 'next_value is required.', { field: 'next_value' });
  }
  return {
    nextValue: int64(fields.next_value, 'next_value'),
    force: fields.force === undefined ? false : boolean(fields.force, 'force'),
  };
}

/** `?count=N`: undefined when absent; else a whole number from 1 to `max`. */
export function parseCount(raw: unknown, max: number): bigint | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw === 'string' && /^\d{1,16}$/.test(raw)) {
    const count = BigInt(raw);
    if (count >= 1n && count <= BigInt(max)) return count;
  }
  throw new AppError('invalid_count', `count must be a whole number from 1 to ${max}.`);
}

const PRINTABLE_ASCII = /^[\x20-\x7e]{1,255}$/;

/** The `Idempotency-Key` header: undefined when absent; else 1 to 255 printable ASCII characters. */
export function parseIdempotencyKey(raw: string | string[] | undefined, rawHeaders: readonly string[]): string | undefined {
  if (raw === undefined) return undefined;
  // Node joins repeated headers with ", ", which could pass for one key: count them.
  let times = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]?.toLowerCase() === 'idempotency-key') times += 1;
  if (times === 1 && typeof raw === 'string' && PRINTABLE_ASCII.test(raw)) return raw;
  throw new AppError(
    'invalid_idempotency_key',
    times > 1 ? 'Send one Idempotency-Key header, not several.' : undefined,
  );
}

/** `?forget=` of a delete: `true` or `false` (default false). */
export function parseForget(raw: unknown): boolean {
  if (raw === undefined || raw === 'false') return false;
  if (raw === 'true') return true;
  throw new AppError('bad_request', 'forget must be true or false.');
}

/** `?limit=N` for listings: 1 to 1000, default 100. */
export function parseLimit(raw: unknown): number {
  if (raw === undefined) return 100;
  if (typeof raw === 'string' && /^\d{1,4}$/.test(raw)) {
    const limit = Number(raw);
    if (limit >= 1 && limit <= 1000) return limit;
  }
  throw new AppError('bad_request', 'limit must be a whole number from 1 to 1000.');
}

/** A listing cursor is the last name of the previous page, base64url-encoded. */
export function encodeCursor(name: string): string {
  return Buffer.from(name, 'utf8').toString('base64url');
}

export function decodeCursor(raw: unknown): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw === 'string' && /^[A-Za-z0-9_-]{1,400}$/.test(raw)) {
    const name = Buffer.from(raw, 'base64url').toString('utf8');
    if (name !== '' && name.isWellFormed() && encodeCursor(name) === raw) return name;
  }
  throw new AppError('invalid_cursor');
}

/** `?prefix=`: a string of at most 255 UTF-8 bytes. */
export function parsePrefix(raw: unknown): string {
  if (raw === undefined) return '';
  if (typeof raw === 'string' && Buffer.byteLength(raw) <= 255) return raw;
  throw new AppError('bad_request', 'prefix must be a single string of at most 255 bytes.');
}

/**
 * The body of a void: none, or `{"reason": "…"}` with a string of at most
 * MAX_REASON_LENGTH characters (code points), or null; undefined: no reason.
 * NUL and unpaired surrogates are refused: no store keeps them as sent, and
 * a replay must echo the reason exactly.
 */
export function parseVoidReason(body: unknown): string | undefined {
  const fields = object(body);
  for (const field of Object.keys(fields)) {
    if (field !== 'reason') throw new AppError('invalid_options', `Unknown field '${field}'; a void takes only reason.`, { field });
  }
  const reason = fields.reason;
  if (reason === undefined || reason === null) return undefined;
  if (typeof reason !== 'string') throw new AppError('invalid_options', 'reason must be a string (or null).', { field: 'reason' });
  const problem = reasonProblem(reason);
  if (problem !== undefined) throw new AppError('invalid_options', problem, { field: 'reason' });
  return reason;
}

/** Why a void's reason cannot be kept (too long, NUL, an unpaired surrogate), else undefined; the import file checks reasons by it too. */
export function reasonProblem(reason: string): string | undefined {
  if (reason.includes('\u0000') || !reason.isWellFormed()) return 'reason must be text without NUL characters or unpaired surrogates.';
  // Characters are code points: the UTF-16 units less the second half of each surrogate pair.
  let length = 0;
  for (let i = 0; i < reason.length; i += 1) {
    const unit = reason.charCodeAt(i);
    if (unit < 0xdc00 || unit > 0xdfff) length += 1;
  }
  return length > MAX_REASON_LENGTH ? `reason must be at most ${MAX_REASON_LENGTH} characters, got ${length}.` : undefined;
}

const VALUE_STATES: readonly ValueState[] = ['reserved', 'free', 'void'];

/** `?state=` of the values listing: reserved, free or void; undefined (all three) when absent. */
export function parseValueState(raw: unknown): ValueState | undefined {
  if (raw === undefined) return undefined;
  const state = VALUE_STATES.find((known) => known === raw);
  if (state === undefined) throw new AppError('bad_request', 'state must be one of reserved, free or void.');
  return state;
}

/** A values listing's cursor: the last value of the previous page, as its decimal digits, base64url-encoded. */
/** The position after a listed value: its period (values are listed by period, then value) and its value. */
export function encodeValueCursor(period: string, value: bigint): string {
  return encodeCursor(period === '' ? String(value) : `${period} ${value}`);
}

export function decodeValueCursor(raw: unknown): { period: string; value: bigint } | undefined {
  const text = decodeCursor(raw);
  if (text === undefined) return undefined;
  // Exactly what encodeValueCursor writes: a period label (2026, 2026-11, 2026-11-30) and a space, then the
  // digits of a 64-bit integer (no "+", leading zeros or "-0").
  const match = /^(?:(\d{4}(?:-\d{2}(?:-\d{2})?)?) )?(0|-?[1-9]\d{0,18})$/.exec(text);
  if (match !== null) {
    const value = BigInt(match[2] as string);
    if (value >= INT64_MIN && value <= INT64_MAX) return { period: match[1] ?? '', value };
  }
  throw new AppError('invalid_cursor');
}
