import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { parseJsonLossless } from '../src/json.js';
import { nextValue, postNext, runCli, startServer, type CliResult } from './helpers/cli.js';
import { tempDir } from './helpers/temp.js';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const INT64_MAX = 9223372036854775807n;

/** The store's sequences as `export` prints them, values exact. */
async function exported(store: string): Promise<Map<string, bigint>> {
  const result = await runCli(['export', '--store', store]);
  assert.equal(result.code, 0, result.stderr);
  return sequencesIn(result.stdout);
}

/** Reads a sequences.json text: an object of exact integers. */
function sequencesIn(text: string): Map<string, bigint> {
  const data = parseJsonLossless(text);
  assert.ok(typeof data === 'object' && data !== null && !Array.isArray(data), `not a JSON object: ${text}`);
  const entries = new Map<string, bigint>();
  for (const [name, value] of Object.entries(data)) {
    assert.equal(typeof value, 'bigint', `${name}: ${String(value)} is not an integer`);
    entries.set(name, value as bigint);
  }
  return entries;
}

function write(dir: string, file: string, text: string): string {
  const path = join(dir, file);
  writeFileSync(path, text);
  return path;
}

function assertUsageError(result: CliResult, pattern: RegExp): void {
  assert.equal(result.code, 2, `exit code; stderr: ${result.stderr}`);
  assert.match(result.stderr, pattern);
  assert.equal(result.stdout, '', 'usage errors go to stderr only');
}

describe('help and version', { concurrency: true }, () => {
  test('--help and -h print the usage with every command on stdout, exit 0', async () => {
    for (const flag of ['--help', '-h']) {
      const result = await runCli([flag]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /Usage: take-a-number <command>/);
      for (const command of ['serve', 'import FILE', 'export \\[FILE\\]']) assert.match(result.stdout, new RegExp(command));
      assert.equal(result.stderr, '');
    }
  });

  test('--version and -v print the package version on stdout, exit 0', async () => {
    for (const flag of ['--version', '-v']) {
      const result = await runCli([flag]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `${VERSION}\n`);
      assert.equal(result.stderr, '');
    }
  });

  test('serve --help describes its options and exits 0 without serving', async () => {
    const cwd = tempDir();
    const result = await runCli(['serve', '--help'], { cwd, timeoutMs: 5000 });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Usage: take-a-number serve/);
    for (const option of ['--port', '--host', '--store', '--log-level']) assert.ok(result.stdout.includes(option), option);
    assert.equal(existsSync(join(cwd, 'takeanumber.db')), false, 'serve --help must not open the default store');
  });

  test('import --help and export --help exit 0 with their usage', async () => {
    for (const command of ['import', 'export']) {
      const result = await runCli([command, '--help']);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`Usage: take-a-number ${command}`));
    }
  });
});

describe('wrong usage exits 2 with a message on stderr', { concurrency: true }, () => {
  test('an unknown command', async () => {
    assertUsageError(await runCli(['frobnicate']), /Unknown command 'frobnicate'/);
  });

  test('an unknown flag', async () => {
    assertUsageError(await runCli(['serve', '--bogus']), /--bogus/);
    assertUsageError(await runCli(['export', '--frobnicate', '--store', 'sqlite:x.db'], { cwd: tempDir() }), /--frobnicate/);
  });

  test('import without a FILE, or with two', async () => {
    const cwd = tempDir();
    assertUsageError(await runCli(['import'], { cwd }), /Missing argument/);
    assertUsageError(await runCli(['import', 'a.json', 'b.json'], { cwd }), /Unexpected argument 'b.json'/);
    assert.equal(existsSync(join(cwd, 'takeanumber.db')), false);
  });
});

describe('serve settings', { concurrency: true }, () => {
  test('a bad --port value exits 1 before listening, with a message naming --port', async () => {
    const cwd = tempDir();
    for (const port of ['abc', '70000']) {
      const result = await runCli(['serve', '--port', port, '--host', '127.0.0.1'], { cwd, timeoutMs: 5000 });
      assert.equal(result.code, 1, `--port '${port}': ${result.stderr}`);
      assert.match(result.stderr, /--port/);
      assert.ok(result.stderr.includes(`'${port}'`), `the message quotes the value: ${result.stderr}`);
      assert.doesNotMatch(result.stdout, /take-a-number ready/);
    }
  });

  test('a bad PORT environment variable is named as PORT', async () => {
    const result = await runCli(['serve', '--host', '127.0.0.1'], { cwd: tempDir(), env: { PORT: 'eighty' }, timeoutMs: 5000 });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /PORT: .*'eighty'/);
  });

  test('an unknown --log-level and an unknown store scheme exit 1 naming the setting', async () => {
    const cwd = tempDir();
    const level = await runCli(['serve', '--port', '0', '--log-level', 'loud'], { cwd, timeoutMs: 5000 });
    assert.equal(level.code, 1, level.stderr);
    assert.match(level.stderr, /--log-level/);
    const store = await runCli(['serve', '--port', '0', '--store', 'mongodb://x/y'], { cwd, timeoutMs: 5000 });
    assert.equal(store.code, 1, store.stderr);
    assert.match(store.stderr, /--store/);
  });
});

describe('import and export', { concurrency: true }, () => {
  test('import reads sequences.json; export prints exact values, big integers included', async () => {
    const dir = tempDir();
    const store = `sqlite:${join(dir, 'store.db')}`;
    const file = write(dir, 'sequences.json', '{"a": 5, "big": 9223372036854775806}');

    const imported = await runCli(['import', file, '--store', store]);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /Imported 2 sequences/);
    assert.match(imported.stdout, /2 created, 0 raised/);

    const result = await runCli(['export', '--store', store]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /"big": 9223372036854775806\b/, 'the value is written exactly, not rounded');
    assert.deepEqual(
      sequencesIn(result.stdout),
      new Map([
        ['a', 5n],
        ['big', 9223372036854775806n],
      ]),
    );
  });

  test('a server on an imported store continues after the imported values, exactly', async () => {
    const dir = tempDir();
    const store = `sqlite:${join(dir, 'store.db')}`;
    const file = write(dir, 'sequences.json', '{"a": 5, "big": 9223372036854775806}');
    const imported = await runCli(['import', file, '--store', store]);
    assert.equal(imported.code, 0, imported.stderr);

    const server = await startServer({ store });
    assert.equal(await nextValue(server.url, 'a'), 6n);
    const big = await postNext(server.url, 'big');
    assert.equal(big.status, 200);
    assert.match(big.text, /"next_value":9223372036854775807\}/);
    const exhausted = await postNext(server.url, 'big');
    assert.equal(exhausted.status, 409);
    assert.match(exhausted.text, /"code":"sequence_exhausted"/);
    assert.equal(await server.stop(), 0);

    assert.deepEqual(
      await exported(store),
      new Map([
        ['a', 6n],
        ['big', INT64_MAX],
      ]),
    );
  });

  test('import never lowers a counter, and raises the ones below the file', async () => {
    const dir = tempDir();
    const store = `sqlite:${join(dir, 'store.db')}`;
    assert.equal((await runCli(['import', write(dir, 'first.json', '{"a": 5, "b": 10}'), '--store', store])).code, 0);

    const second = await runCli(['import', write(dir, 'second.json', '{"a": 3, "b": 20, "c": 1}'), '--store', store]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /Imported 3 sequences/);
    assert.match(second.stdout, /1 created, 1 raised, 1 already at or beyond/);
    assert.deepEqual(
      await exported(store),
      new Map([
        ['a', 5n],
        ['b', 20n],
        ['c', 1n],
      ]),
    );
  });

  describe('an invalid file exits non-zero with a clear message and changes nothing', { concurrency: true }, () => {
    const seeded = { a: 5n, fine: 1n };
    const seedDir = tempDir();
    before(async () => {
      const result = await runCli(['import', write(seedDir, 'seed.json', '{"a": 5, "fine": 1}'), '--store', `sqlite:${join(seedDir, 'store.db')}`]);
      assert.equal(result.code, 0, result.stderr);
    });

    const cases: readonly { readonly title: string; readonly text: string; readonly messages: readonly RegExp[] }[] = [
      { title: 'not JSON', text: '{"a": 1,', messages: [/not valid JSON/] },
      { title: 'an array', text: '[["a", 1]]', messages: [/must hold a JSON object/] },
      {
        title: 'values that are not integers (each one reported)',
        text: '{"fine": 2, "a": 1.5, "s": "7", "n": null}',
        messages: [/"a": the value must be an integer, got 1\.5/, /"s": the value must be an integer/, /"n": the value must be an integer/],
      },
      {
        title: 'a negative value and one beyond 64 bits',
        text: '{"fine": 2, "neg": -1, "huge": 9223372036854775808}',
        messages: [/"neg": the value -1 is outside 0\.\.9223372036854775807/, /"huge": the value 9223372036854775808 is outside/],
      },
      {
        title: 'a name too long, a name with a control character, an empty name',
        text: `{"fine": 2, "${'n'.repeat(256)}": 1, "tab\\there": 1, "": 1}`,
        messages: [/256 bytes of UTF-8; the limit is 255/, /"tab\\there": the sequence name contains a control character/, /"": the sequence name is empty/],
      },
    ];

    for (const { title, text, messages } of cases) {
      test(title, async () => {
        // A copy of the seeded store per case (the import closed it, so the main file holds everything).
        const dir = tempDir();
        cpSync(join(seedDir, 'store.db'), join(dir, 'store.db'));
        const store = `sqlite:${join(dir, 'store.db')}`;

        const file = write(dir, 'bad.json', text);
        const result = await runCli(['import', file, '--store', store]);
        assert.equal(result.code, 1, `exit code; stderr: ${result.stderr}`);
        assert.ok(result.stderr.includes(file), `the message names the file: ${result.stderr}`);
        for (const message of messages) assert.match(result.stderr, message);
        assert.equal(result.stdout, '');
        assert.deepEqual(await exported(store), new Map(Object.entries(seeded)), 'the store is unchanged');
      });
    }

    test('a missing file', async () => {
      const dir = tempDir();
      const file = join(dir, 'nope.json');
      const result = await runCli(['import', file, '--store', `sqlite:${join(dir, 'store.db')}`]);
      assert.equal(result.code, 1, result.stderr);
      assert.ok(result.stderr.includes(file), result.stderr);
    });

    test('an invalid file does not even create the store', async () => {
      const dir = tempDir();
      const result = await runCli(['import', write(dir, 'bad.json', '{"a": -5}'), '--store', `sqlite:${join(dir, 'new.db')}`]);
      assert.equal(result.code, 1, result.stderr);
      assert.equal(existsSync(join(dir, 'new.db')), false);
    });
  });

  test('export FILE writes the sequences.json format to the file, and nothing to stdout', async () => {
    const dir = tempDir();
    const store = `sqlite:${join(dir, 'store.db')}`;
    const seed = '{"b": 2, "a": 5, "bücher:2026 q1": 7, "big": 9223372036854775807}';
    assert.equal((await runCli(['import', write(dir, 'seed.json', seed), '--store', store])).code, 0);

    const file = join(dir, 'exported.json');
    const result = await runCli(['export', file, '--store', store]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, '', 'the data goes to the file only');
    const text = readFileSync(file, 'utf8');
    assert.match(text, /"big": 9223372036854775807\b/);
    assert.deepEqual(sequencesIn(text), sequencesIn(seed));
    assert.deepEqual(await exported(store), sequencesIn(seed), 'export to stdout prints the same');

    // The exported file is an import file: it round-trips into a fresh store.
    const copy = `sqlite:${join(dir, 'copy.db')}`;
    const imported = await runCli(['import', file, '--store', copy]);
    assert.equal(imported.code, 0, imported.stderr);
    assert.deepEqual(await exported(copy), sequencesIn(seed));
  });

  test('export of an empty store prints {}', async () => {
    const dir = tempDir();
    const store = `sqlite:${join(dir, 'store.db')}`;
    assert.equal((await runCli(['import', write(dir, 'empty.json', '{}'), '--store', store])).code, 0);
    const result = await runCli(['export', '--store', store]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(parseJsonLossless(result.stdout), {});
  });

  test('export of a missing store fails with exit 1 and does not create it', async () => {
    const dir = tempDir();
    const path = join(dir, 'missing.db');
    const result = await runCli(['export', '--store', `sqlite:${path}`]);
    assert.equal(result.code, 1, result.stderr);
    assert.ok(result.stderr.includes(path), `the message names the store: ${result.stderr}`);
    assert.equal(result.stdout, '');
    assert.equal(existsSync(path), false);
  });
});

describe('working directory', { concurrency: true }, () => {
  test('the CLI runs from any folder; the default store takeanumber.db is created in the working directory', async () => {
    const cwd = tempDir();
    const version = await runCli(['--version'], { cwd });
    assert.equal(version.stdout, `${VERSION}\n`);

    const server = await startServer({ cwd });
    assert.equal(await nextValue(server.url, 'here'), 1n);
    assert.equal(await nextValue(server.url, 'here'), 2n);
    assert.equal(await server.stop(), 0);
    assert.ok(existsSync(join(cwd, 'takeanumber.db')), 'takeanumber.db in the working directory');

    const result = await runCli(['export'], { cwd });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(sequencesIn(result.stdout), new Map([['here', 2n]]));

    const relative = await runCli(['import', 'seed.json', '--store', 'sqlite:data/other.db'], { cwd });
    assert.equal(relative.code, 1, 'seed.json does not exist yet');
    write(cwd, 'seed.json', '{"x": 41}');
    const imported = await runCli(['import', 'seed.json', '--store', 'sqlite:data/other.db'], { cwd });
    assert.equal(imported.code, 0, imported.stderr);
    assert.ok(existsSync(join(cwd, 'data', 'other.db')), 'relative store paths are relative to the working directory');
  });

  test('TAKEANUMBER_STORE chooses the store when --store is not given', async () => {
    const dir = tempDir();
    const path = join(dir, 'env.db');
    const imported = await runCli(['import', write(dir, 'seed.json', '{"e": 3}')], {
      cwd: dir,
      env: { TAKEANUMBER_STORE: `sqlite:${path}` },
    });
    assert.equal(imported.code, 0, imported.stderr);
    assert.ok(existsSync(path));
    assert.equal(existsSync(join(dir, 'takeanumber.db')), false);
  });
});
