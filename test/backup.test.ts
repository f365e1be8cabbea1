import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { CLI_PATH, nextValue, postNext, runCli, startServer, until, within } from './helpers/cli.js';
import { tempDir } from './helpers/temp.js';

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

function assertOk(result: { code: number | null; stdout: string; stderr: string }, what: string): void {
  assert.equal(result.code, 0, `${what}: exit ${String(result.code)}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
}

/**
 * The README's restore: stop the server first; remove the old -wal and -shm;
 * copy the backup over the store; remove the lock file, whose record of the
 * store would refuse the older file.
 */
function restore(backup: string, storePath: string): void {
  rmSync(`${storePath}-wal`, { force: true });
  rmSync(`${storePath}-shm`, { force: true });
  copyFileSync(backup, storePath);
  rmSync(`${storePath}.lock`);
}

describe('take-a-number backup', () => {
  test('under concurrent /next load, the backup is a snapshot that serve opens', async () => {
    const dir = tempDir();
    const storePath = join(dir, 'store.db');
    const store = `sqlite:${storePath}`;
    // Enough sequences for the store to span many pages, so the copy is more than one page.
    const seeded = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`seeded-${String(i).padStart(4, '0')}`, i + 1]));
    writeFileSync(join(dir, 'seed.json'), JSON.stringify(seeded));
    assertOk(await runCli(['import', join(dir, 'seed.json'), '--store', store]), 'import');

    const server = await startServer({ store });
    const names = ['alpha', 'beta', 'gamma', 'delta'];
    /** Highest value answered before the backup started: the snapshot holds at least it. */
    const answeredBefore = new Map<string, bigint>(names.map((name) => [name, 0n]));
    /** Highest value answered to a request sent before the backup ended: the snapshot holds at most it. */
    const sentBeforeEnd = new Map<string, bigint>(names.map((name) => [name, 0n]));
    let started = false;
    let ended = false;
    let during = 0;
    let stop = false;
    const worker = async (index: number): Promise<void> => {
      for (let i = index; !stop; i += 1) {
        const name = names[i % names.length] ?? 'alpha';
        const sentEarly = !ended;
        const value = await nextValue(server.url, name);
        if (!started) answeredBefore.set(name, value > (answeredBefore.get(name) ?? 0n) ? value : (answeredBefore.get(name) ?? 0n));
        if (sentEarly) sentBeforeEnd.set(name, value > (sentBeforeEnd.get(name) ?? 0n) ? value : (sentBeforeEnd.get(name) ?? 0n));
        if (started && sentEarly) during += 1;
      }
    };
    const workers = Array.from({ length: 8 }, (_, index) => worker(index));
    try {
      await until(() => [...answeredBefore.values()].every((value) => value >= 5n), 10_000, () => 'the load did not start');
      const file = join(dir, 'backups', 'snapshot.db');
      mkdirSync(join(dir, 'backups'));
      started = true;
      const result = await runCli(['backup', file, '--store', store], { timeoutMs: 20_000 });
      ended = true;
      stop = true;
      await Promise.all(workers);
      assertOk(result, 'backup');
      assert.ok(during > 0, 'requests were answered while the backup ran');

      const summary = /^Backed up (\d+) sequences from (\S+) to (\S+) \((\d+) bytes\)\.\n$/.exec(result.stdout);
      assert.ok(summary, `one summary line on stdout: ${result.stdout}`);
      assert.equal(summary[1], String(3000 + names.length));
      assert.equal(summary[2], store);
      assert.equal(summary[3], file);
      assert.equal(Number(summary[4]), statSync(file).size);
      assert.deepEqual(readdirSync(join(dir, 'backups')), ['snapshot.db'], 'no temporary file is left behind');

      // The copy is a store serve accepts (it checks application_id, schema version and integrity).
      const copy = await startServer({ store: `sqlite:${file}` });
      try {
        for (const name of names) {
          const last = (await nextValue(copy.url, name)) - 1n;
          const low = answeredBefore.get(name) ?? 0n;
          const high = sentBeforeEnd.get(name) ?? 0n;
          assert.ok(last >= low, `${name}: the backup holds ${last}, below ${low}, answered before the backup started`);
          assert.ok(last <= high, `${name}: the backup holds ${last}, above ${high}, the last value asked for before it ended`);
        }
        assert.equal(await nextValue(copy.url, 'seeded-2999'), 3001n);
      } finally {
        assert.equal(await copy.stop(), 0);
      }
    } finally {
      stop = true;
      await Promise.allSettled(workers);
      await server.stop();
    }
  });

  test('restore: counters go back to the snapshot unless raised; a later export or the README recipe raises them', async () => {
    const dir = tempDir();
    const storePath = join(dir, 'store.db');
    const store = `sqlite:${storePath}`;
    const backup = join(dir, 'backup.db');
    const atFailure = join(dir, 'at-failure.json');

    let server = await startServer({ store });
    for (let i = 1n; i <= 5n; i += 1n) assert.equal(await nextValue(server.url, 'orders'), i);
    assert.equal(await nextValue(server.url, 'invoices'), 1n);
    assertOk(await runCli(['backup', backup, '--store', store]), 'backup');
    // Handed out after the backup: 6 to 10, and a sequence the backup does not know.
    for (let i = 6n; i <= 10n; i += 1n) assert.equal(await nextValue(server.url, 'orders'), i);
    assert.equal(await nextValue(server.url, 'created-later'), 1n);
    assert.equal(await server.stop('SIGKILL'), null);
    assert.ok(existsSync(`${storePath}-wal`), 'after kill -9 the WAL holds the latest commits');
    // The old store is still readable here: the export the safe restore imports afterwards.
    assertOk(await runCli(['export', atFailure, '--format', 'full', '--store', store]), 'export at the failure');

    // 1. A plain restore moves the counter back to the snapshot: 6 is handed out again.
    restore(backup, storePath);
    server = await startServer({ store });
    assert.equal(await nextValue(server.url, 'orders'), 6n, 'values continue right after the backup');
    assert.equal((await postNext(server.url, 'created-later')).value, 1n, 'a sequence created after the backup starts afresh');
    assert.equal(await server.stop(), 0);

    // 2. Restore, then import an export taken later: every counter is where it was at the failure.
    restore(backup, storePath);
    assertOk(await runCli(['import', atFailure, '--store', store]), 'import');
    server = await startServer({ store });
    assert.equal(await nextValue(server.url, 'orders'), 11n);
    assert.equal(await nextValue(server.url, 'created-later'), 2n);
    assert.equal(await server.stop(), 0);

    // 3. Restore with no later export: the README's recipe raises every counter by a margin.
    restore(backup, storePath);
    await runReadmeRecipe(dir, store, 1000n);
    server = await startServer({ store });
    assert.equal(await nextValue(server.url, 'orders'), 5n + 1000n + 1n);
    assert.equal(await nextValue(server.url, 'invoices'), 1n + 1000n + 1n);
    assert.equal(await server.stop(), 0);
  });

  test('wrong uses: no FILE, a missing store, a missing folder, the store itself, PostgreSQL', async () => {
    const dir = tempDir();
    const storePath = join(dir, 'store.db');
    const store = `sqlite:${storePath}`;
    assertOk(await runCli(['migrate', '--store', store]), 'migrate');

    const usage = await runCli(['backup', '--store', store]);
    assert.equal(usage.code, 2, usage.stderr);
    assert.match(usage.stderr, /Missing argument[\s\S]*Usage: take-a-number backup FILE/);
    assert.equal(usage.stdout, '');

    const cases: [string[], RegExp][] = [
      [['backup', join(dir, 'b.db'), '--store', `sqlite:${join(dir, 'absent.db')}`], /No store at .*absent\.db/],
      [['backup', join(dir, 'no-such-folder', 'b.db'), '--store', store], /folder .*no-such-folder does not exist/],
      [['backup', storePath, '--store', store], /is the store itself/],
      [['backup', join(dir, 'sub', '..', 'store.db'), '--store', store], /is the store itself/],
      [['backup', join(dir, 'link.db'), '--store', store], /is the store itself/],
      [['backup', `${storePath}-wal`, '--store', store], /the store's -wal file/],
      [['backup', dir, '--store', store], /is a folder/],
      [['backup', join(dir, 'b.db'), '--store', 'postgres://user:secret@127.0.0.1:1/db'], /PostgreSQL[\s\S]*pg_dump/],
    ];
    mkdirSync(join(dir, 'sub'));
    symlinkSync(storePath, join(dir, 'link.db'));
    const results = await Promise.all(cases.map(([args]) => runCli(args)));
    cases.forEach(([args, message], i) => {
      const result = results[i];
      assert.ok(result !== undefined);
      assert.equal(result.code, 1, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.doesNotMatch(result.stderr, /secret|\n\s+at /, 'no password, no stack trace');
      assert.equal(result.stdout, '');
    });
    assert.deepEqual(readdirSync(dir).sort(), ['link.db', 'store.db', 'store.db.lock', 'sub'], 'nothing written');

    const [help, mainHelp] = await Promise.all([runCli(['backup', '--help']), runCli(['--help'])]);
    assertOk(help, 'backup --help');
    assert.match(help.stdout, /Usage: take-a-number backup FILE/);
    assert.match(mainHelp.stdout, /^ {2}backup FILE /m);
  });
});

/**
 * Runs the README's "no later export" recipe (the ```sh block of "Backup and
 * restore" that sets MARGIN) as written, with take-a-number on PATH and the
 * variables it sets given here instead.
 */
async function runReadmeRecipe(dir: string, store: string, margin: bigint): Promise<void> {
  const section = README.slice(README.indexOf('\n## Backup and restore'));
  const block = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1] ?? '').find((text) => text.includes('MARGIN='));
  assert.ok(block !== undefined, 'README: Backup and restore has a ```sh recipe that sets MARGIN');
  const script = block
    .split('\n')
    .filter((line) => !/^\s*[A-Z_]+=/.test(line))
    .join('\n');
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'take-a-number'), `#!/bin/sh\nexec "${process.execPath}" "${CLI_PATH}" "$@"\n`);
  chmodSync(join(bin, 'take-a-number'), 0o755);
  const child = spawn('sh', ['-e', '-c', script], {
    cwd: dir,
    env: { PATH: `${bin}:${process.env.PATH ?? ''}`, STORE: store, MARGIN: String(margin) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const code = await within(
    new Promise<number | null>((resolve) => child.once('close', resolve)),
    15_000,
    () => {
      child.kill('SIGKILL');
      return `the README recipe did not finish: ${output}`;
    },
  );
  assert.equal(code, 0, `the README recipe failed:\n${script}\n${output}`);
}
