#!/usr/bin/env node
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { backupCommand } from './commands/backup.js';
import { DestinationError } from './commands/destination.js';
import { exportSequences } from './commands/export.js';
import { ImportFileError, importFile } from './commands/import.js';
import { serve } from './commands/serve.js';
import { createToken, listTokens, revokeToken } from './commands/token.js';
import { CONFIG_FILE, ConfigError, resolveServeConfig, resolveStore, type ServeFlags } from './config.js';
import { helpOption } from './help.js';
import { flagKey, SERVE_SETTINGS, SETTING_ROWS, settingHelp, settingsHelp } from './settings.js';
import { describeLocation, openStore } from './store/open-store.js';
import { StoreOpenError } from './core/store.js';
import { TokenNameTakenError } from './tokens/token-store.js';
import { VERSION } from './version.js';

const { store } = SERVE_SETTINGS;
const STORE_HELP = settingHelp('store');
const EXISTING_STORE_HELP = helpOption(
  '--store STORE',
  `sqlite:PATH of an existing store, or postgres://… (env
${store.env}, else ${store.fallbackEnv}; default ${store.default}
in the working directory)`,
);

const HELP = {
  main: `take-a-number ${VERSION}: a sequence-number service (unique, increasing numbers over HTTP)

Usage: take-a-number <command> [options]

Commands:
  serve              Run the HTTP service (POST /next/{name} answers the next number)
  import FILE        Load a sequences.json (or a full export) into the store
  export [FILE]      Write the store as sequences.json (to stdout without FILE)
  migrate            Create or upgrade the store's schema, then exit
  token create|list|revoke
                     Manage API tokens (once one exists, the API needs a token)
  backup FILE        Copy a SQLite store to FILE, also while a server uses it

Options:
  -h, --help         Show help (also: take-a-number <command> --help)
  -v, --version      Show the version

Exit status: 0 success, 1 failure, 2 wrong usage.`,
  serve: `Usage: take-a-number serve [options]

Opens and checks the store, takes its writer lock (one server per SQLite
store), then listens. SIGTERM or SIGINT stops it gracefully.

Options:
${settingsHelp()}
${helpOption(
  `${CONFIG_FILE.flag} FILE`,
  `A JSON file of these settings by name ({"port": 5000, "logLevel":
"warn", "trustProxy": ["10.0.0.0/8"]}); flags and environment
override it (env ${CONFIG_FILE.env})`,
)}
  -h, --help         Show this help`,
  import: `Usage: take-a-number import FILE [--store STORE]

Reads a Python TakeANumber sequences.json ({"name": last_issued_value}), or
a file of 'export --format full', and raises each counter to its value; a
counter already further along is never moved back.
An invalid file changes nothing. Refused while a server uses the store.

Options:
${STORE_HELP}
  -h, --help         Show this help`,
  export: `Usage: take-a-number export [FILE] [--format plain|full] [--store STORE]

Writes the store to FILE (replaced atomically) or to stdout. Works while a
server uses the store.

Options:
  --format plain     (default) the Python service's sequences.json:
                     {"name": last_issued_value}
  --format full      every sequence with all its options and exact position,
                     for moving between stores (SQLite to PostgreSQL); import
                     reads either format
${EXISTING_STORE_HELP}
  -h, --help         Show this help`,
  migrate: `Usage: take-a-number migrate [--store STORE]

Creates or upgrades the store's schema and exits. serve does this at start
too; run it ahead of a rolling deployment of several instances. Safe to run
while other instances start: migrations are applied once, under a lock.

Options:
${STORE_HELP}
  -h, --help         Show this help`,
  backup: `Usage: take-a-number backup FILE [--store STORE]

Copies a SQLite store to FILE while a server may be using it: a consistent
snapshot (SQLite's online backup API), checked, written to a temporary file,
fsynced, then renamed over FILE. The copy is a store: 'serve --store FILE'
opens it. Restoring it moves counters back to the snapshot; see the README
(Backup and restore). For PostgreSQL stores use pg_dump.

Options:
${helpOption(
  '--store STORE',
  `sqlite:PATH of an existing store (env ${store.env},
else ${store.fallbackEnv}; default ${store.default} in the
working directory)`,
)}
  -h, --help         Show this help`,
  token: `Usage: take-a-number token create --name NAME --scope SCOPE [--scope …]
                                  [--expires-in DURATION] [--prefix PREFIX] [--store STORE]
       take-a-number token list [--store STORE]
       take-a-number token revoke NAME [--store STORE]

API tokens. While a store holds no token, every endpoint is open; once one
exists, every endpoint but /healthz, /readyz, /openapi.json and /docs needs
Authorization: Bearer <token>. Works while servers run on the store: they see
a new or revoked token within a few seconds. The store keeps only a SHA-256
hash of each token.

  create             Prints the new token once, on the last line of stdout;
                     an audit line goes to stderr. Creates the store if missing.
  list               Names, scopes, prefixes, creation, expiry and last use
  revoke NAME        Deletes the token

Options:
  --name NAME        1-64 letters, digits, '.', '_' or '-'
  --scope SCOPE      next (POST /next), read (GET /sequences…, /metrics) or admin
                     (everything: options, reset, delete; implies read and next).
                     Repeat for several.
  --expires-in DURATION
                     e.g. 90m, 12h, 30d, 2w (default: never)
  --prefix PREFIX    Only sequences whose names start with PREFIX (multi-tenant use)
${STORE_HELP}
  -h, --help         Show this help`,
} as const;

type Command = keyof typeof HELP;

/** Wrong usage: the message and the command's help go to stderr, exit 2. */
class UsageError extends Error {
  constructor(
    message: string,
    readonly command: Command,
  ) {
    super(message);
  }
}

const STORE_OPTION = { store: { type: 'string' } } as const;

/** serve's flags: one per setting (a switch for the settings that are), and --config. */
const SERVE_OPTIONS = Object.fromEntries([
  [CONFIG_FILE.flag.slice(2), { type: 'string' }],
  ...SETTING_ROWS.map((setting) => [setting.flag.slice(2), { type: setting.switchTo === undefined ? 'string' : 'boolean' }]),
]) as Readonly<Record<string, { readonly type: 'string' | 'boolean' }>>;
const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

function parse<T extends NonNullable<ParseArgsConfig['options']>>(command: Command, args: string[], options: T) {
  try {
    return parseArgs({ args, options: { ...options, ...HELP_OPTION }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message, command);
  }
}

function positionals(command: Command, values: string[], min: number, max: number): string[] {
  if (values.length < min) throw new UsageError('Missing argument.', command);
  if (values.length > max) throw new UsageError(`Unexpected argument '${values[max] ?? ''}'.`, command);
  return values;
}

async function run(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError('No command given.', 'main');
  if (first === '-h' || first === '--help' || first === 'help') return printHelp('main');
  if (first === '-v' || first === '--version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (!(first in HELP) || first === 'main') throw new UsageError(`Unknown command '${first}'.`, 'main');
  const command = first as Command;

  switch (command) {
    case 'serve': {
      const parsed = parse(command, rest, SERVE_OPTIONS);
      const values = parsed.values as Readonly<Record<string, string | boolean | undefined>>;
      if (values.help === true) return printHelp(command);
      positionals(command, parsed.positionals, 0, 0);
      // parseArgs names the values by flag (max-count); the settings by the flag in camelCase (maxCount).
      const flags: ServeFlags = Object.fromEntries(Object.entries(values).map(([flag, value]) => [flagKey(flag), value]));
      await serve(resolveServeConfig(flags, process.env));
      return 0;
    }
    case 'import': {
      const { values, positionals: args } = parse(command, rest, STORE_OPTION);
      if (values.help) return printHelp(command);
      const [file] = positionals(command, args, 1, 1) as [string];
      const location = resolveStore(values.store, process.env);
      const summary = await importFile(file, location);
      const total = summary.created + summary.raised + summary.unchanged;
      process.stdout.write(
        `Imported ${total} sequences from ${file} into ${describeLocation(location)}: ` +
          `${summary.created} created, ${summary.raised} raised, ${summary.unchanged} already at or beyond the file's value` +
          `${summary.deleted > 0 ? `; ${summary.deleted} deleted names kept with the values they handed out` : ''}.\n`,
      );
      return 0;
    }
    case 'export': {
      const { values, positionals: args } = parse(command, rest, { ...STORE_OPTION, format: { type: 'string' } });
      if (values.help) return printHelp(command);
      const [file] = positionals(command, args, 0, 1);
      const format = values.format ?? 'plain';
      if (format !== 'plain' && format !== 'full') {
        throw new UsageError(`--format must be plain or full, got '${format}'.`, command);
      }
      await exportSequences(resolveStore(values.store, process.env), file, process.stdout, format);
      if (file !== undefined) process.stderr.write(`Exported the store to ${file}.\n`);
      return 0;
    }
    case 'migrate': {
      const { values, positionals: args } = parse(command, rest, STORE_OPTION);
      if (values.help) return printHelp(command);
      positionals(command, args, 0, 0);
      const location = resolveStore(values.store, process.env);
      const store = await openStore(location, { mode: 'write' });
      await store.close();
      process.stdout.write(`The store ${describeLocation(location)} is at the current schema version.\n`);
      return 0;
    }
    case 'backup': {
      const { values, positionals: args } = parse(command, rest, STORE_OPTION);
      if (values.help) return printHelp(command);
      const [file] = positionals(command, args, 1, 1) as [string];
      return backupCommand(file, resolveStore(values.store, process.env));
    }
    case 'token': {
      const { values, positionals: args } = parse(command, rest, {
        ...STORE_OPTION,
        name: { type: 'string' },
        scope: { type: 'string', multiple: true },
        'expires-in': { type: 'string' },
        prefix: { type: 'string' },
      });
      if (values.help) return printHelp(command);
      const [action, ...more] = args;
      const location = resolveStore(values.store, process.env);
      if (action === 'create') {
        positionals(command, more, 0, 0);
        await createToken(location, { name: values.name, scopes: values.scope ?? [], expiresIn: values['expires-in'], prefix: values.prefix });
      } else if (action === 'list') {
        positionals(command, more, 0, 0);
        await listTokens(location);
      } else if (action === 'revoke') {
        const [name] = positionals(command, more, 1, 1) as [string];
        await revokeToken(location, name);
      } else {
        throw new UsageError(action === undefined ? 'Missing action: create, list or revoke.' : `Unknown action '${action}'.`, command);
      }
      return 0;
    }
    default:
      throw new UsageError('Unknown command.', 'main');
  }
}

function printHelp(command: Command): number {
  process.stdout.write(`${HELP[command]}\n`);
  return 0;
}

try {
  process.exitCode = await run(process.argv.slice(2));
} catch (error) {
  if (error instanceof UsageError) {
    process.stderr.write(`take-a-number: ${error.message}\n\n${HELP[error.command]}\n`);
    process.exitCode = 2;
  } else if (
    error instanceof ConfigError ||
    error instanceof StoreOpenError ||
    error instanceof ImportFileError ||
    error instanceof DestinationError ||
    error instanceof TokenNameTakenError
  ) {
    process.stderr.write(`take-a-number: ${error.message}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`take-a-number: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  }
}
