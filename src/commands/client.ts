import type { Writable } from 'node:stream';
import { stringify } from 'lossless-json';
import type { TakeANumber } from 'take-a-number-client';
import { helpOption } from '../help.js';
import { CliError, type CommandContext } from './command.js';

/**
 * What the client commands (`next`, `sequences`) share: where the server is,
 * the token, --json, and how a refusal is reported. They talk to a running
 * server through the SDK (take-a-number-client), with its defaults (3
 * retries, 5000 ms timeout): a retry of `next` reuses its Idempotency-Key, so
 * it never takes a second value. These are client settings, not serve's: they
 * live here rather than in settings.ts. The SDK is imported when a client
 * command runs, so the other commands do not load it at start.
 */

/** The SDK's default server too. */
export const DEFAULT_URL = 'http://localhost:5000';

export const URL_ENV = 'TAKEANUMBER_URL';
export const TOKEN_ENV = 'TAKEANUMBER_TOKEN';

/** --url, --token and --json, which every client command takes. */
export const CLIENT_OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export const CLIENT_HELP = [
  helpOption('--url URL', `The server (env ${URL_ENV}; default ${DEFAULT_URL})`),
  helpOption('--token TOKEN', `An API token, sent as Authorization: Bearer (env ${TOKEN_ENV})`),
].join('\n');

export const CLIENT_EXIT_STATUS = `Exit status: 0 success; 1 the server refused (stderr: error: CODE: message)
or could not be reached (error: network_error or timeout, after 3 retries);
2 wrong usage.`;

interface ClientValues {
  readonly url?: string | undefined;
  readonly token?: string | undefined;
}

const given = (value: string | undefined): value is string => value !== undefined && value !== '';

/** A client of the SDK, and the text of the last answer it received (what `--json` prints as is). */
export interface Connection {
  readonly client: TakeANumber;
  readonly lastAnswer: () => string;
}

/**
 * The SDK's client for --url/TAKEANUMBER_URL and --token/TAKEANUMBER_TOKEN.
 * Its fetch keeps the text of each answer: the SDK's allocation result does
 * not carry the server's JSON, which `next --json` prints as is.
 */
export async function connect(values: ClientValues, env: CommandContext['env']): Promise<Connection> {
  const fromFlag = values.url !== undefined;
  const url = values.url ?? (given(env[URL_ENV]) ? env[URL_ENV] : DEFAULT_URL);
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    throw new CliError(`${fromFlag ? '--url' : URL_ENV}: expected an http:// or https:// URL, got '${url}'.`);
  }
  const token = values.token ?? (given(env[TOKEN_ENV]) ? env[TOKEN_ENV] : undefined);
  let last = '';
  const recording: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    last = await response.clone().text();
    return response;
  };
  const { TakeANumber } = await import('take-a-number-client');
  const client = new TakeANumber({ url: parsed.href, fetch: recording, ...(given(token) ? { token } : {}) });
  return { client, lastAnswer: () => last };
}

/** A refusal of the server, or a failure to reach it: exit status 1, `error: CODE: message` on stderr. */
export class ServerError extends CliError {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`error: ${code}: ${message}`);
    this.name = 'ServerError';
  }
}

/** A 64-bit integer as the API takes it (the server checks its range). */
export const INTEGER = /^-?\d{1,20}$/;

/** Runs a call of the SDK, turning its errors into a ServerError. */
export async function request<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const { TakeANumberError } = await import('take-a-number-client');
    if (error instanceof TakeANumberError) throw new ServerError(error.code, error.message);
    throw error;
  }
}

/** JSON with every bigint written as an exact integer, one line. */
export function writeJson(stdout: Writable, value: unknown): void {
  stdout.write(`${stringify(value) ?? 'null'}\n`);
}
