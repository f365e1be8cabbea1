import { DEFAULT_STORE, parseStoreLocation, type StoreLocation } from './store/open-store.js';
import { StoreOpenError } from './store/store.js';

/**
 * Typed configuration from one place: command-line flags, then environment
 * variables, then defaults. Validated once, with a message naming the setting.
 */

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface ServeConfig {
  readonly port: number;
  readonly host: string;
  readonly store: StoreLocation;
  readonly logLevel: LogLevel;
  /** Create unknown sequences on first use of /next. */
  readonly autoCreate: boolean;
  readonly maxCount: number;
  readonly idempotencyTtlMs: number;
  /** PostgreSQL: connections per instance. */
  readonly poolSize: number;
  /** PostgreSQL: bound on connecting and on each statement. */
  readonly statementTimeoutMs: number;
}

/** A setting has a value that cannot be used; the message names the setting. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** The first value that is set, with the name of where it came from. */
function pick(
  flag: string | undefined,
  flagName: string,
  env: Env,
  envName: string,
): { value: string; source: string } | undefined {
  if (flag !== undefined) return { value: flag, source: flagName };
  const fromEnv = env[envName];
  if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, source: envName };
  return undefined;
}

export function resolveStore(flag: string | undefined, env: Env, cwd: string = process.cwd()): StoreLocation {
  // DATABASE_URL, the usual variable of hosting platforms, counts when no store is given.
  const setting = pick(flag, '--store', env, 'TAKEANUMBER_STORE') ?? pick(undefined, '', env, 'DATABASE_URL');
  try {
    return parseStoreLocation(setting?.value ?? DEFAULT_STORE, cwd);
  } catch (error) {
    if (error instanceof StoreOpenError && setting !== undefined) {
      throw new ConfigError(`${setting.source}: ${error.message}`);
    }
    throw error;
  }
}

export interface ServeFlags {
  readonly port?: string | undefined;
  readonly host?: string | undefined;
  readonly store?: string | undefined;
  readonly logLevel?: string | undefined;
  readonly noAutoCreate?: boolean | undefined;
  readonly maxCount?: string | undefined;
  readonly idempotencyTtl?: string | undefined;
  readonly poolSize?: string | undefined;
  readonly statementTimeout?: string | undefined;
}

function wholeNumber(setting: { value: string; source: string } | undefined, fallback: number, min: number, max: number, what: string): number {
  if (setting === undefined) return fallback;
  const value = /^\d{1,15}$/.test(setting.value) ? Number(setting.value) : Number.NaN;
  if (!(value >= min && value <= max)) {
    throw new ConfigError(`${setting.source}: expected ${what} from ${min} to ${max}, got '${setting.value}'.`);
  }
  return value;
}

const BOOLEAN_WORDS: Readonly<Record<string, boolean>> = { true: true, '1': true, yes: true, false: false, '0': false, no: false };

export function resolveServeConfig(flags: ServeFlags, env: Env, cwd: string = process.cwd()): ServeConfig {
  const portSetting = pick(flags.port, '--port', env, 'PORT');
  let port = 5000;
  if (portSetting !== undefined) {
    port = /^\d{1,5}$/.test(portSetting.value) ? Number(portSetting.value) : Number.NaN;
    if (!(port >= 0 && port <= 65535)) {
      throw new ConfigError(`${portSetting.source}: expected a port number from 0 to 65535, got '${portSetting.value}'.`);
    }
  }
  const hostSetting = pick(flags.host, '--host', env, 'HOST');
  const host = hostSetting?.value ?? '0.0.0.0';
  if (host.trim() === '') throw new ConfigError(`${hostSetting?.source ?? '--host'}: expected a host name or address.`);
  const levelSetting = pick(flags.logLevel, '--log-level', env, 'TAKEANUMBER_LOG_LEVEL');
  const logLevel = levelSetting?.value ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`${levelSetting?.source ?? '--log-level'}: expected one of ${LOG_LEVELS.join(', ')}, got '${logLevel}'.`);
  }
  let autoCreate = true;
  if (flags.noAutoCreate === true) autoCreate = false;
  else if (env.TAKEANUMBER_AUTO_CREATE !== undefined && env.TAKEANUMBER_AUTO_CREATE !== '') {
    const word = BOOLEAN_WORDS[env.TAKEANUMBER_AUTO_CREATE.toLowerCase()];
    if (word === undefined) {
      throw new ConfigError(`TAKEANUMBER_AUTO_CREATE: expected true or false, got '${env.TAKEANUMBER_AUTO_CREATE}'.`);
    }
    autoCreate = word;
  }
  const maxCount = wholeNumber(pick(flags.maxCount, '--max-count', env, 'TAKEANUMBER_MAX_COUNT'), 100_000, 1, 10_000_000, 'a count');
  const ttlHours = wholeNumber(
    pick(flags.idempotencyTtl, '--idempotency-ttl', env, 'TAKEANUMBER_IDEMPOTENCY_TTL'),
    24,
    1,
    24 * 365,
    'a number of hours',
  );
  return {
    port,
    host,
    store: resolveStore(flags.store, env, cwd),
    logLevel: logLevel as LogLevel,
    autoCreate,
    maxCount,
    idempotencyTtlMs: ttlHours * 3_600_000,
    poolSize: wholeNumber(pick(flags.poolSize, '--pool-size', env, 'TAKEANUMBER_POOL_SIZE'), 10, 1, 1000, 'a pool size'),
    statementTimeoutMs: wholeNumber(
      pick(flags.statementTimeout, '--statement-timeout', env, 'TAKEANUMBER_STATEMENT_TIMEOUT'),
      2000,
      100,
      600_000,
      'milliseconds',
    ),
  };
}
