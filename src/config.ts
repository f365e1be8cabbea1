import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { DEFAULT_STORE, parseStoreLocation, type StoreLocation } from './store/open-store.js';
import { StoreOpenError } from './core/store.js';

/**
 * Typed configuration from one place: command-line flags, then environment
 * variables, then the config file (--config), then defaults. Validated once,
 * with a message naming the setting and where its value came from.
 */

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Which client addresses to believe X-Forwarded-For from (Fastify's trustProxy). */
export type TrustProxy = boolean | number | string[];

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
  /** Most /next requests waiting for a commit; more are refused with 503 overloaded. */
  readonly maxPending: number;
  /** Requests per second per token (or client address without tokens); 0: no limit. */
  readonly rateLimit: number;
  /** PEM files: both set serves HTTPS. */
  readonly tlsCert: string | undefined;
  readonly tlsKey: string | undefined;
  readonly trustProxy: TrustProxy;
  /** Longest time to receive a whole request. */
  readonly requestTimeoutMs: number;
  /** How long an idle keep-alive connection stays open (above the load balancer's idle timeout). */
  readonly keepAliveTimeoutMs: number;
  /** How long requests in flight get to finish after SIGTERM/SIGINT. */
  readonly shutdownTimeoutMs: number;
  readonly bodyLimit: number;
  /** Label allocation metrics with the sequence name (one series per sequence). */
  readonly metricsPerSequence: boolean;
}

/** A setting has a value that cannot be used; the message names the setting. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Every serve setting: its name (also its key in the config file), its
 * environment variable; the flag is the name in kebab-case (`maxCount` is
 * --max-count), except autoCreate, whose flag is --no-auto-create.
 */
export const SERVE_SETTINGS = {
  port: 'PORT',
  host: 'HOST',
  store: 'TAKEANUMBER_STORE',
  logLevel: 'TAKEANUMBER_LOG_LEVEL',
  autoCreate: 'TAKEANUMBER_AUTO_CREATE',
  maxCount: 'TAKEANUMBER_MAX_COUNT',
  idempotencyTtl: 'TAKEANUMBER_IDEMPOTENCY_TTL',
  poolSize: 'TAKEANUMBER_POOL_SIZE',
  statementTimeout: 'TAKEANUMBER_STATEMENT_TIMEOUT',
  maxPending: 'TAKEANUMBER_MAX_PENDING',
  rateLimit: 'TAKEANUMBER_RATE_LIMIT',
  tlsCert: 'TAKEANUMBER_TLS_CERT',
  tlsKey: 'TAKEANUMBER_TLS_KEY',
  trustProxy: 'TAKEANUMBER_TRUST_PROXY',
  requestTimeout: 'TAKEANUMBER_REQUEST_TIMEOUT',
  keepAliveTimeout: 'TAKEANUMBER_KEEP_ALIVE_TIMEOUT',
  shutdownTimeout: 'TAKEANUMBER_SHUTDOWN_TIMEOUT',
  bodyLimit: 'TAKEANUMBER_BODY_LIMIT',
  metricsPerSequence: 'TAKEANUMBER_METRICS_PER_SEQUENCE',
} as const;

export type SettingName = keyof typeof SERVE_SETTINGS;

/** The settings whose flags are switches (no value); every other flag takes one. */
export const SWITCH_SETTINGS = ['autoCreate', 'metricsPerSequence'] as const satisfies readonly SettingName[];

/** Flags as given on the command line, by setting name; `config` is the config file's path. */
export type ServeFlags = { readonly [name in Exclude<SettingName, (typeof SWITCH_SETTINGS)[number]>]?: string | undefined } & {
  readonly noAutoCreate?: boolean | undefined;
  readonly metricsPerSequence?: boolean | undefined;
  readonly config?: string | undefined;
};

export const flagOf = (name: SettingName): string =>
  name === 'autoCreate' ? '--no-auto-create' : `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

interface Found {
  readonly value: string;
  /** Where the value came from, for messages: `--port`, `PORT`, `takeanumber.json: port`. */
  readonly source: string;
  /** Folder that relative paths in the value are relative to. */
  readonly base: string;
}

/** A parsed config file: its values as strings, by setting name. */
interface ConfigFile {
  readonly path: string;
  readonly values: ReadonlyMap<string, string>;
}

export function readConfigFile(path: string, cwd: string): ConfigFile {
  const file = resolve(cwd, path);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`Cannot read the config file ${file}: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`The config file ${file} must hold a JSON object of settings.`);
  }
  const values = new Map<string, string>();
  for (const [key, value] of Object.entries(parsed)) {
    if (!Object.hasOwn(SERVE_SETTINGS, key)) {
      throw new ConfigError(`${file}: unknown setting '${key}'; known settings: ${Object.keys(SERVE_SETTINGS).join(', ')}.`);
    }
    if (typeof value === 'string') values.set(key, value);
    else if (typeof value === 'number' || typeof value === 'boolean') values.set(key, String(value));
    else if (Array.isArray(value) && value.every((item) => typeof item === 'string')) values.set(key, value.join(','));
    else throw new ConfigError(`${file}: ${key}: expected a string, number or boolean, got ${JSON.stringify(value)}.`);
  }
  return { path: file, values };
}

class Sources {
  constructor(
    readonly flags: ServeFlags,
    readonly env: Env,
    readonly file: ConfigFile | undefined,
    readonly cwd: string,
  ) {}

  /** The first value that is set: flag, environment, file. */
  find(name: SettingName): Found | undefined {
    const flag = (this.flags as Readonly<Record<string, unknown>>)[name];
    if (typeof flag === 'string') return { value: flag, source: flagOf(name), base: this.cwd };
    const envName = SERVE_SETTINGS[name];
    const fromEnv = this.env[envName];
    if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, source: envName, base: this.cwd };
    const fromFile = this.file?.values.get(name);
    if (fromFile !== undefined && this.file !== undefined) {
      return { value: fromFile, source: `${this.file.path}: ${name}`, base: dirname(this.file.path) };
    }
    return undefined;
  }

  wholeNumber(name: SettingName, fallback: number, min: number, max: number, what: string): number {
    const setting = this.find(name);
    if (setting === undefined) return fallback;
    const value = /^\d{1,15}$/.test(setting.value) ? Number(setting.value) : Number.NaN;
    if (!(value >= min && value <= max)) {
      throw new ConfigError(`${setting.source}: expected ${what} from ${min} to ${max}, got '${setting.value}'.`);
    }
    return value;
  }

  boolean(name: SettingName, fallback: boolean): boolean {
    const setting = this.find(name);
    if (setting === undefined) return fallback;
    const word = BOOLEAN_WORDS[setting.value.toLowerCase()];
    if (word === undefined) throw new ConfigError(`${setting.source}: expected true or false, got '${setting.value}'.`);
    return word;
  }

  /** A readable file's absolute path. */
  path(name: SettingName): string | undefined {
    const setting = this.find(name);
    if (setting === undefined) return undefined;
    const path = resolve(setting.base, setting.value);
    if (!existsSync(path)) throw new ConfigError(`${setting.source}: no such file ${path}.`);
    return path;
  }
}

const BOOLEAN_WORDS: Readonly<Record<string, boolean>> = { true: true, '1': true, yes: true, false: false, '0': false, no: false };

function storeFrom(setting: Found | undefined, cwd: string): StoreLocation {
  try {
    return parseStoreLocation(setting?.value ?? DEFAULT_STORE, setting?.base ?? cwd);
  } catch (error) {
    if (error instanceof StoreOpenError && setting !== undefined) {
      throw new ConfigError(`${setting.source}: ${error.message}`);
    }
    throw error;
  }
}

/** The store of commands other than serve: --store, TAKEANUMBER_STORE, DATABASE_URL, default. */
export function resolveStore(flag: string | undefined, env: Env, cwd: string = process.cwd()): StoreLocation {
  const sources = new Sources({ store: flag }, env, undefined, cwd);
  return storeFrom(sources.find('store') ?? databaseUrl(env, cwd), cwd);
}

// DATABASE_URL, the usual variable of hosting platforms, counts when no store is given.
function databaseUrl(env: Env, cwd: string): Found | undefined {
  const url = env.DATABASE_URL;
  return url === undefined || url === '' ? undefined : { value: url, source: 'DATABASE_URL', base: cwd };
}

/** Proxies to trust: true/false, a hop count, or addresses and CIDR ranges (also loopback, linklocal, uniquelocal). */
function trustProxyFrom(setting: Found | undefined): TrustProxy {
  if (setting === undefined) return false;
  const value = setting.value.trim();
  const word = BOOLEAN_WORDS[value.toLowerCase()];
  if (word !== undefined && !/^\d+$/.test(value)) return word;
  if (/^\d{1,3}$/.test(value)) return Number(value);
  const entries = value.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  for (const entry of entries) {
    if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) continue;
    const [address = '', bits, extra] = entry.split('/');
    const version = isIP(address);
    const maxBits = version === 6 ? 128 : 32;
    if (version === 0 || extra !== undefined || (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= maxBits))) {
      throw new ConfigError(
        `${setting.source}: expected true, false, a number of proxy hops, or a comma-separated list of addresses and CIDR ranges (or loopback, linklocal, uniquelocal); '${entry}' is none of them.`,
      );
    }
  }
  if (entries.length === 0) throw new ConfigError(`${setting.source}: no proxy addresses given.`);
  return entries;
}

export function resolveServeConfig(flags: ServeFlags, env: Env, cwd: string = process.cwd()): ServeConfig {
  const configPath = flags.config ?? (env.TAKEANUMBER_CONFIG === '' ? undefined : env.TAKEANUMBER_CONFIG);
  const sources = new Sources(flags, env, configPath === undefined ? undefined : readConfigFile(configPath, cwd), cwd);

  const portSetting = sources.find('port');
  let port = 5000;
  if (portSetting !== undefined) {
    port = /^\d{1,5}$/.test(portSetting.value) ? Number(portSetting.value) : Number.NaN;
    if (!(port >= 0 && port <= 65535)) {
      throw new ConfigError(`${portSetting.source}: expected a port number from 0 to 65535, got '${portSetting.value}'.`);
    }
  }
  const hostSetting = sources.find('host');
  const host = hostSetting?.value ?? '0.0.0.0';
  if (host.trim() === '') throw new ConfigError(`${hostSetting?.source ?? '--host'}: expected a host name or address.`);
  const levelSetting = sources.find('logLevel');
  const logLevel = levelSetting?.value ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`${levelSetting?.source ?? '--log-level'}: expected one of ${LOG_LEVELS.join(', ')}, got '${logLevel}'.`);
  }
  const tlsCert = sources.path('tlsCert');
  const tlsKey = sources.path('tlsKey');
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    throw new ConfigError('--tls-cert and --tls-key go together: give both (PEM files) to serve HTTPS, or neither.');
  }
  const ms = (name: SettingName, fallback: number, min: number): number => sources.wholeNumber(name, fallback, min, 3_600_000, 'milliseconds');
  return {
    port,
    host,
    store: storeFrom(sources.find('store') ?? databaseUrl(env, cwd), cwd),
    logLevel: logLevel as LogLevel,
    autoCreate: flags.noAutoCreate === true ? false : sources.boolean('autoCreate', true),
    maxCount: sources.wholeNumber('maxCount', 100_000, 1, 10_000_000, 'a count'),
    idempotencyTtlMs: sources.wholeNumber('idempotencyTtl', 24, 1, 24 * 365, 'a number of hours') * 3_600_000,
    poolSize: sources.wholeNumber('poolSize', 10, 1, 1000, 'a pool size'),
    statementTimeoutMs: sources.wholeNumber('statementTimeout', 2000, 100, 600_000, 'milliseconds'),
    maxPending: sources.wholeNumber('maxPending', 10_000, 1, 10_000_000, 'a number of requests'),
    rateLimit: sources.wholeNumber('rateLimit', 0, 0, 10_000_000, 'requests per second (0: no limit)'),
    tlsCert,
    tlsKey,
    trustProxy: trustProxyFrom(sources.find('trustProxy')),
    requestTimeoutMs: ms('requestTimeout', 30_000, 1000),
    keepAliveTimeoutMs: ms('keepAliveTimeout', 65_000, 1000),
    shutdownTimeoutMs: ms('shutdownTimeout', 10_000, 0),
    bodyLimit: sources.wholeNumber('bodyLimit', 64 * 1024, 1024, 64 * 1024 * 1024, 'bytes'),
    metricsPerSequence: flags.metricsPerSequence === true ? true : sources.boolean('metricsPerSequence', false),
  };
}
