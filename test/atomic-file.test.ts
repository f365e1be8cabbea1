import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { replaceFile } from '../src/commands/atomic-file.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/temp.js';

/** strace, to see the system calls a command makes. */
const STRACE = spawnSync('strace', ['-qq', '-o', '/dev/null', 'true']).status === 0;
// Without strace (or where it may not trace) the test is skipped, saying why; in CI (.ci/run installs
// it) that is a failure, so the check can never silently stop being run.
const skipWithoutStrace = STRACE || process.env.CI === 'true' ? false : 'strace is not installed or may not trace here (Debian: apt-get install strace)';

/**
 * Runs `take-a-number ARGS` under strace and checks that, after renaming its
 * temporary file over `file`, it opened the folder and fsynced it: without
 * that, the rename (the new file) can be lost in a power failure.
 */
async function assertFolderSyncedAfterRename(args: readonly string[], dir: string, file: string): Promise<void> {
  const trace = join(dir, 'strace.log');
  const calls = 'trace=openat,rename,renameat,renameat2,fsync,fdatasync';
  const result = await runCli(args, { launcher: ['strace', '-f', '-qq', '-o', trace, '-e', calls], timeoutMs: 30_000 });
  assert.equal(result.code, 0, result.stderr);
  const lines = readFileSync(trace, 'utf8').split('\n');
  const renamed = lines.findIndex((line) => /rename(at2?)?\(/.test(line) && line.includes(`"${file}"`) && line.endsWith('= 0'));
  assert.notEqual(renamed, -1, `the temporary file is renamed over ${file}`);
  const after = lines.slice(renamed + 1);
  const opened = after.findIndex((line) => line.includes(`openat(AT_FDCWD, "${dir}", O_RDONLY`));
  const fd = / = (\d+)$/.exec(after[opened] ?? '')?.[1];
  assert.ok(fd !== undefined, `the folder ${dir} is opened after the rename`);
  assert.ok(after.slice(opened + 1).some((line) => line.includes(` fsync(${fd})`) && line.endsWith('= 0')), `the folder ${dir} is fsynced after the rename`);
}

describe('replaceFile (export and backup write their FILE with it)', () => {
  test('replaces the file whole and leaves nothing else in the folder', async () => {
    const dir = tempDir();
    const target = join(dir, 'out.json');
    writeFileSync(target, 'old');
    await replaceFile(target, (temporary) => writeFile(temporary, 'new'));
    assert.equal(readFileSync(target, 'utf8'), 'new');
    assert.deepEqual(readdirSync(dir), ['out.json']);
  });

  test('a failed write leaves the file as it was and removes the temporary file and its companions', async () => {
    const dir = tempDir();
    const target = join(dir, 'out.db');
    writeFileSync(target, 'old');
    const failure = new Error('disk full');
    await assert.rejects(
      replaceFile(
        target,
        async (temporary) => {
          // Half a file, and what SQLite leaves beside one it was writing.
          await writeFile(temporary, 'ne');
          await writeFile(`${temporary}-journal`, 'j');
          throw failure;
        },
        ['-journal'],
      ),
      (error) => error === failure,
    );
    assert.equal(readFileSync(target, 'utf8'), 'old');
    assert.deepEqual(readdirSync(dir), ['out.db']);
  });

  test('creates the file when there is none', async () => {
    const dir = tempDir();
    const target = join(dir, 'new.json');
    await replaceFile(target, (temporary) => writeFile(temporary, '{}\n'));
    assert.equal(readFileSync(target, 'utf8'), '{}\n');
    assert.deepEqual(readdirSync(dir), ['new.json']);
  });

  test('export FILE and backup FILE fsync the folder after the rename', { skip: skipWithoutStrace }, async () => {
    assert.ok(STRACE, 'strace is not installed or may not trace here: .ci/run installs it (apt-get install strace)');
    const dir = tempDir();
    const store = `sqlite:${join(dir, 'store.db')}`;
    assert.equal((await runCli(['migrate', '--store', store])).code, 0);
    await assertFolderSyncedAfterRename(['export', join(dir, 'export.json'), '--store', store], dir, join(dir, 'export.json'));
    await assertFolderSyncedAfterRename(['backup', join(dir, 'backup.db'), '--store', store], dir, join(dir, 'backup.db'));
  });
});
