import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { TakeANumber } from '../packages/client/src/index.js';
import { startServer } from './helpers/cli.js';
import { fakeServer, faultyProxy, rejection, type FakeAnswer } from './helpers/client-fakes.js';
import { tempDir } from './helpers/temp.js';

/**
 * Safe retries: through a TCP proxy that drops the server's answer or cuts
 * the request, against a real server, nothing is taken twice; against a
 * tiny fake server, 503/429 are retried no sooner than Retry-After, other
 * answers never, and a server that does not answer is a timeout.
 */

const server = await startServer({ store: `sqlite:${join(tempDir(), 'retries.db')}` });
const quick = { retries: 3, retryBaseMs: 5, retryMaxMs: 20 };

describe('retries through a faulty proxy', () => {
  test('an answer lost after the server took the value: the retry gets that value, the next call the following one', async () => {
    const proxy = await faultyProxy(server.url);
    const tan = new TakeANumber({ url: proxy.url, ...quick });
    assert.equal(await tan.next('lost'), 1n);
    proxy.fault('drop-response');
    assert.equal(await tan.next('lost'), 2n, 'the value the server recorded for the key');
    assert.equal(await tan.next('lost'), 3n);
    const calls = proxy.requests.filter((r) => r.path === '/next/lost');
    assert.equal(calls.length, 4, 'one retry');
    assert.equal(calls[1]?.key, calls[2]?.key, 'the retry repeats the key');
    assert.notEqual(calls[2]?.key, calls[3]?.key, 'a new call has a new key');
    const shown = await tan.sequences.get('lost');
    assert.deepEqual([shown.last_value, shown.next_value], [3n, 4n], 'nothing was taken twice: 3 values for 3 calls');
  });

  test('a batch whose answer is lost is replayed whole; a request cut halfway takes nothing', async () => {
    const proxy = await faultyProxy(server.url);
    const tan = new TakeANumber({ url: proxy.url, ...quick });
    proxy.fault('drop-response');
    const batch = await tan.allocate('cut', { count: 10 });
    assert.deepEqual([batch.first, batch.last, batch.replayed], [1n, 10n, true]);
    proxy.fault('cut-request');
    assert.equal(await tan.next('cut'), 11n, 'the cut request never reached the server');
    proxy.fault('drop-response');
    proxy.fault('drop-response');
    assert.equal(await tan.next('cut'), 12n, 'two lost answers, one value');
    const shown = await tan.sequences.get('cut');
    assert.deepEqual([shown.last_value, shown.next_value], [12n, 13n]);
  });

  test('confirm whose answer is lost is retried and answers confirmed', async () => {
    const proxy = await faultyProxy(server.url);
    const tan = new TakeANumber({ url: proxy.url, ...quick });
    await tan.sequences.put('gapless-retry', { gapless: true });
    const reservation = await tan.reserve('gapless-retry');
    proxy.fault('drop-response');
    assert.equal((await reservation.confirm()).state, 'confirmed');
    assert.equal(proxy.requests.filter((r) => r.path.endsWith('/confirm')).length, 2);
  });

  test('a reset whose answer is lost is not repeated: the caller sees network_error', async () => {
    const proxy = await faultyProxy(server.url);
    const tan = new TakeANumber({ url: proxy.url, ...quick });
    await tan.sequences.put('no-repeat');
    proxy.fault('drop-response');
    const lost = await rejection(tan.sequences.reset('no-repeat', 50));
    assert.equal(lost.code, 'network_error');
    assert.equal(proxy.requests.filter((r) => r.path === '/sequences/no-repeat/reset').length, 1);
    assert.equal((await tan.sequences.get('no-repeat')).next_value, 50n, 'the server did it');
  });
});

const ok = (value: bigint): FakeAnswer => ({ status: 200, body: `{"sequence_id":"x","next_value":${value}}` });
const error = (status: number, code: string, headers: Record<string, string> = {}): FakeAnswer => ({
  status,
  headers,
  body: JSON.stringify({ error: { code, message: `${code}!` } }),
});

describe('retries against a fake server', () => {
  test('503 and 429 with Retry-After: retried with the same key, never sooner than asked', async () => {
    const fake = await fakeServer([error(503, 'overloaded', { 'retry-after': '1' }), error(429, 'rate_limited', { 'retry-after': '1' }), ok(9007199254740993n)]);
    const tan = new TakeANumber({ url: fake.url, ...quick });
    assert.equal(await tan.next('x'), 9007199254740993n);
    const [a, b, c] = fake.requests;
    assert.ok(a && b && c);
    assert.equal(new Set([a.key, b.key, c.key]).size, 1, 'one key for the call');
    // Retry-After is a lower bound the client must respect (never an upper bound checked here).
    assert.ok(b.at - a.at >= 1000 && c.at - b.at >= 1000, `waited ${b.at - a.at} and ${c.at - b.at} ms`);
  });

  test('retries run out: the last error, retryable, with its Retry-After', async () => {
    const fake = await fakeServer([error(429, 'rate_limited', { 'retry-after': '0' })]);
    const tan = new TakeANumber({ url: fake.url, ...quick, retries: 2 });
    const limited = await rejection(tan.next('x'));
    assert.deepEqual([limited.code, limited.status, limited.retryable, limited.retryAfterSeconds], ['rate_limited', 429, true, 0]);
    assert.equal(fake.requests.length, 3);
  });

  test('other 4xx and 5xx answers are not retried; an answer not in the error shape is unexpected_response', async () => {
    for (const [answer, code] of [
      [error(404, 'sequence_not_found'), 'sequence_not_found'],
      [error(409, 'sequence_exhausted'), 'sequence_exhausted'],
      [error(500, 'internal_error'), 'internal_error'],
      [{ status: 502, body: '<html>bad gateway</html>' }, 'unexpected_response'],
      [{ status: 200, body: '{"next_value":' }, 'unexpected_response'],
      [{ status: 200, body: '{"sequence_id":"x","next_value":1.5}' }, 'unexpected_response'],
    ] as const) {
      const fake = await fakeServer([answer, ok(1n)]);
      const failed = await rejection(new TakeANumber({ url: fake.url, ...quick }).next('x'));
      assert.deepEqual([failed.code, failed.retryable], [code, false]);
      assert.equal(fake.requests.length, 1, `${code} is not retried`);
      await fake.close();
    }
  });

  test('a server that does not answer: timeout, retried with the same key', async () => {
    const fake = await fakeServer(['hang', 'hang', ok(7n)]);
    const tan = new TakeANumber({ url: fake.url, ...quick, timeoutMs: 100 });
    assert.equal(await tan.next('x'), 7n);
    assert.equal(new Set(fake.requests.map((r) => r.key)).size, 1);
    const stuck = await fakeServer(['hang']);
    const timedOut = await rejection(new TakeANumber({ url: stuck.url, ...quick, retries: 1, timeoutMs: 100 }).next('x'));
    assert.deepEqual([timedOut.code, timedOut.status, timedOut.retryable], ['timeout', 0, true]);
    assert.equal(stuck.requests.length, 2);
  });

  test('a reset is retried after a 429 only (nothing was done), not after a 503', async () => {
    const limited = await fakeServer([error(429, 'rate_limited', { 'retry-after': '0' }), { status: 200, body: '{"name":"x","start":1}' }]);
    const shown = await new TakeANumber({ url: limited.url, ...quick }).sequences.reset('x', 5);
    assert.equal(shown.start, 1n);
    assert.equal(limited.requests.length, 2);
    const unavailable = await fakeServer([error(503, 'store_unavailable')]);
    const failed = await rejection(new TakeANumber({ url: unavailable.url, ...quick }).sequences.delete('x'));
    assert.deepEqual([failed.code, failed.retryable], ['store_unavailable', true]);
    assert.equal(unavailable.requests.length, 1);
  });
});
