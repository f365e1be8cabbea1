import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { TakeANumber } from '../packages/client/src/index.js';
import { runCli, startServer } from './helpers/cli.js';
import { faultyProxy, rejection } from './helpers/client-fakes.js';
import { tempDir } from './helpers/temp.js';

/**
 * The SDK's buffer against a real server, through a proxy that counts the
 * range requests: in-order unique values under concurrency, exactly
 * ?count=batch per range, a restart survived, gapless refused, a token with
 * only the `next` scope enough.
 */

const dir = tempDir();
const store = `sqlite:${join(dir, 'buffer.db')}`;
const server = await startServer({ store });

function assertIncreasing(values: readonly bigint[]): void {
  for (let i = 1; i < values.length; i += 1) assert.ok((values[i] ?? 0n) > (values[i - 1] ?? 0n), `increasing at ${i}: ${values[i - 1]}, ${values[i]}`);
}

describe('buffer', () => {
  test('many concurrent next() calls: unique, increasing in call order, ranges of exactly ?count=batch', async () => {
    const proxy = await faultyProxy(server.url);
    const tan = new TakeANumber({ url: proxy.url });
    const ids = tan.buffer('buffered', { batch: 100, lowWater: 25 });
    const values = await Promise.all(Array.from({ length: 1000 }, () => ids.next()));
    assert.equal(new Set(values).size, 1000);
    assertIncreasing(values);
    assert.equal(values[0], 1n);
    // Closed first: a refill under way still reaches the server (its values are skipped).
    await ids.close();
    const ranges = proxy.requests.filter((r) => r.path.startsWith('/next/'));
    assert.ok(ranges.length >= 10 && ranges.every((r) => r.path === '/next/buffered?count=100'), JSON.stringify(ranges));
    assert.equal(new Set(ranges.map((r) => r.key)).size, ranges.length, 'a key per range');
    // The server's count agrees: whole ranges of 100 only, and a plain call continues after them. close()
    // does not wait for the server's answer to a refill it aborted: that range may still be taken, before
    // or after the plain call's value (both are answered only once committed; a read sees what is).
    const taken = (await tan.sequences.get('buffered')).last_value ?? 0n;
    assert.ok(taken >= 1000n && taken % 100n === 0n, `taken: ${taken}`);
    const plain = await tan.next('buffered');
    assert.ok(plain === taken + 1n || plain === taken + 101n, `a plain call after ${taken}: ${plain}`);
  });

  test('values come from memory and a refill starts below lowWater; nextSync() hands out what is in memory', async () => {
    const proxy = await faultyProxy(server.url);
    const ids = new TakeANumber({ url: proxy.url }).buffer('low-water', { batch: 10, lowWater: 4 });
    assert.equal(ids.nextSync(), undefined, 'empty: nothing yet, a refill starts');
    assert.equal(await ids.next(), 1n);
    for (let expected = 2n; expected <= 6n; expected += 1n) assert.equal(ids.nextSync(), expected);
    assert.equal(proxy.requests.length, 1, '5 left: no refill yet');
    assert.equal(ids.nextSync(), 7n);
    // 3 left < lowWater 4: a refill is under way; values keep coming in order.
    const rest = await Promise.all(Array.from({ length: 8 }, () => ids.next()));
    assert.deepEqual(rest, [8n, 9n, 10n, 11n, 12n, 13n, 14n, 15n]);
    assert.equal(proxy.requests.length, 2);
    await ids.close();
    assert.equal((await rejection(ids.next())).code, 'closed');
  });

  test('a range whose answer is lost is retried with its key: no range taken twice', async () => {
    const proxy = await faultyProxy(server.url);
    const tan = new TakeANumber({ url: proxy.url, retryBaseMs: 5 });
    const ids = tan.buffer('lost-range', { batch: 10, lowWater: 0 });
    proxy.fault('drop-response');
    const values = await Promise.all(Array.from({ length: 15 }, () => ids.next()));
    assert.deepEqual(values, Array.from({ length: 15 }, (_, i) => BigInt(i + 1)));
    const ranges = proxy.requests.filter((r) => r.path.startsWith('/next/'));
    assert.deepEqual(ranges.map((r) => r.key === ranges[0]?.key), [true, true, false]);
    await ids.close();
    assert.equal((await tan.sequences.get('lost-range')).last_value, 20n, 'two ranges taken, not three');
  });

  test('a server restart in the middle is survived: values stay unique and increasing', async () => {
    const restartStore = `sqlite:${join(dir, 'restart.db')}`;
    let current = await startServer({ store: restartStore });
    const proxy = await faultyProxy(current.url);
    const tan = new TakeANumber({ url: proxy.url, retries: 50, retryBaseMs: 20, retryMaxMs: 200 });
    const ids = tan.buffer('restarted', { batch: 50 });
    const before = await Promise.all(Array.from({ length: 120 }, () => ids.next()));
    assert.equal(await current.stop(), 0);
    // Calls made while it is down wait for the range (the transport retries); it comes back on another port.
    const during = Promise.all(Array.from({ length: 200 }, () => ids.next()));
    current = await startServer({ store: restartStore });
    proxy.retarget(current.url);
    const values = [...before, ...(await during)];
    assert.equal(new Set(values).size, 320);
    assertIncreasing(values);
    await ids.close();
    await current.stop();
  });

  test('a gapless sequence is refused with a clear error, with a batch of 1 too (its value is released)', async () => {
    const tan = new TakeANumber({ url: server.url });
    await tan.sequences.put('invoices', { gapless: true });
    const refused = await rejection(tan.buffer('invoices', { batch: 10 }).next());
    assert.deepEqual([refused.code, refused.status, refused.retryable], ['invalid_count', 400, false]);
    assert.match(refused.message, /gapless/);
    const single = await rejection(tan.buffer('invoices', { batch: 1 }).next());
    assert.match(single.message, /gapless/);
    const shown = await tan.sequences.get('invoices');
    assert.deepEqual([shown.reserved, shown.free], [0n, 1n], 'the reservation went back');
  });

  test('an auto-created name with a token that has only the next scope', async () => {
    const tokenStore = `sqlite:${join(dir, 'tokens.db')}`;
    const created = await runCli(['token', 'create', '--name', 'app', '--scope', 'next', '--store', tokenStore]);
    assert.equal(created.code, 0, created.stderr);
    const secured = await startServer({ store: tokenStore });
    try {
      const ids = new TakeANumber({ url: secured.url, token: created.stdout.trim().split('\n').at(-1) ?? '' }).buffer('fresh', { batch: 7 });
      const values = await Promise.all(Array.from({ length: 20 }, () => ids.next()));
      assert.deepEqual(values, Array.from({ length: 20 }, (_, i) => BigInt(i + 1)));
      await ids.close();
    } finally {
      await secured.stop();
    }
  });

  test('close() rejects the calls still waiting', async () => {
    const proxy = await faultyProxy(server.url);
    const ids = new TakeANumber({ url: proxy.url }).buffer('closing', { batch: 5 });
    const waiting = ids.next();
    await ids.close();
    const closed = await rejection(waiting);
    assert.equal(closed.code, 'closed');
  });
});
