import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { StoreOpenError } from './core/store.js';
import { helpNote, helpOption } from './help.js';
import { parseStoreLocation } from './store/open-store.js';

/**
 * The settings of `serve`, one row each: its name (also its key in the config
 * file), environment variable, flag, default, parser and help line. config.ts
 * resolves them (flags > environment > config file > defaults), `serve --help`
 * lists them, and the app, the allocator and the stores take their defaults
 * from SERVE_DEFAULTS. A new setting is a new row here (and a row of the
 * README's Configuration table; test/settings.test.ts checks both).
 */

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Which client addresses to believe X-Forwarded-For from (Fastify's trustProxy). */
export type TrustProxy = boolean | number | string[];

/** A value a setting cannot take; config.ts puts where it came from (`--port: …`) before the message. */
export class InvalidValue extends Error {}

/** Reads a value given as text; `base` is the folder relative paths are relative to. */
type Parse<V> = (text: string, base: string) => V;

/** What a setting's help line is written from. */
interface HelpFacts {
  readonly env: string;
  /** The variable read when `env` is unset ('' for none). */
  readonly fallbackEnv: string;
  /** The default as the help shows it ('' for none). */
  readonly default: string;
  /** A switch: what its flag stands for ('' for flags with a value). */
  readonly switchTo: string;
  /** Another setting's environment variable (by its name; typed loosely, as the table's own type is not known yet). */
  envOf(name: string): string;
}

export interface Setting {
  /** The field of the resolved config (ServeConfig): the name, with its unit where the value is converted. */
  readonly field: string;
  readonly env: string;
  /** Read when `env` is unset (the store: DATABASE_URL, the usual variable of hosting platforms). */
  readonly fallbackEnv?: string;
  readonly flag: `--${string}`;
  /** What the flag takes, in the help (`PORT`); none for a switch. */
  readonly arg?: string;
  /** A switch (a flag without value) stands for this value: `--no-auto-create` is autoCreate=false. */
  readonly switchTo?: 'true' | 'false';
  /** The default, as a user would write it (the help and the README show it so); undefined: unset. */
  readonly default: string | undefined;
  readonly parse: Parse<unknown>;
  /** The help's description, lines split at `\n`. */
  readonly help: (facts: HelpFacts) => string;
  /** Listed, with its neighbours, under one note of their variables (the short timeouts of the help). */
  readonly envInNote?: true;
}

const BOOLEAN_WORDS: Readonly<Record<string, boolean>> = { true: true, '1': true, yes: true, false: false, '0': false, no: false };
const HOUR_MS = 3_600_000;

function wholeNumber(min: number, max: number, what: string, options: { digits?: number; scale?: number } = {}): Parse<number> {
  const pattern = new RegExp(`^\\d{1,${options.digits ?? 15}}$`);
  return (text) => {
    const value = pattern.test(text) ? Number(text) : Number.NaN;
    if (!(value >= min && value <= max)) throw new InvalidValue(`expected ${what} from ${min} to ${max}, got '${text}'.`);
    return value * (options.scale ?? 1);
  };
}

const milliseconds = (min: number): Parse<number> => wholeNumber(min, HOUR_MS, 'milliseconds');

function boolean(text: string): boolean {
  const word = BOOLEAN_WORDS[text.toLowerCase()];
  if (word === undefined) throw new InvalidValue(`expected true or false, got '${text}'.`);
  return word;
}

/** A readable file's absolute path. */
function existingFile(text: string, base: string): string {
  const path = resolve(base, text);
  if (!existsSync(path)) throw new InvalidValue(`no such file ${path}.`);
  return path;
}

function storeLocation(text: string, base: string) {
  try {
    return parseStoreLocation(text, base);
  } catch (error) {
    if (error instanceof StoreOpenError) throw new InvalidValue(error.message);
    throw error;
  }
}

function logLevel(text: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(text)) throw new InvalidValue(`expected one of ${LOG_LEVELS.join(', ')}, got '${text}'.`);
  return text as LogLevel;
}

function hostName(text: string): string {
  if (text.trim() === '') throw new InvalidValue('expected a host name or address.');
  return text;
}

/** Proxies to trust: true/false, a hop count, or addresses and CIDR ranges (also loopback, linklocal, uniquelocal). */
function trustProxy(text: string): TrustProxy {
  const value = text.trim();
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
      throw new InvalidValue(
        `expected true, false, a number of proxy hops, or a comma-separated list of addresses and CIDR ranges (or loopback, linklocal, uniquelocal); '${entry}' is none of them.`,
      );
    }
  }
  if (entries.length === 0) throw new InvalidValue('no proxy addresses given.');
  return entries;
}

const onOff = (value: string): string => (boolean(value) ? 'on' : 'off');

export const SERVE_SETTINGS = {
  port: {
    field: 'port', env: 'PORT', flag: '--port', arg: 'PORT', default: '5000',
    parse: wholeNumber(0, 65535, 'a port number', { digits: 5 }),
    help: (s) => `Port to listen on (env ${s.env}; default ${s.default}; 0 picks a free one)`,
  },
  host: {
    field: 'host', env: 'HOST', flag: '--host', arg: 'HOST', default: '0.0.0.0',
    parse: hostName,
    help: (s) => `Address to listen on (env ${s.env}; default ${s.default})`,
  },
  store: {
    field: 'store', env: 'TAKEANUMBER_STORE', fallbackEnv: 'DATABASE_URL', flag: '--store', arg: 'STORE', default: 'sqlite:takeanumber.db',
    parse: storeLocation,
    help: (s) => `sqlite:PATH or postgres://user:pass@host:port/db (env
${s.env}, else ${s.fallbackEnv}; default ${s.default}
in the working directory; missing folders are created)`,
  },
  logLevel: {
    field: 'logLevel', env: 'TAKEANUMBER_LOG_LEVEL', flag: '--log-level', arg: 'LEVEL', default: 'info',
    parse: logLevel,
    help: (s) => `fatal, error, warn, info, debug (logs every request), trace or
silent (env ${s.env}; default ${s.default})`,
  },
  /** Create unknown sequences on first use of /next. */
  autoCreate: {
    field: 'autoCreate', env: 'TAKEANUMBER_AUTO_CREATE', flag: '--no-auto-create', switchTo: 'false', default: 'true',
    parse: boolean,
    help: (s) => `Unknown names on /next answer 404 instead of being created
(env ${s.env}=${s.switchTo}); create them with PUT /sequences/{name}`,
  },
  maxCount: {
    field: 'maxCount', env: 'TAKEANUMBER_MAX_COUNT', flag: '--max-count', arg: 'N', default: '100000',
    parse: wholeNumber(1, 10_000_000, 'a count'),
    help: (s) => `Largest ?count= of one /next request (env ${s.env};
default ${s.default})`,
  },
  idempotencyTtl: {
    field: 'idempotencyTtlMs', env: 'TAKEANUMBER_IDEMPOTENCY_TTL', flag: '--idempotency-ttl', arg: 'HOURS', default: '24',
    parse: wholeNumber(1, 24 * 365, 'a number of hours', { scale: HOUR_MS }),
    help: (s) => `How long Idempotency-Key answers are kept (env
${s.env}; default ${s.default})`,
  },
  /** PostgreSQL: connections per instance. */
  poolSize: {
    field: 'poolSize', env: 'TAKEANUMBER_POOL_SIZE', flag: '--pool-size', arg: 'N', default: '10',
    parse: wholeNumber(1, 1000, 'a pool size'),
    help: (s) => `PostgreSQL connections per instance (env ${s.env};
default ${s.default})`,
  },
  /** PostgreSQL: bound on connecting and on each statement. */
  statementTimeout: {
    field: 'statementTimeoutMs', env: 'TAKEANUMBER_STATEMENT_TIMEOUT', flag: '--statement-timeout', arg: 'MS', default: '2000',
    parse: wholeNumber(100, 600_000, 'milliseconds'),
    help: (s) => `PostgreSQL: bound on connecting and on each statement; past it
requests answer 503 store_unavailable (env
${s.env}; default ${s.default})`,
  },
  /** Most /next requests waiting for a commit; more are refused with 503 overloaded. */
  maxPending: {
    field: 'maxPending', env: 'TAKEANUMBER_MAX_PENDING', flag: '--max-pending', arg: 'N', default: '10000',
    parse: wholeNumber(1, 10_000_000, 'a number of requests'),
    help: (s) => `Most /next requests waiting for the store; more are answered 503
overloaded with Retry-After (env ${s.env}; default ${s.default})`,
  },
  /** Requests per second per token (or client address without tokens); 0: no limit. */
  rateLimit: {
    field: 'rateLimit', env: 'TAKEANUMBER_RATE_LIMIT', flag: '--rate-limit', arg: 'N', default: '0',
    parse: wholeNumber(0, 10_000_000, 'requests per second (0: no limit)'),
    help: (s) => `Requests per second per API token (per client address without
tokens), per instance; more get 429 rate_limited (env
${s.env}; default ${s.default}: no limit)`,
  },
  /** PEM files: both set serves HTTPS (config.ts refuses one without the other). */
  tlsCert: {
    field: 'tlsCert', env: 'TAKEANUMBER_TLS_CERT', flag: '--tls-cert', arg: 'FILE', default: undefined,
    parse: existingFile,
    help: () => 'PEM certificate (chain) and key: serve HTTPS instead of HTTP;',
  },
  tlsKey: {
    field: 'tlsKey', env: 'TAKEANUMBER_TLS_KEY', flag: '--tls-key', arg: 'FILE', default: undefined,
    parse: existingFile,
    help: (s) => `SIGHUP reloads both (env ${s.envOf('tlsCert')}, ${s.env})`,
  },
  trustProxy: {
    field: 'trustProxy', env: 'TAKEANUMBER_TRUST_PROXY', flag: '--trust-proxy', arg: 'LIST', default: 'false',
    parse: trustProxy,
    help: (s) => `Believe X-Forwarded-For from these proxies: true, a hop count, or
addresses/CIDR ranges, comma-separated (env ${s.env};
default ${s.default}: the client address is the connection's)`,
  },
  /** Longest time to receive a whole request. */
  requestTimeout: {
    field: 'requestTimeoutMs', env: 'TAKEANUMBER_REQUEST_TIMEOUT', flag: '--request-timeout', arg: 'MS', default: '30000',
    parse: milliseconds(1000), envInNote: true,
    help: (s) => `Longest time to receive a request (default ${s.default})`,
  },
  /** How long an idle keep-alive connection stays open (above the load balancer's idle timeout). */
  keepAliveTimeout: {
    field: 'keepAliveTimeoutMs', env: 'TAKEANUMBER_KEEP_ALIVE_TIMEOUT', flag: '--keep-alive-timeout', arg: 'MS', default: '65000',
    parse: milliseconds(1000), envInNote: true,
    help: (s) => `Idle keep-alive connections close after this; keep it above
your load balancer's idle timeout (default ${s.default})`,
  },
  /** How long requests in flight get to finish after SIGTERM/SIGINT. */
  shutdownTimeout: {
    field: 'shutdownTimeoutMs', env: 'TAKEANUMBER_SHUTDOWN_TIMEOUT', flag: '--shutdown-timeout', arg: 'MS', default: '10000',
    parse: milliseconds(0), envInNote: true,
    help: (s) => `Time requests in flight get after SIGTERM (default ${s.default})`,
  },
  bodyLimit: {
    field: 'bodyLimit', env: 'TAKEANUMBER_BODY_LIMIT', flag: '--body-limit', arg: 'BYTES', default: '65536',
    parse: wholeNumber(1024, 64 * 1024 * 1024, 'bytes'), envInNote: true,
    help: (s) => `Largest request body (default ${s.default})`,
  },
  /** Label allocation metrics with the sequence name (one series per sequence). */
  metricsPerSequence: {
    field: 'metricsPerSequence', env: 'TAKEANUMBER_METRICS_PER_SEQUENCE', flag: '--metrics-per-sequence', switchTo: 'true', default: 'false',
    parse: boolean,
    help: (s) => `Label allocation metrics by sequence name (one series per sequence;
env ${s.env}; default ${onOff(s.default)})`,
  },
  /** The web console at /console (static files; its data comes from the API with the page's token). */
  console: {
    field: 'console', env: 'TAKEANUMBER_CONSOLE', flag: '--no-console', switchTo: 'false', default: 'true',
    parse: boolean,
    help: (s) => `Turn off the web console: /console answers 404 (env
${s.env}=${s.switchTo}; default on)`,
  },
} as const satisfies Record<string, Setting>;

export type SettingName = keyof typeof SERVE_SETTINGS;
type Table = typeof SERVE_SETTINGS;
/** A setting with no default is undefined when not given. */
type Unset<S> = S extends { default: undefined } ? undefined : never;

/** The resolved serve settings, one field per setting. */
export type ServeConfig = {
  readonly [K in SettingName as Table[K]['field']]: ReturnType<Table[K]['parse']> | Unset<Table[K]>;
};

type Camel<S extends string> = S extends `${infer Head}-${infer Tail}` ? `${Head}${Capitalize<Camel<Tail>>}` : S;
type FlagKey<K extends SettingName> = Table[K]['flag'] extends `--${infer Flag}` ? Camel<Flag> : never;

/** Flags as given on the command line, by the flag's name in camelCase (`--no-auto-create` is noAutoCreate); `config` is the config file's path. */
export type ServeFlags = {
  readonly [K in SettingName as FlagKey<K>]?: (Table[K] extends { switchTo: string } ? boolean : string) | undefined;
} & { readonly config?: string | undefined };

/** The settings, in order, each with its name. */
export const SETTING_ROWS: readonly (Setting & { readonly name: SettingName })[] = (Object.keys(SERVE_SETTINGS) as SettingName[]).map(
  (name) => ({ ...(SERVE_SETTINGS[name] as Setting), name }),
);

/** A flag's key in ServeFlags: the flag in camelCase, `--max-count` is maxCount. */
export const flagKey = (flag: string): string => flag.replace(/^--/, '').replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());

/** Every setting at its default, for library callers (buildApp, openStore) given no value; paths are relative to the working directory. */
export const SERVE_DEFAULTS = Object.fromEntries(
  SETTING_ROWS.map((setting) => [setting.field, setting.default === undefined ? undefined : setting.parse(setting.default, process.cwd())]),
) as ServeConfig; // Built from the same rows as the type: each field has its row's parsed default.

const usage = (setting: Setting): string => (setting.arg === undefined ? setting.flag : `${setting.flag} ${setting.arg}`);

function envOf(name: string): string {
  const setting = SETTING_ROWS.find((row) => row.name === name);
  if (setting === undefined) throw new Error(`No setting named ${name}`);
  return setting.env;
}

/** A setting's description in the help. */
const describe = (setting: Setting): string =>
  setting.help({ env: setting.env, fallbackEnv: setting.fallbackEnv ?? '', default: setting.default ?? '', switchTo: setting.switchTo ?? '', envOf });

/** One setting's lines of a help text (`--store STORE …` is in every command's). */
export const settingHelp = (name: SettingName): string => helpOption(usage(SERVE_SETTINGS[name]), describe(SERVE_SETTINGS[name]));

/** The settings' lines of `serve --help`. */
export function settingsHelp(): string {
  // The settings under one note of their variables get a column wide enough for the longest of their usages.
  const grouped = SETTING_ROWS.filter((setting) => setting.envInNote === true);
  const groupColumn = Math.max(...grouped.map((setting) => usage(setting).length)) + 4;
  const lines: string[] = [];
  SETTING_ROWS.forEach((setting, index) => {
    lines.push(helpOption(usage(setting), describe(setting), setting.envInNote === true ? groupColumn : undefined));
    if (setting.envInNote === true && SETTING_ROWS[index + 1]?.envInNote !== true) lines.push(envNote(grouped.map((member) => member.env)));
  });
  return lines.join('\n');
}

/** `(env TAKEANUMBER_REQUEST_TIMEOUT, _KEEP_ALIVE_TIMEOUT, …)`: the first variable in full, the others after its prefix. */
function envNote(variables: readonly string[]): string {
  const [first = '', ...rest] = variables;
  const prefix = first.slice(0, first.indexOf('_'));
  const names = [first, ...rest.map((env) => env.slice(prefix.length))];
  return helpNote(['(env', ...names.map((name, i) => `${name}${i === names.length - 1 ? ')' : ','}`)]);
}
