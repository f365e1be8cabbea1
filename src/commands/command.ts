import type { Writable } from 'node:stream';
import type { parseArgs, ParseArgsConfig } from 'node:util';
import { helpOption } from '../help.js';
import { SERVE_DEFAULTS } from '../settings.js';
import type { PoolOptions } from '../store/open-store.js';

/**
 * A command of the CLI, one per file of src/commands/, listed in cli.ts. The
 * entry parses the arguments with `options` (plus -h/--help), prints `usage`
 * for --help, checks the number of arguments, and calls `run`; errors reach
 * the entry, which maps them to an exit status and a message in one place.
 */
export interface Command<O extends Options = Options> {
  readonly name: string;
  /** The command's entry in `take-a-number --help`: what it takes (`import FILE`) and what it does. */
  readonly summary: { readonly synopsis: string; readonly text: string };
  /** `take-a-number NAME --help`. */
  readonly usage: string;
  readonly options: O;
  /** How many arguments it takes (more or fewer: wrong usage, exit status 2). */
  readonly positionals: { readonly min: number; readonly max: number };
  /** Does the work; resolves when done (exit status 0), throws a CliError (or another error) otherwise. */
  run(args: Parsed<O>, context: CommandContext): Promise<void>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** What parseArgs gives for `options`: the values by option name, and the arguments. */
export interface Parsed<O extends Options> {
  readonly values: ReturnType<typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>>['values'];
  readonly positionals: readonly string[];
}

export interface CommandContext {
  /** Results: the help, summaries, `export`'s JSON. */
  readonly stdout: Writable;
  /** Diagnostics: errors, audit lines, confirmations beside a result written to a file. */
  readonly stderr: Writable;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Declares a command, keeping its options' types for `run`. */
export const command = <const O extends Options>(definition: Command<O>): Command<O> => definition;

/** `--store STORE`, which every command but serve takes (serve's comes from its settings). */
export const STORE_OPTION = { store: { type: 'string' } } as const;

/** The PostgreSQL pool of the commands other than serve: the defaults of serve's settings. */
export const DEFAULT_POOL: PoolOptions = { poolSize: SERVE_DEFAULTS.poolSize, statementTimeoutMs: SERVE_DEFAULTS.statementTimeoutMs };

/** The last line of every command's help (the entry adds -h/--help to every command's options). */
export const HELP_LINE = helpOption('-h, --help', 'Show this help');

/**
 * An error the CLI reports with its message alone (no stack trace) and an
 * exit status: 1 for a failure (a bad setting, a store that cannot be opened,
 * an invalid file), 2 for wrong usage (UsageError).
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitStatus: 1 | 2 = 1,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}

/** Wrong usage (an unknown option, a missing or extra argument): the message and the command's help go to stderr, exit 2. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'UsageError';
  }
}

/** Checks the number of arguments. */
export function expectArguments(args: readonly string[], min: number, max: number): void {
  if (args.length < min) throw new UsageError('Missing argument.');
  if (args.length > max) throw new UsageError(`Unexpected argument '${args[max] ?? ''}'.`);
}
