import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { TakeANumber } from '../packages/client/src/index.js';
import { runCli, startServer } from './helpers/cli.js';
import { closedPort, rejection } from './helpers/client-fakes.js';
import { tempDir } from './helpers/temp.js';

/**
 * The client SDK against a real spawned server (SQLite): the API surface,
 * exact 64-bit values, and every error the server answers mapped to its
 * code. Retries and faults: client-retries.test.ts; the buffer:
 * client-buffer.test.ts.
 */

// One server for the file (top level: a hook's after() would stop it when the hook ends).
const server = await startServer({ store: `sqlite:${join(tempDir(), 'sdk.db')}` });
const tan = new TakeANumber({ url: `${server.url}/` });

describe('the client SDK against a server', () => {

  test('next() takes values in order; allocate() answers the whole batch as bigints', async () => {
    assert.equal(await tan.next('orders'), 1n);
    assert.equal(await tan.next('orders'), 2n);
    const batch = await tan.allocate('orders', { count: 3 });
    assert.deepEqual(
      { sequenceId: batch.sequenceId, first: batch.first, last: batch.last, count: batch.count, increment: batch.increment, replayed: batch.replayed },
      { sequenceId: 'orders', first: 3n, last: 5n, count: 3n, increment: 1n, replayed: false },
    );
    assert.deepEqual([...batch.values()], [3n, 4n, 5n]);
    const one = await tan.allocate('orders');
    assert.deepEqual([one.first, one.last, one.count, one.increment], [6n, 6n, 1n, undefined]);
  });

  test('values above 2^53 come back exact, in answers and in sequences', async () => {
    await tan.sequences.put('big', { start: '9007199254740993', increment: 2n });
    assert.equal(await tan.next('big'), 9007199254740993n);
    const batch = await tan.allocate('big', { count: 2n });
    assert.deepEqual([batch.first, batch.last, batch.increment], [9007199254740995n, 9007199254740997n, 2n]);
    const shown = await tan.sequences.get('big');
    assert.equal(shown.last_value, 9007199254740997n);
    assert.equal(shown.next_value, 9007199254740999n);
    assert.equal(shown.max_value, 9223372036854775807n);
    await tan.sequences.put('top', { min_value: -9223372036854775808n, start: 9223372036854775806n });
    assert.equal(await tan.next('top'), 9223372036854775806n);
  });

  test('an idempotency key given by the caller: a repeat replays, another count is refused', async () => {
    const first = await tan.allocate('keyed', { count: 2, idempotencyKey: 'order-17' });
    const again = await tan.allocate('keyed', { count: 2, idempotencyKey: 'order-17' });
    assert.deepEqual([again.first, again.last, again.replayed], [first.first, first.last, true]);
    const reused = await rejection(tan.allocate('keyed', { count: 3, idempotencyKey: 'order-17' }));
    assert.deepEqual([reused.code, reused.status, reused.retryable], ['idempotency_key_reused', 422, false]);
    const bad = await rejection(tan.next('keyed', { idempotencyKey: 'tab\there' }));
    assert.equal(bad.code, 'invalid_idempotency_key');
  });

  test('sequences: put, get, list pages, all(), reset, delete', async () => {
    const created = await tan.sequences.put('tenant-a', { start: 10, increment: 5, cache: 1 });
    assert.deepEqual([created.name, created.start, created.increment, created.next_value, created.last_value], ['tenant-a', 10n, 5n, 10n, null]);
    await tan.sequences.put('tenant-b');
    await tan.sequences.put('tenant-c');
    const page = await tan.sequences.list({ prefix: 'tenant-', limit: 2 });
    assert.deepEqual(page.sequences.map((s) => s.name), ['tenant-a', 'tenant-b']);
    assert.equal(typeof page.next_cursor, 'string');
    const rest = await tan.sequences.list({ prefix: 'tenant-', limit: 2, cursor: page.next_cursor ?? '' });
    assert.deepEqual([rest.sequences.map((s) => s.name), rest.next_cursor], [['tenant-c'], null]);
    const walked: string[] = [];
    for await (const sequence of tan.sequences.all({ prefix: 'tenant-', limit: 1 })) walked.push(sequence.name);
    assert.deepEqual(walked, ['tenant-a', 'tenant-b', 'tenant-c']);

    assert.equal(await tan.next('tenant-a'), 10n);
    const reset = await tan.sequences.reset('tenant-a', 100n);
    assert.deepEqual([reset.next_value, reset.last_value], [100n, null]);
    const back = await rejection(tan.sequences.reset('tenant-a', 10));
    assert.deepEqual([back.code, back.status, back.retryable], ['would_reissue', 409, false]);
    assert.equal((await tan.sequences.reset('tenant-a', 10, { force: true })).next_value, 10n);

    await tan.sequences.delete('tenant-c');
    const gone = await rejection(tan.sequences.get('tenant-c'));
    assert.deepEqual([gone.code, gone.status, gone.retryable], ['sequence_not_found', 404, false]);
    await tan.sequences.delete('tenant-b', { forget: true });
    assert.equal(await tan.next('tenant-b'), 1n, 'forgotten: it starts afresh');
  });

  test('reserve() on a gapless sequence: confirm, release, void; a plain sequence is refused', async () => {
    await tan.sequences.put('receipts', { gapless: true });
    const first = await tan.reserve('receipts');
    assert.equal(first.value, 1n);
    assert.ok(first.expiresAt instanceof Date && first.expiresAt.getTime() > Date.now());
    assert.deepEqual(await first.confirm(), { sequence_id: 'receipts', value: 1n, state: 'confirmed' });
    assert.deepEqual(await first.confirm(), { sequence_id: 'receipts', value: 1n, state: 'confirmed' }, 'a repeat answers the same');
    const second = await tan.reserve('receipts');
    assert.deepEqual(await second.release(), { sequence_id: 'receipts', value: 2n, state: 'free' });
    const again = await tan.reserve('receipts');
    assert.equal(again.value, 2n, 'a released value is handed out again');
    assert.deepEqual(await again.void('customer cancelled'), { sequence_id: 'receipts', value: 2n, state: 'void', reason: 'customer cancelled' });
    const settled = await rejection(again.confirm());
    assert.deepEqual([settled.code, settled.status], ['reservation_settled', 409]);
    const unknown = await rejection(tan.confirm('receipts', 'NufuPv7A5IG1YTU4SGK66g'));
    assert.deepEqual([unknown.code, unknown.status], ['reservation_not_found', 404]);
    const plain = await rejection(tan.reserve('orders'));
    assert.equal(plain.code, 'not_gapless');
  });

  test('400 answers keep the field; connection refused is network_error', async () => {
    const invalid = await rejection(tan.sequences.put('bad', { increment: 0 }));
    assert.deepEqual([invalid.code, invalid.status, invalid.field, invalid.retryable], ['invalid_options', 400, 'increment', false]);
    const count = await rejection(tan.allocate('orders', { count: 0 }));
    assert.deepEqual([count.code, count.status], ['invalid_count', 400]);
    const name = await rejection(tan.next('bad\u0001name'));
    assert.equal(name.code, 'invalid_sequence_name');
    const nowhere = new TakeANumber({ url: `http://127.0.0.1:${await closedPort()}`, retries: 1, retryBaseMs: 1 });
    const refused = await rejection(nowhere.next('orders'));
    assert.deepEqual([refused.code, refused.status, refused.retryable], ['network_error', 0, true]);
    assert.throws(() => new TakeANumber({ url: 'localhost:5000' }), TypeError);
    assert.throws(() => tan.buffer('orders', { batch: 0 }), TypeError);
  });

  test('token() without tokens on the server: none required, none described', async () => {
    assert.deepEqual(await tan.token(), { tokens_required: false, token: null });
    assert.deepEqual(await new TakeANumber({ url: server.url, token: 'tan_not-checked' }).token(), { tokens_required: false, token: null });
  });

  test('the built package exports the same API (npm run build first)', async () => {
    const built = await import('take-a-number-client');
    const client = new built.TakeANumber({ url: server.url });
    assert.equal(typeof (await client.next('from-dist')), 'bigint');
    assert.equal(typeof built.TakeANumberError, 'function');
  });
});

describe('the client SDK with API tokens', () => {
  test('no token is 401, a token without the scope 403, a next-scope token takes values and token() describes it', async () => {
    const dir = tempDir();
    const store = `sqlite:${join(dir, 'tokens.db')}`;
    const created = await runCli(['token', 'create', '--name', 'app', '--scope', 'next', '--store', store]);
    assert.equal(created.code, 0, created.stderr);
    const token = created.stdout.trim().split('\n').at(-1) ?? '';
    const server = await startServer({ store });
    try {
      const anonymous = await rejection(new TakeANumber({ url: server.url }).next('orders'));
      assert.deepEqual([anonymous.code, anonymous.status, anonymous.retryable], ['unauthorized', 401, false]);
      const app = new TakeANumber({ url: server.url, token });
      assert.equal(await app.next('orders'), 1n);
      const described = await app.token();
      assert.deepEqual(
        { ...described, token: described.token === null ? null : { ...described.token, created_at: typeof described.token.created_at } },
        { tokens_required: true, token: { name: 'app', scopes: ['next'], prefix: null, created_at: 'string', expires_at: null } },
        'token() describes the token sent, whatever its scope',
      );
      const unknown = await rejection(new TakeANumber({ url: server.url, token: 'tan_unknown' }).token());
      assert.deepEqual([unknown.code, unknown.status], ['unauthorized', 401]);
      const forbidden = await rejection(app.sequences.put('orders', { cache: 10 }));
      assert.deepEqual([forbidden.code, forbidden.status, forbidden.retryable], ['forbidden', 403, false]);
    } finally {
      await server.stop();
    }
  });
});
