#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { backupCommand } from './commands/backup.js';
import { CliError, expectArguments, UsageError, type Command, type CommandContext } from './commands/command.js';
import { exportCommand } from './commands/export.js';
import { importCommand } from './commands/import.js';
import { migrateCommand } from './commands/migrate.js';
import { nextCommand } from './commands/next.js';
import { sequencesCommand } from './commands/sequences.js';
import { serveCommand } from './commands/serve.js';
import { tokenCommand } from './commands/token.js';
import { StoreOpenError } from './core/store.js';
import { helpOption } from './help.js';
import { TokenNameTakenError } from './tokens/token-store.js';
import { VERSION } from './version.js';

/** The commands, in the order of the help. A new command is a file of src/commands/ and a line here. */
const COMMANDS: readonly Command[] = [
  serveCommand,
  importCommand,
  exportCommand,
  migrateCommand,
  tokenCommand,
  backupCommand,
  nextCommand,
  sequencesCommand,
];

const MAIN_HELP = `take-a-number ${VERSION}: a sequence-number service (unique, increasing numbers over HTTP)

Usage: take-a-number <command> [options]

Commands:
${COMMANDS.map(({ summary }) => helpOption(summary.synopsis, summary.text)).join('\n')}

Options:
${helpOption('-h, --help', 'Show help (also: take-a-number <command> --help)')}
${helpOption('-v, --version', 'Show the version')}

Exit status: 0 success, 1 failure, 2 wrong usage.`;

const context: CommandContext = { stdout: process.stdout, stderr: process.stderr, env: process.env };

/** Runs the command line; `running` learns the command, whose help follows a usage error. */
async function run(argv: readonly string[], running: (command: Command) => void): Promise<void> {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError('No command given.');
  if (first === '-h' || first === '--help' || first === 'help') {
    process.stdout.write(`${MAIN_HELP}\n`);
    return;
  }
  if (first === '-v' || first === '--version') {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  const command = COMMANDS.find(({ name }) => name === first);
  if (command === undefined) throw new UsageError(`Unknown command '${first}'.`);
  running(command);
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { ...command.options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (parsed.values.help === true) {
    process.stdout.write(`${command.usage}\n`);
    return;
  }
  expectArguments(parsed.positionals, command.positionals.min, command.positionals.max);
  await command.run(parsed, context);
}

/** Every error's message and exit status, in one place: 2 with the help for wrong usage, 1 for a failure, a stack trace for a bug. */
function report(error: unknown, help: string): number {
  if (error instanceof UsageError) {
    process.stderr.write(`take-a-number: ${error.message}\n\n${help}\n`);
    return error.exitStatus;
  }
  // Failures reported by the stores (StoreOpenError) and the token store (a name taken) are the user's to fix, like a CliError.
  if (error instanceof CliError || error instanceof StoreOpenError || error instanceof TokenNameTakenError) {
    process.stderr.write(`take-a-number: ${error.message}\n`);
    return error instanceof CliError ? error.exitStatus : 1;
  }
  process.stderr.write(`take-a-number: ${(error as Error).stack ?? String(error)}\n`);
  return 1;
}

let help = MAIN_HELP;
try {
  await run(process.argv.slice(2), (command) => (help = command.usage));
  process.exitCode = 0;
} catch (error) {
  process.exitCode = report(error, help);
}
