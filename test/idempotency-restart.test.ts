import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startServer, type RunningServer } from './helpers/cli.js';
import { tempDir } from './helpers/temp.js';

// Spawns the built CLI: run `npm run build` first.

interface Answer {
  readonly status: number;
  /** The body as sent (values beyond 2^53 are checked in it exactly). */
  readonly text: string;
  readonly replayed: string | null;
}

interface Taken {
  readonly first: bigint;
  readonly last: bigint;
}

async function post(url: string, name: string, options: { key?: string; count?: number } = {}): Promise<Answer> {
  const query = options.count === undefined ? '' : `?count=${options.count}`;
  const response = await fetch(`${url}/next/${encodeURIComponent(name)}${query}`, {
    method: 'POST',
    headers: options.key === undefined ? {} : { 'Idempotency-Key': options.key },
  });
  return { status: response.status, text: await response.text(), replayed: response.headers.get('idempotent-replayed') };
}

/** The values of a 200 answer, read exactly from its text. */
function taken(answer: Answer): Taken {
  assert.equal(answer.status, 200, answer.text);
  const first = /"next_value":(-?\d+)/.exec(answer.text)?.[1];
  const last = /"last_value":(-?\d+)/.exec(answer.text)?.[1];
  assert.ok(first !== undefined, answer.text);
  return { first: BigInt(first), last: BigInt(last ?? first) };
}

async function kill9(server: RunningServer): Promise<void> {
  assert.equal(await server.stop('SIGKILL', 5000), null);
  assert.equal(server.process.signalCode, 'SIGKILL');
}

function freshStore(): string {
  return `sqlite:${join(tempDir(), 'store.db')}`;
}

describe('idempotency across a kill -9 and restart', () => {
  test('a retry with the same key after the restart gets the same answer, replayed', async () => {
    const store = freshStore();
    const before = await startServer({ store });
    taken(await post(before.url, 'orders'));
    const single = await post(before.url, 'orders', { key: 'checkout-41' });
    assert.equal(single.text, '{"sequence_id":"orders","next_value":2}');
    assert.equal(single.replayed, null);
    const batch = await post(before.url, 'orders', { key: 'checkout-42', count: 5 });
    assert.equal(batch.text, '{"sequence_id":"orders","next_value":3,"last_value":7,"count":5}');
    assert.equal(batch.replayed, null);
    await kill9(before);

    const after = await startServer({ store });
    const singleRetry = await post(after.url, 'orders', { key: 'checkout-41' });
    assert.equal(singleRetry.status, 200);
    assert.equal(singleRetry.text, single.text);
    assert.equal(singleRetry.replayed, 'true');
    const batchRetry = await post(after.url, 'orders', { key: 'checkout-42', count: 5 });
    assert.equal(batchRetry.status, 200);
    assert.equal(batchRetry.text, batch.text);
    assert.equal(batchRetry.replayed, 'true');
    // The same key for another request is still refused.
    const reused = await post(after.url, 'orders', { key: 'checkout-42', count: 6 });
    assert.equal(reused.status, 422);
    assert.match(reused.text, /"code":"idempotency_key_reused"/);
    // Nothing was allocated by the retries.
    assert.deepEqual(taken(await post(after.url, 'orders')), { first: 8n, last: 8n });
    assert.equal(await after.stop('SIGTERM'), 0);
  });

  test('replays values above 2^53 exactly after the restart', async () => {
    const store = freshStore();
    const before = await startServer({ store });
    const created = await fetch(`${before.url}/sequences/big`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{"start": "9223372036854775000"}',
    });
    assert.equal(created.status, 201, await created.text());
    const batch = await post(before.url, 'big', { key: 'big-1', count: 3 });
    assert.equal(batch.text, '{"sequence_id":"big","next_value":9223372036854775000,"last_value":9223372036854775002,"count":3}');
    await kill9(before);

    const after = await startServer({ store });
    const retry = await post(after.url, 'big', { key: 'big-1', count: 3 });
    assert.equal(retry.text, batch.text);
    assert.equal(retry.replayed, 'true');
    assert.equal(await after.stop('SIGTERM'), 0);
  });

  test('a cache 50 sequence never repeats a value after kill -9 (a gap is fine)', async () => {
    const store = freshStore();
    const first = await startServer({ store });
    const created = await fetch(`${first.url}/sequences/cached`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{"cache": 50}',
    });
    assert.equal(created.status, 201, await created.text());

    const answered: Taken[] = [];
    for (let i = 0; i < 7; i += 1) answered.push(taken(await post(first.url, 'cached')));
    answered.push(taken(await post(first.url, 'cached', { count: 5 })));
    answered.push(taken(await post(first.url, 'cached', { key: 'cached-1' })));
    answered.push(...(await Promise.all(Array.from({ length: 10 }, () => post(first.url, 'cached')))).map(taken));
    const highest = answered.reduce((max, t) => (t.last > max ? t.last : max), 0n);
    assert.equal(highest, 23n, 'values 1..23 were answered from the first block');
    await kill9(first);

    // Twice: a second crash must not repeat the values of the block reserved after the first.
    let floor = highest;
    for (let round = 0; round < 2; round += 1) {
      const server = await startServer({ store });
      const after: Taken[] = [];
      for (let i = 0; i < 5; i += 1) after.push(taken(await post(server.url, 'cached')));
      after.push(taken(await post(server.url, 'cached', { count: 60 })));
      after.push(...(await Promise.all(Array.from({ length: 10 }, () => post(server.url, 'cached')))).map(taken));
      const sorted = [...after].sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
      for (const t of sorted) {
        assert.ok(t.first > floor, `round ${round}: ${t.first} was not above ${floor}, answered before`);
        floor = t.last;
      }
      // The key recorded before the first crash still replays.
      const replay = await post(server.url, 'cached', { key: 'cached-1' });
      assert.equal(replay.replayed, 'true');
      assert.deepEqual(taken(replay), answered[8]);
      await kill9(server);
    }
  });
});
