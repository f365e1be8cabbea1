import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { decodeEntries } from '../../src/store/sqlite/log-codec.js';
import { runCli } from './cli.js';
import { tempDir } from './temp.js';

/**
 * `serve` on a store it must refuse: exit status 1 before it listens, and a
 * message on stderr naming `file`. Resolves that message.
 */
export async function refusedToServe(store: string, file: string): Promise<string> {
  const result = await runCli(['serve', '--port', '0', '--host', '127.0.0.1', '--store', store]);
  assert.equal(result.code, 1, `serve --store ${store} exits with status 1\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  assert.doesNotMatch(result.stdout, /take-a-number ready/, 'it never listened');
  assert.ok(result.stderr.includes(file), `the message names ${file}: ${result.stderr}`);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'a message, not a stack trace');
  return result.stderr;
}

/**
 * What the database file alone holds, without its -wal: a copy of it opened
 * in a folder of its own, its allocation log read over its table. This is what a
 * restart would see if the WAL were lost.
 */
export function mainFileAlone(path: string): { tables: string[]; userVersion: number; lastValue(name: string): bigint | undefined } {
  const copy = join(tempDir(), 'main-file-alone.db');
  copyFileSync(path, copy);
  const db = new Database(copy);
  try {
    const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all() as string[];
    const userVersion = db.pragma('user_version', { simple: true }) as number;
    const values = new Map<string, bigint>();
    if (tables.includes('sequences')) {
      for (const [name, value] of db.prepare('SELECT name, last_value FROM sequences').raw(true).safeIntegers(true).all() as [string, bigint][]) {
        values.set(name, value);
      }
    }
    // The allocation log's entries are newer than the table's rows (allocation-log.ts): a start replays them.
    if (tables.includes('allocation_log')) {
      for (const entries of db.prepare('SELECT entries FROM allocation_log ORDER BY seq').pluck().all() as Buffer[]) {
        for (const [name, value] of decodeEntries(entries)) values.set(name, value);
      }
    }
    return { tables, userVersion, lastValue: (name) => values.get(name) };
  } finally {
    db.close();
  }
}
