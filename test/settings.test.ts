import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { CONFIG_FILE, resolveServeConfig } from '../src/config.js';
import { SERVE_DEFAULTS, SETTING_ROWS } from '../src/settings.js';
import { runCli } from './helpers/cli.js';

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** The text of README's `## title` section, up to the next `## ` heading. */
function section(title: string): string {
  const lines = README.split('\n');
  const start = lines.findIndex((line) => line.trim() === `## ${title}`);
  assert.notEqual(start, -1, `README.md has no "## ${title}" section`);
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((line) => line.startsWith('## '));
  return (end === -1 ? rest : rest.slice(0, end)).join('\n');
}

/**
 * The environment variables a help text names after "env": `(env PORT; …`,
 * `(env TAKEANUMBER_STORE, else DATABASE_URL; …`, `(env TAKEANUMBER_AUTO_CREATE=false)`,
 * and in a list naming the first in full and the others by their ending,
 * `(env TAKEANUMBER_REQUEST_TIMEOUT, _KEEP_ALIVE_TIMEOUT, …)`.
 */
function variablesIn(help: string): Set<string> {
  const variables = new Set<string>();
  for (const [, list = ''] of help.matchAll(/\benv\s+([^;)]*)/g)) {
    const names = list
      .split(/,|\belse\b/)
      .map((name) => name.trim().replace(/=.*/, ''))
      .filter((name) => name !== '');
    const prefix = names[0]?.slice(0, names[0].indexOf('_')) ?? '';
    for (const name of names) variables.add(name.startsWith('_') ? prefix + name : name);
  }
  return variables;
}

describe('the settings table', () => {
  test('every serve setting is in serve --help, with its flag and environment variable', async () => {
    const result = await runCli(['serve', '--help']);
    assert.equal(result.code, 0, result.stderr);
    const help = result.stdout;
    const named = variablesIn(help);
    for (const setting of [...SETTING_ROWS, { name: 'config', ...CONFIG_FILE, fallbackEnv: undefined }]) {
      assert.match(help, new RegExp(`^ {2}${setting.flag}\\b`, 'm'), `${setting.name}: serve --help has a line for ${setting.flag}`);
      assert.ok(named.has(setting.env), `${setting.name}: serve --help names ${setting.env}`);
      if (setting.fallbackEnv !== undefined) assert.ok(named.has(setting.fallbackEnv), `${setting.name}: serve --help names ${setting.fallbackEnv}`);
    }
  });

  test("every serve setting is in the README's Configuration section: flag, variable, default and config-file key", () => {
    const configuration = section('Configuration');
    const rows = configuration.split('\n').filter((line) => line.startsWith('| `--'));
    for (const setting of [...SETTING_ROWS, { name: 'config', ...CONFIG_FILE, fallbackEnv: undefined, default: undefined, switchTo: undefined }]) {
      const row = rows.find((line) => line.includes(`\`${setting.flag}\``) || line.includes(`\`${setting.flag} `));
      assert.ok(row !== undefined, `${setting.name}: the Configuration table has a row for ${setting.flag}`);
      const [, , variables = '', defaultCell = ''] = row.split('|');
      assert.ok(variables.includes(`\`${setting.env}`), `${setting.name}: its row names ${setting.env}: ${row}`);
      if (setting.fallbackEnv !== undefined) assert.ok(variables.includes(`\`${setting.fallbackEnv}\``), `${setting.name}: its row names ${setting.fallbackEnv}`);
      if (setting.name !== 'config') assert.ok(configuration.includes(`\`${setting.name}\``), `${setting.name}: the config-file keys list \`${setting.name}\``);
      if (setting.default === undefined) continue;
      if (setting.switchTo === undefined) {
        assert.ok(defaultCell.includes(`\`${setting.default}\``), `${setting.name}: its row gives the default \`${setting.default}\`: ${row}`);
      } else {
        // A switch's default is said in words: on or off.
        const on = setting.default === 'true';
        assert.match(defaultCell, on ? /\bon\b/ : /\boff\b/, `${setting.name}: its row says the default is ${on ? 'on' : 'off'}: ${row}`);
      }
    }
    const flags = new Set<string>([...SETTING_ROWS.map((setting) => setting.flag), CONFIG_FILE.flag]);
    for (const row of rows) {
      const [flagCell = ''] = row.split('|').slice(1);
      for (const [, flag = ''] of flagCell.matchAll(/`(--[a-z-]+)/g)) assert.ok(flags.has(flag), `the Configuration table documents ${flag}, which is no setting`);
    }
  });

  test('the defaults library callers get are the ones serve resolves', () => {
    const { store, ...resolved } = resolveServeConfig({}, {}, process.cwd());
    const { store: defaultStore, ...defaults } = SERVE_DEFAULTS;
    assert.deepEqual(resolved, defaults);
    assert.deepEqual(store, defaultStore);
  });
});
