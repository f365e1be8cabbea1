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
  const setting = pick(flag, '--store', env, 'TAKEANUMBER_STORE');
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
}

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
  return { port, host, store: resolveStore(flags.store, env, cwd), logLevel: logLevel as LogLevel };
}
