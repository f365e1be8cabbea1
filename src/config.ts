import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CliError } from './commands/command.js';
import { InvalidValue, SERVE_SETTINGS, SETTING_ROWS, flagKey, type ServeConfig, type ServeFlags, type Setting, type SettingName } from './settings.js';
import type { StoreLocation } from './store/open-store.js';

export type { ServeConfig, ServeFlags } from './settings.js';

/**
 * Typed configuration from one place: command-line flags, then environment
 * variables, then the config file (--config), then defaults, for each setting
 * of the table in settings.ts. Validated once, with a message naming the
 * setting and where its value came from.
 */

/** A setting has a value that cannot be used; the message names the setting. Exit status 1. */
export class ConfigError extends CliError {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** The config file's own setting: a flag and a variable, no key in the file and no default. */
export const CONFIG_FILE = { flag: '--config', env: 'TAKEANUMBER_CONFIG' } as const;

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

const set = (value: string | undefined): value is string => value !== undefined && value !== '';

/** The first value given for a setting: its flag, its variable (an empty one counts as unset), the file. */
function find(name: SettingName, flags: ServeFlags, env: Env, file: ConfigFile | undefined, cwd: string): Found | undefined {
  const setting = SERVE_SETTINGS[name];
  const flag = (flags as Readonly<Record<string, string | boolean | undefined>>)[flagKey(setting.flag)];
  if (typeof flag === 'string') return { value: flag, source: setting.flag, base: cwd };
  // A switch given stands for its value (--no-auto-create: autoCreate=false); not given, it says nothing.
  if (flag === true && 'switchTo' in setting) return { value: setting.switchTo, source: setting.flag, base: cwd };
  for (const variable of 'fallbackEnv' in setting ? [setting.env, setting.fallbackEnv] : [setting.env]) {
    const value = env[variable];
    if (set(value)) return { value, source: variable, base: cwd };
  }
  const fromFile = file?.values.get(name);
  if (fromFile !== undefined && file !== undefined) return { value: fromFile, source: `${file.path}: ${name}`, base: dirname(file.path) };
  return undefined;
}

/** The setting's value: what was found, parsed (a ConfigError naming its source if it cannot be), or the default. */
function valueOf(name: SettingName, found: Found | undefined, cwd: string): unknown {
  const setting: Setting = SERVE_SETTINGS[name];
  if (found === undefined) return setting.default === undefined ? undefined : setting.parse(setting.default, cwd);
  try {
    return setting.parse(found.value, found.base);
  } catch (error) {
    if (error instanceof InvalidValue) throw new ConfigError(`${found.source}: ${error.message}`);
    throw error;
  }
}

/** The store of commands other than serve: --store, TAKEANUMBER_STORE, DATABASE_URL, default. */
export function resolveStore(flag: string | undefined, env: Env, cwd: string = process.cwd()): StoreLocation {
  return valueOf('store', find('store', { store: flag }, env, undefined, cwd), cwd) as StoreLocation; // The store row parses into a StoreLocation.
}

export function resolveServeConfig(flags: ServeFlags, env: Env, cwd: string = process.cwd()): ServeConfig {
  const configPath = flags.config ?? (set(env[CONFIG_FILE.env]) ? env[CONFIG_FILE.env] : undefined);
  const file = configPath === undefined ? undefined : readConfigFile(configPath, cwd);
  const config: Record<string, unknown> = {};
  for (const { name, field } of SETTING_ROWS) config[field] = valueOf(name, find(name, flags, env, file, cwd), cwd);
  const { tlsCert, tlsKey } = SERVE_SETTINGS;
  if ((config[tlsCert.field] === undefined) !== (config[tlsKey.field] === undefined)) {
    throw new ConfigError(`${tlsCert.flag} and ${tlsKey.flag} go together: give both (PEM files) to serve HTTPS, or neither.`);
  }
  return config as ServeConfig; // One field per row of the table, each parsed by its row: what ServeConfig says.
}
