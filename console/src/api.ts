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

/** What `GET /token` answers: whether the service needs a token, and what the one sent may do. */
export interface TokenInfo {
  readonly tokens_required: boolean;
  readonly token: {
    readonly name: string;
    readonly scopes: readonly string[];
    readonly prefix: string | null;
    readonly created_at: string;
    readonly expires_at: string | null;
  } | null;
}

const CAN_ACT: Ability = { canAct: true, reason: '' };

/**
 * What the token may do to the sequence `name` (to a new one, without a
 * name), by what `GET /token` says of it: the admin routes need the `admin`
 * scope, and a token with a prefix only reaches names starting with it.
 */
export function abilityOf(info: TokenInfo, name?: string): Ability {
  const token = info.token;
  if (token === null) return CAN_ACT; // no token required: the API is open
  if (!token.scopes.includes('admin')) {
    return {
      canAct: false,
      reason: `Your token cannot change sequences: The token '${token.name}' lacks the 'admin' scope these actions need (it has ${token.scopes.join(', ')}).`,
    };
  }
  if (token.prefix !== null && name !== undefined && !name.startsWith(token.prefix)) {
    return { canAct: false, reason: `Your token cannot change this sequence: The token '${token.name}' may only use sequences whose names start with '${token.prefix}'.` };
  }
  return CAN_ACT;
}

/**
 * Learns once what the stored token may do (`GET /token`, which changes
 * nothing and any valid token may ask), and answers for any sequence name
 * from that. Without a stored token the API is either open or asks for one
 * (the other calls' 401 brings up the token form); an unknown token is told
 * so; if the service cannot say, the buttons stay enabled (the API checks).
 */
export async function learnAbility(): Promise<(name?: string) => Ability> {
  if (storedToken() === null) return () => CAN_ACT;
  try {
    const info = await api<TokenInfo>('GET', '/token');
    return (name) => abilityOf(info, name);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      const refused: Ability = { canAct: false, reason: `Your token cannot change sequences: ${error.message}` };
      return () => refused;
    }
    return () => CAN_ACT;
  }
}
