import { resolveStore } from '../config.js';
import { settingHelp } from '../settings.js';
import { describeLocation, openStore } from '../store/open-store.js';
import { command, DEFAULT_POOL, HELP_LINE, STORE_OPTION } from './command.js';

/** `take-a-number migrate`: creates or upgrades the store's schema (opening it for writing does), then exits. */
export const migrateCommand = command({
  name: 'migrate',
  summary: { synopsis: 'migrate', text: "Create or upgrade the store's schema, then exit" },
  usage: `Usage: take-a-number migrate [--store STORE]

Creates or upgrades the store's schema and exits. serve does this at start
too; run it ahead of a rolling deployment of several instances. Safe to run
while other instances start: migrations are applied once, under a lock.

Options:
${settingHelp('store')}
${HELP_LINE}`,
  options: STORE_OPTION,
  positionals: { min: 0, max: 0 },
  async run({ values }, { stdout, env }) {
    const location = resolveStore(values.store, env);
    const store = await openStore(location, { ...DEFAULT_POOL, mode: 'write' });
    await store.close();
    stdout.write(`The store ${describeLocation(location)} is at the current schema version.\n`);
  },
});
