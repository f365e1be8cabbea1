import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Allocator, MAX_GATHER_TURNS } from '../src/core/allocator.js';
import { AppError, asAppError } from '../src/errors.js';
import { INT64_MAX } from '../src/core/int64.js';
import { StoreUnavailableError, type AllocationOutcome, type AllocationRequest, type SequenceStore } from '../src/core/store.js';

const req = (name: string, count = 1n): AllocationRequest => ({ name, count, create: true });

/** An in-memory store that records each batch and lets the test decide when a commit completes. */
class RecordingStore implements SequenceStore {
  readonly location = 'memory:test';
  readonly batches: string[][] = [];
  readonly values = new Map<string, bigint>();
  fail = false;
  hold: Promise<void> | undefined;

  async allocateBatch(requests: readonly AllocationRequest[]): Promise<AllocationOutcome[]> {
    this.batches.push(requests.map((r) => r.name));
    if (this.hold) await this.hold;
    if (this.fail) throw new StoreUnavailableError('commit failed');
    return requests.map((request): AllocationOutcome => {
      const last = this.values.get(request.name) ?? 0n;
      if (last > INT64_MAX - request.count) return { ok: false, reason: 'exhausted' };
      this.values.set(request.name, last + request.count);
      return { ok: true, first: last + 1n, last: last + request.count, replayed: false, grant: undefined, tookExpired: false, labels: undefined };
    });
  }
  importSequences(): Promise<never> {
    return Promise.reject(new Error('not used'));
  }
  settleBatch(): Promise<never> {
    return Promise.reject(new Error('not used'));
  }
  listValues(): Promise<never> {
    return Promise.reject(new Error('not used'));
  }
  readGapless(): Promise<never> {
    return Promise.reject(new Error('not used'));
  }
  getSequence(): Promise<never> {
    return Promise.reject(new Error('not used'));
  }
  listSequences(): Promise<never> {
    return Promise.reject(new Error('not used'));
  }
  modifySequence(): Promise<never> {
    return Promise.reject(new Error('not used'));
  }
  purgeIdempotencyKeys(): Promise<never> {
    return Promise.reject(new Error('not used'));
  }
  ping(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** The catalogue code a client gets for `error` (a fault of the store is store_unavailable). */
function code(error: unknown): string | undefined {
  return asAppError(error)?.code;
}

describe('Allocator (group commit)', () => {
  it('sends the requests of one event-loop turn to the store as one batch, in arrival order', async () => {
    const store = new RecordingStore();
    const allocator = new Allocator(store);
    const answers = await Promise.all([
      allocator.allocate(req('a')),
      allocator.allocate(req('b')),
      allocator.allocate(req('a')),
      allocator.allocate(req('a', 5n)),
    ]);
    assert.deepEqual(store.batches, [['a', 'b', 'a', 'a']]);
    assert.deepEqual(answers, [
      { first: 1n, last: 1n, replayed: false, grant: undefined, tookExpired: false, labels: undefined },
      { first: 1n, last: 1n, replayed: false, grant: undefined, tookExpired: false, labels: undefined },
      { first: 2n, last: 2n, replayed: false, grant: undefined, tookExpired: false, labels: undefined },
      { first: 3n, last: 7n, replayed: false, grant: undefined, tookExpired: false, labels: undefined },
    ]);
  });

  it('queues requests that arrive while a commit runs into the next batch', async () => {
    const store = new RecordingStore();
    let release = (): void => undefined;
    store.hold = new Promise((resolve) => (release = resolve));
    const allocator = new Allocator(store);
    const first = allocator.allocate(req('s'));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(store.batches, [['s']]);
    const later = [allocator.allocate(req('s')), allocator.allocate(req('s'))];
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(store.batches.length, 1, 'no second commit while the first is running');
    store.hold = undefined;
    release();
    assert.deepEqual(await Promise.all([first, ...later]), [
      { first: 1n, last: 1n, replayed: false, grant: undefined, tookExpired: false, labels: undefined },
      { first: 2n, last: 2n, replayed: false, grant: undefined, tookExpired: false, labels: undefined },
      { first: 3n, last: 3n, replayed: false, grant: undefined, tookExpired: false, labels: undefined },
    ]);
    assert.deepEqual(store.batches, [['s'], ['s', 's']]);
  });

  it('splits a queue longer than maxBatch into several transactions', async () => {
    const store = new RecordingStore();
    const allocator = new Allocator(store, { maxBatch: 3 });
    const answers = await Promise.all(Array.from({ length: 7 }, () => allocator.allocate(req('m'))));
    assert.deepEqual(store.batches.map((b) => b.length), [3, 3, 1]);
    assert.deepEqual(answers.map((a) => a.first), [1n, 2n, 3n, 4n, 5n, 6n, 7n]);
  });

  it('lets a batch wait while gatherMore says more requests are coming, then commits them together', async () => {
    const store = new RecordingStore();
    let asked = 0;
    // More are coming for three turns (as while a burst of new connections is accepted one a turn).
    const allocator = new Allocator(store, { gatherMore: () => ++asked <= 3 });
    const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    const answers = [allocator.allocate(req('g'))];
    for (let i = 0; i < 3; i += 1) {
      await turn();
      assert.deepEqual(store.batches, [], `nothing committed while more are coming (turn ${i + 1})`);
      answers.push(allocator.allocate(req('g')));
    }
    assert.deepEqual((await Promise.all(answers)).map((a) => a.first), [1n, 2n, 3n, 4n]);
    assert.deepEqual(store.batches, [['g', 'g', 'g', 'g']], 'one commit for the four turns');
    assert.equal(asked, 4);
  });

  it('commits after at most MAX_GATHER_TURNS turns however long gatherMore says more are coming', async () => {
    const store = new RecordingStore();
    let asked = 0;
    const allocator = new Allocator(store, {
      gatherMore: () => {
        asked += 1;
        return true;
      },
    });
    const first = await allocator.allocate(req('w'));
    assert.equal(first.first, 1n);
    assert.deepEqual(store.batches, [['w']]);
    assert.ok(asked >= 1 && asked <= MAX_GATHER_TURNS + 1, `asked ${asked} times`);
    // The next batch is gathered afresh (a bounded wait again, not none and not for ever).
    assert.equal((await allocator.allocate(req('w'))).first, 2n);
    assert.deepEqual(store.batches, [['w'], ['w']]);
  });

  it('fails the requests that queued behind a failed commit with it, so none waits out two timeouts', async () => {
    const store = new RecordingStore();
    let release = (): void => undefined;
    store.hold = new Promise((resolve) => (release = resolve));
    store.fail = true;
    const allocator = new Allocator(store);
    const first = allocator.allocate(req('h'));
    await new Promise((resolve) => setImmediate(resolve));
    const queued = allocator.allocate(req('h'));
    release();
    const settled = await Promise.allSettled([first, queued]);
    assert.deepEqual(settled.map((r) => (r.status === 'rejected' ? code(r.reason) : 'fulfilled')), ['store_unavailable', 'store_unavailable']);
    assert.equal(store.batches.length, 1, 'the queued request never reached the failing store');
  });

  it('fails every request of a failed commit with store_unavailable, then serves again', async () => {
    const store = new RecordingStore();
    const errors: unknown[] = [];
    const allocator = new Allocator(store, { onStoreError: (error) => errors.push(error) });
    store.fail = true;
    const failed = await Promise.allSettled([allocator.allocate(req('f')), allocator.allocate(req('g'))]);
    assert.deepEqual(failed.map((r) => (r.status === 'rejected' ? code(r.reason) : 'fulfilled')), ['store_unavailable', 'store_unavailable']);
    assert.equal(errors.length, 1);
    store.fail = false;
    assert.deepEqual(await allocator.allocate(req('f')), { first: 1n, last: 1n, replayed: false, grant: undefined, tookExpired: false, labels: undefined });
  });

  it('answers sequence_exhausted for the request that does not fit, and serves the rest of the batch', async () => {
    const store = new RecordingStore();
    store.values.set('edge', INT64_MAX);
    const allocator = new Allocator(store);
    const [edge, other] = await Promise.allSettled([allocator.allocate(req('edge')), allocator.allocate(req('other'))]);
    assert.equal(edge.status === 'rejected' ? code(edge.reason) : 'fulfilled', 'sequence_exhausted');
    assert.deepEqual(other.status === 'fulfilled' ? other.value : undefined, { first: 1n, last: 1n, replayed: false, grant: undefined, tookExpired: false, labels: undefined });
  });

  it('refuses requests beyond maxPending with overloaded (Retry-After 1), taking nothing, and accepts again once answered', async () => {
    const store = new RecordingStore();
    let release = (): void => undefined;
    store.hold = new Promise((resolve) => (release = resolve));
    const overloads: number[] = [];
    const allocator = new Allocator(store, { maxPending: 3, onOverload: (limit) => overloads.push(limit) });
    const accepted = [allocator.allocate(req('o')), allocator.allocate(req('o')), allocator.allocate(req('o'))];
    const refused = await Promise.allSettled([allocator.allocate(req('o')), allocator.allocate(req('o'))]);
    for (const result of refused) {
      assert.equal(result.status, 'rejected');
      const error = (result).reason as AppError;
      assert.equal(error.code, 'overloaded');
      assert.equal(error.statusCode, 503);
      assert.equal(error.retryAfterSeconds, 1);
    }
    assert.deepEqual(overloads, [3], 'one log call per episode, not one per refused request');
    assert.equal(allocator.pending, 3);
    store.hold = undefined;
    release();
    assert.deepEqual((await Promise.all(accepted)).map((a) => a.first), [1n, 2n, 3n]);
    assert.equal(allocator.pending, 0);
    assert.deepEqual(store.batches.flat().length, 3, 'refused requests never reached the store');
    assert.deepEqual(await allocator.allocate(req('o')), { first: 4n, last: 4n, replayed: false, grant: undefined, tookExpired: false, labels: undefined });
  });

  it('fails a commit that outlives commitTimeoutMs with store_unavailable, refuses new requests until it ends, never hands out its values', async () => {
    const store = new RecordingStore();
    let release = (): void => undefined;
    store.hold = new Promise((resolve) => (release = resolve));
    const errors: unknown[] = [];
    const allocator = new Allocator(store, { commitTimeoutMs: 20, onStoreError: (error) => errors.push(error) });
    const hung = allocator.allocate(req('t'));
    await new Promise((resolve) => setImmediate(resolve));
    const queued = allocator.allocate(req('t'));
    await assert.rejects(hung, (error: unknown) => code(error) === 'store_unavailable');
    await assert.rejects(queued, (error: unknown) => code(error) === 'store_unavailable');
    await assert.rejects(allocator.allocate(req('t')), (error: unknown) => code(error) === 'store_unavailable');
    assert.equal(errors.length, 1);
    assert.equal(allocator.pending, 0);
    // The store finishes the hung commit (value 1 taken): it is skipped, never answered.
    store.hold = undefined;
    release();
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(await allocator.allocate(req('t')), { first: 2n, last: 2n, replayed: false, grant: undefined, tookExpired: false, labels: undefined });
    assert.deepEqual(store.batches, [['t'], ['t']]);
  });

  it('on close, answers what is queued and refuses what comes after with shutting_down', async () => {
    const store = new RecordingStore();
    const allocator = new Allocator(store);
    const queued = [allocator.allocate(req('q')), allocator.allocate(req('q'))];
    await allocator.close();
    assert.deepEqual(await Promise.all(queued), [
      { first: 1n, last: 1n, replayed: false, grant: undefined, tookExpired: false, labels: undefined },
      { first: 2n, last: 2n, replayed: false, grant: undefined, tookExpired: false, labels: undefined },
    ]);
    await assert.rejects(allocator.allocate(req('q')), (error: unknown) => code(error) === 'shutting_down');
  });
});
