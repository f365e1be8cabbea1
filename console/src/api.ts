/**
 * Every call to the service's API: the token from sessionStorage as Bearer,
 * answers parsed exactly (integers stay the decimal text the server wrote, so
 * 64-bit values are never rounded through a JS number), errors as ApiError
 * with the API's code and message.
 */
import { parse } from 'lossless-json';

/** A JSON integer as the server wrote it (exact, possibly beyond 2^53). */
export type Int = string;

export interface Sequence {
  readonly name: string;
  readonly last_value: Int | null;
  readonly next_value: Int | null;
  readonly start: Int;
  readonly increment: Int;
  readonly min_value: Int;
  readonly max_value: Int;
  readonly cycle: boolean;
  readonly cache: Int;
  readonly gapless: boolean;
  readonly lease_seconds: Int;
  readonly restart?: string;
  readonly time_zone?: string;
  readonly format?: string | null;
  readonly period?: string | null;
  readonly created_at: string;
  readonly updated_at: string;
  readonly confirmed_through?: Int | null;
  readonly reserved?: Int;
  readonly free?: Int;
}

export interface SequencePage {
  readonly sequences: Sequence[];
  readonly next_cursor: string | null;
}

export interface GaplessValue {
  readonly value: Int;
  readonly state: 'reserved' | 'free' | 'void';
  readonly updated_at: string;
  readonly expires_at?: string;
  readonly reason?: string | null;
  readonly period?: string | null;
  readonly formatted?: string | null;
}

export interface ValuePage {
  readonly values: GaplessValue[];
  readonly next_cursor: string | null;
}

/** Per-second series; commit latencies and batch size are null for a second without commits. */
export type Series = Record<string, (Int | null)[] | undefined>;

export interface Stats {
  readonly version: string;
  readonly started_at: string;
  readonly uptime_seconds: Int;
  readonly store: { readonly kind: string; readonly path?: string; readonly host?: string; readonly port?: Int; readonly database?: string };
  readonly interval_seconds: Int;
  readonly series: Series;
  readonly errors: Record<string, Int>;
  readonly busiest: { readonly name: string; readonly numbers_per_second: Int }[];
  readonly rates?: Record<string, Int>;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const TOKEN_KEY = 'take-a-number.token';

export function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function storeToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

/** Called with every 401: the page then asks for a token. */
let unauthorized: (error: ApiError) => void = () => undefined;

export function onUnauthorized(listener: (error: ApiError) => void): void {
  unauthorized = listener;
}

/** Parses a JSON answer; every number stays its exact text. */
export function parseExact(text: string): unknown {
  return parse(text, null, (number: string) => number);
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = storedToken();
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const init: RequestInit = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response: Response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, 'network_error', `The service did not answer (${error instanceof Error ? error.message : String(error)}).`);
  }
  const text = await response.text();
  if (!response.ok) {
    const error = errorOf(response, text);
    if (response.status === 401) unauthorized(error);
    throw error;
  }
  return (text === '' ? undefined : parseExact(text)) as T;
}

function errorOf(response: Response, text: string): ApiError {
  try {
    const body = parseExact(text) as { error?: { code?: unknown; message?: unknown } };
    const { code, message } = body.error ?? {};
    if (typeof code === 'string' && typeof message === 'string') return new ApiError(response.status, code, message);
  } catch {
    // not JSON: described below by its status
  }
  return new ApiError(response.status, `http_${response.status}`, `${response.status} ${response.statusText}`.trim());
}

export const sequencePath = (name: string, rest = ''): string => `/sequences/${encodeURIComponent(name)}${rest}`;

/** Whether the API lets this page change sequences, and if not, why. */
export interface Ability {
  readonly canAct: boolean;
  readonly reason: string;
}

/**
 * Learns whether the token may use the admin routes, without changing
 * anything: a DELETE whose `forget` is invalid is checked for its scope
 * before the query (403 forbidden without admin), and then refused by the
 * query check (400) before anything is deleted. Without a token the API is
 * either open (the service has no tokens) or asks for one (401).
 */
export async function probeAbility(name: string): Promise<Ability> {
  if (storedToken() === null) return { canAct: true, reason: '' };
  try {
    await api('DELETE', sequencePath(name, '?forget=scope-check'));
    return { canAct: true, reason: '' };
  } catch (error) {
    if (error instanceof ApiError && (error.status === 403 || error.status === 401)) {
      return { canAct: false, reason: `Your token cannot change sequences: ${error.message}` };
    }
    return { canAct: true, reason: '' };
  }
}
