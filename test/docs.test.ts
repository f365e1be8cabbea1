import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ERROR_CATALOGUE, ERROR_CODES } from '../src/errors.js';
import { testApp } from './helpers/app.js';

// README.md sits at the package root, one level above test/.
const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const LINES = README.split('\n');

/** The text of the `## title` section, up to the next `## ` heading. */
function section(title: string): string {
  const start = LINES.findIndex((line) => line.trim() === `## ${title}`);
  assert.notEqual(start, -1, `README.md has no "## ${title}" section`);
  const rest = LINES.slice(start + 1);
  const end = rest.findIndex((line) => line.startsWith('## '));
  return (end === -1 ? rest : rest.slice(0, end)).join('\n');
}

/** The first cell of a Markdown table row when it is a single `code` in backticks. */
function firstCellCode(line: string): string | undefined {
  return /^\|\s*`([a-z][a-z0-9_]*)`\s*\|/.exec(line)?.[1];
}

describe('README.md', () => {
  it('documents every error code in backticks with its HTTP status', () => {
    const undocumented = ERROR_CODES.filter((code) => {
      const { status } = ERROR_CATALOGUE[code];
      const statusPattern = new RegExp(`(^|[^0-9])${status}([^0-9]|$)`);
      return !LINES.some((line) => line.includes(`\`${code}\``) && statusPattern.test(line));
    });
    assert.deepEqual(undocumented, [], 'each code needs a line with `code` and its status (a row of the Errors table)');
  });

  it('lists in its Errors table only codes that exist, each with its own status', () => {
    const rows = section('Errors')
      .split('\n')
      .map((line) => ({ code: firstCellCode(line), cells: line.split('|').map((cell) => cell.trim()) }))
      .filter((row): row is { code: string; cells: string[] } => row.code !== undefined);
    assert.ok(rows.length > 0, 'the Errors section has a table of codes');
    for (const { code, cells } of rows) {
      assert.ok(code in ERROR_CATALOGUE, `README.md documents \`${code}\`, which src/errors.ts does not define`);
      const status = ERROR_CATALOGUE[code as keyof typeof ERROR_CATALOGUE].status;
      assert.equal(cells[2], String(status), `\`${code}\` is documented with status ${cells[2] ?? '(none)'}, not ${status}`);
    }
    assert.deepEqual(
      rows.map((row) => row.code).sort(),
      [...ERROR_CODES].sort(),
      'the Errors table has one row per code',
    );
  });

  it('documents every route of the OpenAPI description in the API section', async () => {
    const running = await testApp();
    try {
      const spec = (await running.app.inject({ method: 'GET', url: '/openapi.json' })).json<{ paths: Record<string, object> }>();
      const routes = Object.entries(spec.paths).flatMap(([path, operations]) =>
        Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
      );
      assert.ok(routes.length > 0, 'the OpenAPI description lists routes');
      // A heading or a table row that names the route in backticks, as `GET /sequences` or `GET /sequences?…`.
      const api = section('API')
        .split('\n')
        .filter((line) => line.startsWith('#') || line.startsWith('|'));
      const undocumented = routes.filter((route) => !api.some((line) => line.includes(`\`${route}\``) || line.includes(`\`${route}?`)));
      assert.deepEqual(undocumented, [], 'each route needs a heading or a table row in the API section');
    } finally {
      await running.close();
    }
  });

  it('renders every catalogue message in the error table of /docs, <token> included: no text Swagger UI would take for HTML', async () => {
    const running = await testApp();
    try {
      const spec = (await running.app.inject({ method: 'GET', url: '/openapi.json' })).json<Record<string, unknown>>();
      const description = (spec.info as { description: string }).description;
      // Swagger UI renders the description as Markdown allowing HTML, then drops unknown tags: `<token>` would vanish.
      const shown = (cell: string): string => cell.replace(/\\\|/g, '|').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
      for (const code of ERROR_CODES) {
        const { status, message } = ERROR_CATALOGUE[code];
        const prefix = `| \`${code}\` | ${status} | `;
        const row = description.split('\n').find((line) => line.startsWith(prefix));
        assert.ok(row !== undefined, `the error table has a row for ${code}`);
        const cell = row.slice(prefix.length, -' |'.length);
        assert.doesNotMatch(cell, /[<>]/, `${code}: raw < or > in ${cell}`);
        assert.equal(shown(cell), message, `${code} is shown as its message`);
      }
      assert.ok(description.includes('Bearer &lt;token&gt;'), 'the unauthorized message keeps <token>');
      // The same for every description and summary in the document.
      const texts: string[] = [];
      const walk = (value: unknown, key: string): void => {
        if (typeof value === 'string' && (key === 'description' || key === 'summary')) texts.push(value);
        else if (Array.isArray(value)) value.forEach((item) => walk(item, ''));
        else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) walk(v, k);
      };
      walk(spec, '');
      assert.ok(texts.length > 10, 'the document has descriptions');
      for (const text of texts) assert.doesNotMatch(text, /<[a-zA-Z/!?]/, `HTML-like text in: ${text}`);
    } finally {
      await running.close();
    }
  });

  it('has a quick start that runs the service and the tests in one command each', () => {
    const quickStart = section('Quick start');
    assert.ok(quickStart.includes('npm ci && npm start'), 'the quick start runs the service with `npm ci && npm start`');
    assert.match(quickStart, /^npm test$/m, 'the quick start runs the tests with `npm test`');
  });
});
