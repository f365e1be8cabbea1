import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { nextValue, postNext, startServer, within } from './helpers/cli.js';
import { tempDir } from './helpers/temp.js';

const ROUNDS = 5;
const CALLERS = 16;

const max = (values: readonly bigint[]): bigint => values.reduce((a, b) => (a > b ? a : b), 0n);
const min = (values: readonly bigint[]): bigint | undefined =>
  values.reduce<bigint | undefined>((a, b) => (a === undefined || b < a ? b : a), undefined);

/**
 * ROUNDS times: CALLERS clients take numbers of `names` (caller i takes the
 * names in turn from the i-th), the server is killed at a random moment;
 * then no number was handed out twice and each round's numbers are above
 * everything acknowledged before.
 */
async function killUnderLoad(names: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<void> {
  const store = `sqlite:${join(tempDir(), 'crash.db')}`;
  /** Every value answered with 200, per sequence, over all rounds. */
  const answered = new Map<string, bigint[]>(names.map((name) => [name, []]));
  /** The highest value acknowledged before the last kill, per sequence. */
  const acknowledged = new Map<string, bigint>(names.map((name) => [name, 0n]));
  const unexpected: string[] = [];

  for (let round = 1; round <= ROUNDS; round += 1) {
    // The lock of the killed server is released by the OS: this starts right away, or fails.
    const server = await startServer({ store, timeoutMs: 5000, env });
    const thisRound = new Map<string, bigint[]>(names.map((name) => [name, []]));
    let signalFirstAnswer: () => void = () => undefined;
    const firstAnswer = new Promise<void>((resolve) => (signalFirstAnswer = resolve));

    const callers = Array.from({ length: CALLERS }, async (_, caller) => {
      for (let i = caller; ; i += 1) {
        const name = names[i % names.length] as string;
        let answer;
        try {
          answer = await postNext(server.url, name);
        } catch {
          return; // the connection died with the server
        }
        if (answer.status !== 200 || answer.value === undefined) {
          unexpected.push(`round ${round}, ${name}: ${answer.status} ${answer.text}`);
          return;
        }
        thisRound.get(name)?.push(answer.value);
        signalFirstAnswer();
      }
    });

    await within(firstAnswer, 5000, () => `round ${round}: no answer within 5 s`);
    await sleep(50 + Math.floor(Math.random() * 250));
    assert.equal(await server.stop('SIGKILL', 5000), null);
    assert.equal(server.process.signalCode, 'SIGKILL', `round ${round}: the server was killed, not stopped otherwise`);
    await within(Promise.all(callers), 5000, () => `round ${round}: callers still running 5 s after the kill`);

    for (const name of names) {
      const values = thisRound.get(name) ?? [];
      const lowest = min(values);
      const before = acknowledged.get(name) ?? 0n;
      if (lowest !== undefined) {
        assert.ok(lowest > before, `round ${round}, ${name}: answered ${lowest} after a restart, but ${before} was acknowledged before the kill`);
      }
      answered.get(name)?.push(...values);
      acknowledged.set(name, max([before, ...values]));
    }
  }

  assert.deepEqual(unexpected, [], 'every answer under load is a 200');
  const total = [...answered.values()].reduce((sum, values) => sum + values.length, 0);
  assert.ok(total >= ROUNDS, `at least one answer per round (got ${total})`);

  for (const [name, values] of answered) {
    const seen = new Set<bigint>();
    const duplicates = values.filter((value) => (seen.has(value) ? true : (seen.add(value), false)));
    assert.deepEqual(duplicates, [], `${name}: values handed out twice`);
  }

  // After the last kill: the store opens at once and continues above everything acknowledged.
  const server = await startServer({ store, timeoutMs: 5000, env });
  for (const name of names) {
    const value = await nextValue(server.url, name);
    const before = acknowledged.get(name) ?? 0n;
    assert.ok(value > before, `${name}: ${value} after the last restart, but ${before} was acknowledged before the kill`);
  }
  assert.equal(await server.stop('SIGTERM'), 0);
}

test('kill -9 under concurrent load: no number is handed out twice, and numbers after a restart are higher', async () => {
  await killUnderLoad(['orders', 'invoices', 'bücher:2026 q1']);
});

test('kill -9 under load over many names, folding the allocation log every few entries (kills during folds too)', async () => {
  // A pass every seven entries, two names a commit: nearly every commit writes a chunk of a pass, many end one
  // (deleting log rows) and some fold the whole log (the pass behind by 3x), so kills land before, during and after them.
  await killUnderLoad(
    Array.from({ length: 97 }, (_, i) => `r-${i}`),
    { TAKEANUMBER_FOLD_ENTRIES: '7', TAKEANUMBER_FOLD_CHUNK: '2' },
  );
});
