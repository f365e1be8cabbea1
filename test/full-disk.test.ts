/**
 * A full disk, for real: `serve` on a SQLite store runs under a file-size
 * limit (prlimit's RLIMIT_FSIZE; Node ignores SIGXFSZ, so a write past the
 * limit fails with EFBIG instead of killing the process). Under load the WAL
 * reaches the limit and commits fail: the server must answer 503
 * store_unavailable, log why, stay up, hand out no value twice, serve again
 * once the limit is raised on the running process, and continue beyond every
 * value after a restart.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { parseJsonLossless } from '../src/json.js';
import { lastIssued } from '../src/core/sequence.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { startServer, type LogLine } from './helpers/cli.js';
import { tempDir } from './helpers/temp.js';

const run = promisify(execFile);

/**
 * The file-size limit. After a normal start the store is a 4 KiB database, a
 * WAL of about 20 KiB (the schema, until the first checkpoint) and a 32 KiB
 * -shm index (the test checks they fit in half of it). Each commit appends a
 * frame of 4 KiB + 24 bytes per page it changes, and the WAL is checkpointed
 * only at about 4 MB, so 256 KiB fills after a few dozen commits. The hard
 * limit stays unlimited: raising the soft limit later needs no privilege
 * (raising a hard limit needs CAP_SYS_RESOURCE).
 */
const LIMIT = 256 * 1024;
/** Requests sent at most before the store is expected to be full. */
const MAX_REQUESTS = 5000;
const CALLERS = 8;

interface Kind {
  readonly name: string;
  readonly count?: bigint;
  readonly keyed?: boolean;
}

/** Each writes differently: a cache 1 value, a cache 1 batch, a cached (50) value, a value with an idempotency key. */
const KINDS: readonly Kind[] = [{ name: 'plain' }, { name: 'batch', count: 5n }, { name: 'cached' }, { name: 'keyed', keyed: true }];

interface Answer {
  readonly kind: Kind;
  readonly key: string | undefined;
  readonly status: number;
  readonly text: string;
  readonly retryAfter: string | null;
  readonly replayed: boolean;
  readonly first: bigint | undefined;
  readonly last: bigint | undefined;
}

async function post(url: string, kind: Kind, key?: string): Promise<Answer> {
  const query = kind.count === undefined ? '' : `?count=${kind.count}`;
  const response = await fetch(`${url}/next/${kind.name}${query}`, {
    method: 'POST',
    headers: key === undefined ? {} : { 'Idempotency-Key': key },
  });
  const text = await response.text();
  let first: bigint | undefined;
  let last: bigint | undefined;
  if (response.status === 200) {
    const body = parseJsonLossless(text) as Record<string, unknown>;
    assert.equal(body.sequence_id, kind.name, text);
    first = body.next_value as bigint;
    last = kind.count === undefined ? first : (body.last_value as bigint);
    assert.equal(typeof first, 'bigint', text);
    assert.equal(typeof last, 'bigint', text);
  }
  return {
    kind,
    key,
    status: response.status,
    text,
    retryAfter: response.headers.get('retry-after'),
    replayed: response.headers.get('idempotent-replayed') === 'true',
    first,
    last,
  };
}

/** Every value answered, per sequence; a value answered twice fails at once. */
class Answered {
  readonly #values = new Map<string, Set<bigint>>();

  record(answer: Answer): void {
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.replayed, false, `no request of this test repeats a key that succeeded: ${answer.text}`);
    const seen = this.#values.get(answer.kind.name) ?? new Set<bigint>();
    this.#values.set(answer.kind.name, seen);
    for (let value = answer.first as bigint; value <= (answer.last as bigint); value += 1n) {
      assert.ok(!seen.has(value), `${answer.kind.name}: ${value} answered twice (now: ${answer.text})`);
      seen.add(value);
    }
  }

  highest(name: string): bigint {
    let top = 0n;
    for (const value of this.#values.get(name) ?? []) if (value > top) top = value;
    return top;
  }

  get size(): number {
    let size = 0;
    for (const values of this.#values.values()) size += values.size;
    return size;
  }
}

function assertStoreUnavailable(answer: Answer): void {
  assert.equal(answer.status, 503, `${answer.kind.name}: ${answer.text}`);
  const code = ((parseJsonLossless(answer.text) as { error?: { code?: unknown } }).error ?? {}).code;
  assert.equal(code, 'store_unavailable', answer.text);
  assert.equal(answer.retryAfter, '1', 'a 503 store_unavailable carries Retry-After');
}

test('a full disk: 503 store_unavailable with a log line, no value twice, serving again once there is room, and after a restart', async () => {
  const path = join(tempDir(), 'full.db');
  const store = `sqlite:${path}`;
  const answered = new Answered();
  let keyNumber = 0;
  const newKey = (): string => `full-disk-${++keyNumber}`;

  const server = await startServer({ store, launcher: ['prlimit', `--fsize=${LIMIT}:unlimited`] });
  // prlimit execs the server: the pid in its log is the process the test started.
  const ready = await server.waitForLog((line) => line.msg === 'take-a-number ready');
  assert.equal(ready.pid, server.process.pid);
  const pid = String(server.process.pid);
  const { stdout: limits } = await run('prlimit', ['--pid', pid, '--fsize', '--raw', '--noheadings', '--output', 'SOFT,HARD']);
  assert.deepEqual(limits.trim().split(/\s+/), [String(LIMIT), 'unlimited']);
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    if (existsSync(file)) assert.ok(statSync(file).size < LIMIT / 2, `${file} is ${statSync(file).size} bytes after the start; the limit leaves room`);
  }

  const cached = await fetch(`${server.url}/sequences/cached`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: '{"cache":50}',
  });
  assert.equal(cached.status, 201, await cached.text());

  // Load until the store is full: every answer is a 200 (recorded) or a 503 store_unavailable.
  let sent = 0;
  let full = false;
  const failedKeys: string[] = [];
  await Promise.all(
    Array.from({ length: CALLERS }, async (_, caller) => {
      for (let i = caller; !full && sent < MAX_REQUESTS; i += 1) {
        sent += 1;
        const kind = KINDS[i % KINDS.length] as Kind;
        const key = kind.keyed === true ? newKey() : undefined;
        const answer = await post(server.url, kind, key);
        if (answer.status === 200) {
          answered.record(answer);
        } else {
          assertStoreUnavailable(answer);
          full = true;
          if (key !== undefined) failedKeys.push(key);
        }
      }
    }),
  );
  assert.ok(full, `the store was not full after ${sent} requests (${answered.size} values answered)`);
  // A failed commit may have needed more pages than were left: smaller ones can still fit. Fill the rest
  // one request at a time, until not even a one-page commit fits and the cached sequence has used up
  // its block (at most 50 passes).
  let saturated = false;
  for (let pass = 0; pass < 100 && !saturated; pass += 1) {
    saturated = true;
    for (const kind of KINDS) {
      const key = kind.keyed === true ? newKey() : undefined;
      const answer = await post(server.url, kind, key);
      if (answer.status === 200) {
        answered.record(answer);
        saturated = false;
      } else {
        assertStoreUnavailable(answer);
        if (key !== undefined) failedKeys.push(key);
      }
    }
  }
  assert.ok(saturated, 'the store filled up completely');
  const onDisk = statSync(`${path}-wal`).size;
  assert.ok(onDisk <= LIMIT && onDisk > LIMIT - 8192, `the WAL stopped at the limit (${onDisk} bytes)`);

  // While full: every request fails cleanly, again and again.
  for (const kind of KINDS) {
    for (let i = 0; i < 3; i += 1) {
      const key = kind.keyed === true ? newKey() : undefined;
      const answer = await post(server.url, kind, key);
      assertStoreUnavailable(answer);
      if (key !== undefined) failedKeys.push(key);
    }
  }
  assert.ok(failedKeys.length > 0, 'some keyed requests failed');

  // Nothing answered is missing from the store: read beside the server, it has durably issued every value answered.
  const reader = SqliteStore.open(path, { mode: 'read' });
  try {
    for (const kind of KINDS) {
      const record = await reader.getSequence(kind.name);
      assert.ok(record !== undefined, kind.name);
      const durable = lastIssued(record.position, record.options.increment);
      assert.ok(answered.highest(kind.name) <= durable, `${kind.name}: answered up to ${answered.highest(kind.name)}, durable only up to ${durable}`);
    }
  } finally {
    await reader.close();
  }

  // The process is up, says it is alive, and has logged why the commits fail: what SQLite reports for
  // EFBIG (a write past the file-size limit) is SQLITE_IOERR_WRITE, "disk I/O error".
  assert.equal(server.process.exitCode, null);
  const health = await fetch(`${server.url}/healthz`);
  assert.equal(health.status, 200, await health.text());
  const failure: LogLine = await server.waitForLog((line) => line.level === 50 && line.msg === `store ${store} failed to commit`);
  const err = failure.err as { type?: unknown; code?: unknown; message?: unknown } | undefined;
  assert.equal(err?.type, 'SqliteError', JSON.stringify(failure));
  assert.equal(err.code, 'SQLITE_IOERR_WRITE', JSON.stringify(failure));
  assert.equal(err.message, 'disk I/O error', JSON.stringify(failure));

  // Room again, without a restart: raise the limit of the running process.
  await run('prlimit', ['--pid', pid, '--fsize=unlimited']);
  const { stdout: raised } = await run('prlimit', ['--pid', pid, '--fsize', '--raw', '--noheadings', '--output', 'SOFT,HARD']);
  assert.deepEqual(raised.trim().split(/\s+/), ['unlimited', 'unlimited']);
  const highestBefore = new Map(KINDS.map((kind) => [kind.name, answered.highest(kind.name)]));
  for (const kind of KINDS) {
    for (let i = 0; i < 3; i += 1) {
      const answer = await post(server.url, kind, kind.keyed === true ? newKey() : undefined);
      answered.record(answer);
      assert.ok((answer.first as bigint) > (highestBefore.get(kind.name) ?? 0n), `${kind.name}: ${answer.text} continues beyond the values answered before`);
    }
  }
  // The keyed requests that failed recorded nothing: their retries are new requests, answered with new values.
  for (const key of failedKeys) {
    const answer = await post(server.url, { name: 'keyed', keyed: true }, key);
    answered.record(answer);
  }
  assert.ok(statSync(`${path}-wal`).size > LIMIT, 'the WAL grew past the old limit');

  assert.equal(await server.stop(), 0, 'a clean stop after the disk was full');

  // After a restart (no limit), values continue beyond everything answered.
  const again = await startServer({ store });
  const highestAll = new Map(KINDS.map((kind) => [kind.name, answered.highest(kind.name)]));
  for (const kind of KINDS) {
    const answer = await post(again.url, kind, kind.keyed === true ? newKey() : undefined);
    answered.record(answer);
    assert.ok((answer.first as bigint) > (highestAll.get(kind.name) ?? 0n), `${kind.name}: after a restart ${answer.text} continues beyond all values answered`);
  }
  assert.equal(await again.stop(), 0);
});
