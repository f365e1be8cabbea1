import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli, startServer, type CliResult, type RunningServer } from './helpers/cli.js';
import { tempDir } from './helpers/temp.js';

const lastLine = (text: string): string => text.trimEnd().split('\n').pop() ?? '';

/** Fails with the command's output unless it exited with `code`. */
function expectExit(result: CliResult, code: number): CliResult {
  assert.equal(result.code, code, `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  return result;
}

/** A port nothing listens on: one the system handed out, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** One server for the tests of the first suite, which use names of their own (started here: a process started in a hook is stopped when the hook ends). */
const server: RunningServer = await startServer({ store: `sqlite:${join(tempDir(), 'client.db')}` });

describe('take-a-number next and sequences (the CLI client)', () => {
  /** `take-a-number ARGS… --url <the server>`, expecting `code`. */
  const cli = async (args: readonly string[], code = 0, env: Record<string, string> = {}): Promise<CliResult> =>
    expectExit(await runCli([...args, '--url', server.url], { env }), code);

  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  it('next prints the value; --count N each value of the batch, one per line, by the increment; --json the answer as is', async () => {
    await cli(['sequences', 'put', 'steps', '--start', '1000', '--increment', '10']);
    assert.equal((await cli(['next', 'steps'])).stdout, '1000\n');
    assert.equal((await cli(['next', 'steps', '--count', '3'])).stdout, '1010\n1020\n1030\n');
    assert.equal((await cli(['next', 'steps', '--json'])).stdout, '{"sequence_id":"steps","next_value":1040}\n');
    assert.equal((await cli(['next', 'steps', '--count', '2', '--json'])).stdout, '{"sequence_id":"steps","next_value":1050,"last_value":1060,"count":2}\n');
    // Descending, and a name to encode.
    await cli(['sequences', 'put', 'down/é', '--increment=-5', '--max', '0', '--min=-100']);
    assert.equal((await cli(['next', 'down/é', '--count', '3'])).stdout, '0\n-5\n-10\n');
    // A name never seen is created by next (the server auto-creates it).
    assert.equal((await cli(['next', 'fresh'])).stdout, '1\n');
  });

  it('the same --idempotency-key answers the same values, never new ones', async () => {
    const first = await cli(['next', 'keyed', '--count', '2', '--idempotency-key', 'k-1']);
    assert.equal(first.stdout, '1\n2\n');
    assert.equal((await cli(['next', 'keyed', '--count', '2', '--idempotency-key', 'k-1'])).stdout, '1\n2\n');
    assert.equal((await cli(['next', 'keyed'])).stdout, '3\n');
  });

  it('values above 2^53 are exact in every output', async () => {
    const put = await cli(['sequences', 'put', 'big', '--start', '9007199254740993', '--json']);
    assert.match(put.stdout, /"next_value":9007199254740993,"start":9007199254740993,/);
    assert.equal((await cli(['next', 'big'])).stdout, '9007199254740993\n');
    assert.equal((await cli(['next', 'big', '--count', '2'])).stdout, '9007199254740994\n9007199254740995\n');
    assert.equal((await cli(['next', 'big', '--json'])).stdout, '{"sequence_id":"big","next_value":9007199254740996}\n');
    const top = await cli(['sequences', 'put', 'top', '--start', '9223372036854775806']);
    assert.match(top.stdout, /^max_value: +9223372036854775807$/m);
    assert.equal((await cli(['next', 'top', '--count', '2'])).stdout, '9223372036854775806\n9223372036854775807\n');
    const get = await cli(['sequences', 'get', 'big', '--json']);
    assert.match(get.stdout, /"last_value":9007199254740996,"next_value":9007199254740997,/);
  });

  it('sequences put, get, reset and delete show the sequence for people, and the API\'s JSON with --json', async () => {
    const created = await cli(['sequences', 'put', 'invoices', '--start', '100', '--cache', '5', '--cycle', '--max', '1000']);
    assert.match(created.stdout, /^name: +invoices$/m);
    assert.match(created.stdout, /^next_value: +100$/m);
    assert.match(created.stdout, /^last_value: +-$/m);
    assert.match(created.stdout, /^cache: +5$/m);
    assert.match(created.stdout, /^cycle: +true$/m);
    assert.match(created.stdout, /^max_value: +1000$/m);
    // Values start in one column.
    const columns = new Set(created.stdout.trimEnd().split('\n').map((line) => /^\S+: +/.exec(line)?.[0].length));
    assert.equal(columns.size, 1, created.stdout);

    const changed = await cli(['sequences', 'put', 'invoices', '--no-cycle', '--cache', '1', '--json']);
    const json = JSON.parse(changed.stdout) as Record<string, unknown>;
    assert.equal(json.name, 'invoices');
    assert.deepEqual([json.cycle, json.cache], [false, 1]);
    assert.equal(json.max_value, 1000, 'options not given are kept');

    const got = await cli(['sequences', 'get', 'invoices', '--json']);
    assert.deepEqual(JSON.parse(got.stdout), json);

    assert.equal((await cli(['next', 'invoices'])).stdout, '100\n');
    const reset = await cli(['sequences', 'reset', 'invoices', '500']);
    assert.match(reset.stdout, /^next_value: +500$/m);
    const back = await cli(['sequences', 'reset', 'invoices', '100'], 1);
    assert.match(back.stderr, /error: would_reissue: Resetting 'invoices' to 100 moves it back/);
    const forced = await cli(['sequences', 'reset', 'invoices', '100', '--force', '--json']);
    assert.match(forced.stdout, /^\{"name":"invoices","last_value":null,"next_value":100,/);
    assert.equal((await cli(['next', 'invoices'])).stdout, '100\n');

    const deleted = await cli(['sequences', 'delete', 'invoices']);
    assert.equal(deleted.stdout, "Deleted the sequence 'invoices'.\n");
    const gone = await cli(['sequences', 'get', 'invoices'], 1);
    assert.match(gone.stderr, /error: sequence_not_found: /);
    assert.equal(gone.stdout, '');
    // Used again, the name continues after the values handed out; --forget starts afresh.
    assert.equal((await cli(['next', 'invoices'])).stdout, '101\n');
    assert.equal((await cli(['sequences', 'delete', 'invoices', '--forget', '--json'])).stdout, '');
    assert.equal((await cli(['next', 'invoices'])).stdout, '1\n');
  });

  it('sequences put passes every option of the API, and the server\'s refusals exit 1 with the code', async () => {
    const put = await cli([
      'sequences', 'put', 'receipts', '--gapless', '--lease-seconds', '60', '--restart', 'yearly', '--time-zone', 'Europe/Berlin',
      '--format', 'R-{yyyy}-{value:4}', '--json',
    ]);
    const json = JSON.parse(put.stdout) as Record<string, unknown>;
    assert.deepEqual([json.gapless, json.lease_seconds, json.restart, json.time_zone, json.format], [true, 60, 'yearly', 'Europe/Berlin', 'R-{yyyy}-{value:4}']);
    const cleared = await cli(['sequences', 'put', 'receipts', '--no-format', '--json']);
    assert.equal((JSON.parse(cleared.stdout) as Record<string, unknown>).format, null);
    // A gapless value is a reservation: its id goes to stderr, and --json shows the whole answer.
    const reserved = await cli(['next', 'receipts']);
    assert.equal(reserved.stdout, '1\n');
    assert.match(reserved.stderr, /reservation [A-Za-z0-9_-]{22,64} of value 1, expires at \d{4}-/);
    assert.match((await cli(['next', 'receipts', '--json'])).stdout, /^\{"sequence_id":"receipts","next_value":2,"reservation":"[^"]+","expires_at":"[^"]+","period":"\d{4}"\}\n$/);
    assert.match((await cli(['next', 'receipts', '--count', '2'], 1)).stderr, /error: invalid_count: /);

    const zero = await cli(['sequences', 'put', 'bad', '--increment', '0'], 1);
    assert.match(zero.stderr, /error: invalid_options: .*increment must not be zero/);
    assert.match((await cli(['sequences', 'put', 'bad', '--max', '99999999999999999999'], 1)).stderr, /error: invalid_options: /);
    await cli(['sequences', 'put', 'small', '--max', '2']);
    assert.match((await cli(['next', 'small', '--count', '3'], 1)).stderr, /error: sequence_exhausted: /);
  });

  it('sequences list shows an aligned table of every page, --prefix and --limit choose, --json gives the cursor', async () => {
    const names = Array.from({ length: 130 }, (_, i) => `page-${String(i).padStart(3, '0')}`);
    for (const name of names) {
      const response = await fetch(`${server.url}/next/${name}`, { method: 'POST' });
      assert.equal(response.status, 200, await response.text());
    }
    await cli(['sequences', 'put', 'page-cyc', '--cycle', '--max', '9', '--increment', '3']);
    const listed = await cli(['sequences', 'list', '--prefix', 'page-']);
    const lines = listed.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^NAME +LAST VALUE +NEXT VALUE +INCREMENT +MIN +MAX +CACHE +OPTIONS$/);
    assert.deepEqual(lines.slice(1).map((line) => line.split(/ +/)[0]), [...names, 'page-cyc'], 'every page, in order');
    assert.match(lines[1] ?? '', /^page-000 +1 +2 +1 +1 +9223372036854775807 +1 +-$/);
    assert.match(lines.at(-1) ?? '', /^page-cyc +- +1 +3 +1 +9 +1 +cycle$/);
    // Numbers are right-aligned under their headers.
    const end = (lines[0] ?? '').indexOf('NEXT VALUE') + 'NEXT VALUE'.length;
    assert.ok(lines.every((line, i) => i === 0 || line[end - 1] !== ' '), listed.stdout);

    const firstThree = await cli(['sequences', 'list', '--prefix', 'page-', '--limit', '3', '--json']);
    const page = JSON.parse(firstThree.stdout) as { sequences: { name: string }[]; next_cursor: string | null };
    assert.deepEqual(page.sequences.map((s) => s.name), names.slice(0, 3));
    assert.equal(typeof page.next_cursor, 'string');
    const next = await cli(['sequences', 'list', '--prefix', 'page-', '--limit', '2', '--cursor', page.next_cursor ?? '', '--json']);
    assert.deepEqual((JSON.parse(next.stdout) as typeof page).sequences.map((s) => s.name), names.slice(3, 5));
    const all = JSON.parse((await cli(['sequences', 'list', '--prefix', 'page-', '--json'])).stdout) as typeof page;
    assert.equal(all.sequences.length, 131);
    assert.equal(all.next_cursor, null);
    assert.equal((await cli(['sequences', 'list', '--prefix', 'nothing-'])).stdout, "No sequences starting with 'nothing-'.\n");
  });

  it('TAKEANUMBER_URL is the default server and --url wins over it', async () => {
    const viaEnv = expectExit(await runCli(['next', 'env-url'], { env: { TAKEANUMBER_URL: server.url } }), 0);
    assert.equal(viaEnv.stdout, '1\n');
    const bogus = `http://127.0.0.1:${await closedPort()}`;
    assert.equal((await cli(['next', 'env-url'], 0, { TAKEANUMBER_URL: bogus })).stdout, '2\n');
  });

  it('an unreachable server exits 1 with network_error after the retries; a URL that is not http(s) is refused', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    for (const args of [['next', 'x'], ['sequences', 'list']]) {
      const result = expectExit(await runCli([...args, '--url', url], { timeoutMs: 30_000 }), 1);
      assert.match(result.stderr, /error: network_error: /);
      assert.equal(result.stdout, '');
    }
    const notHttp = expectExit(await runCli(['next', 'x'], { env: { TAKEANUMBER_URL: 'ftp://example.com' } }), 1);
    assert.match(notHttp.stderr, /TAKEANUMBER_URL: expected an http:\/\/ or https:\/\/ URL, got 'ftp:\/\/example.com'/);
  });

  it('wrong usage exits 2 with the command\'s help on stderr', async () => {
    const cases: [string[], RegExp][] = [
      [['next'], /Missing argument/],
      [['next', 'a', 'b'], /Unexpected argument 'b'/],
      [['next', 'a', '--count', '0'], /--count: expected a whole number from 1, got '0'/],
      [['next', 'a', '--count', '2.5'], /--count: expected a whole number/],
      [['next', 'a', '--bogus'], /Unknown option '--bogus'/],
      [['sequences'], /Missing action: list, get, put, reset or delete/],
      [['sequences', 'frob'], /Unknown action 'frob'/],
      [['sequences', 'get'], /Missing argument/],
      [['sequences', 'get', 'a', '--start', '5'], /--start is not an option of 'sequences get'/],
      [['sequences', 'list', 'extra'], /Unexpected argument 'extra'/],
      [['sequences', 'list', '--limit', 'x'], /--limit: expected a whole number from 1/],
      [['sequences', 'reset', 'a'], /Missing argument/],
      [['sequences', 'put', 'a', '--cycle', '--no-cycle'], /--cycle and --no-cycle contradict each other/],
      [['sequences', 'put', 'a', '--increment', '-1'], /--increment=-XYZ/],
      [['sequences', 'put', 'a', '--cache', 'lots'], /--cache: expected an integer, got 'lots'/],
      [['sequences', 'reset', 'a', '1e3'], /VALUE: expected an integer, got '1e3'/],
    ];
    for (const [args, message] of cases) {
      const result = await cli(args, 2);
      assert.match(result.stderr, message, args.join(' '));
      assert.match(result.stderr, new RegExp(`Usage: take-a-number ${args[0] ?? ''}`), args.join(' '));
      assert.equal(result.stdout, '', args.join(' '));
    }
  });

  it('--help of each, and the main help lists them', async () => {
    const main = expectExit(await runCli(['--help']), 0);
    assert.match(main.stdout, /^ {2}next NAME +Take the next value of a sequence from a running server$/m);
    assert.match(main.stdout, /^ {2}sequences list\|get\|put\|reset\|delete\s+Show and manage/m);
    const next = expectExit(await runCli(['next', '--help']), 0);
    assert.match(next.stdout, /^Usage: take-a-number next NAME \[--count N\]/);
    assert.match(next.stdout, /TAKEANUMBER_URL/);
    const sequences = expectExit(await runCli(['sequences', 'put', '--help']), 0);
    for (const flag of ['--start', '--increment', '--min', '--max', '--cycle', '--cache', '--gapless', '--lease-seconds', '--restart', '--time-zone', '--format', '--no-format', '--force', '--forget', '--prefix', '--limit']) {
      assert.match(sequences.stdout, new RegExp(`^ {2}${flag}\\b`, 'm'), flag);
    }
  });
});

describe('the CLI client with API tokens', () => {
  it('sends --token or TAKEANUMBER_TOKEN; a token without the scope exits 1 with the code', async () => {
    const store = `sqlite:${join(tempDir(), 'tokens.db')}`;
    const token = async (name: string, scope: string): Promise<string> =>
      lastLine(expectExit(await runCli(['token', 'create', '--name', name, '--scope', scope, '--store', store]), 0).stdout);
    const admin = await token('admin', 'admin');
    const read = await token('reader', 'read');
    const next = await token('taker', 'next');
    const server = await startServer({ store });
    const run = async (args: readonly string[], code: number, env: Record<string, string> = {}): Promise<CliResult> =>
      expectExit(await runCli([...args, '--url', server.url], { env }), code);

    assert.match((await run(['next', 'a'], 1)).stderr, /error: unauthorized: /);
    assert.equal((await run(['next', 'a', '--token', next], 0)).stdout, '1\n');
    assert.equal((await run(['next', 'a'], 0, { TAKEANUMBER_TOKEN: next })).stdout, '2\n');
    assert.match((await run(['sequences', 'get', 'a'], 1, { TAKEANUMBER_TOKEN: next })).stderr, /error: forbidden: /);
    assert.match((await run(['sequences', 'get', 'a'], 0, { TAKEANUMBER_TOKEN: read })).stdout, /^next_value: +3$/m);
    // --token wins over the variable.
    assert.match((await run(['sequences', 'list', '--token', read], 0, { TAKEANUMBER_TOKEN: next })).stdout, /^a +2 +3 /m);
    const refused = await run(['sequences', 'put', 'a', '--cache', '10'], 1, { TAKEANUMBER_TOKEN: read });
    assert.match(refused.stderr, /error: forbidden: /);
    assert.equal(refused.stdout, '');
    assert.match((await run(['sequences', 'reset', 'a', '10', '--token', read], 1)).stderr, /error: forbidden: /);
    assert.match((await run(['sequences', 'delete', 'a', '--token', read], 1)).stderr, /error: forbidden: /);
    assert.match((await run(['sequences', 'put', 'a', '--cache', '10', '--token', admin], 0)).stdout, /^cache: +10$/m);
    assert.equal(await server.stop(), 0);
  });
});
