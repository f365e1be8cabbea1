import { lastIssued } from './sequence.js';
import type { SequenceRecord, SequenceStore } from './store.js';

/**
 * Every sequence of a store in name order (or, with `deleted`, every
 * tombstone), read a page at a time (memory stays flat at any size).
 */
export async function* allSequences(
  store: SequenceStore,
  { deleted = false, pageSize = 1000 }: { deleted?: boolean; pageSize?: number } = {},
): AsyncGenerator<SequenceRecord> {
  let after: string | undefined;
  for (;;) {
    const page = await store.listSequences({ prefix: '', after, limit: pageSize, deleted });
    yield* page;
    if (page.length < pageSize) return;
    after = page[page.length - 1]?.name;
  }
}

/** Every live sequence with its last issued value (the seed format's value), in name order. */
export async function* lastIssuedValues(store: SequenceStore): AsyncGenerator<readonly [name: string, lastValue: bigint]> {
  for await (const record of allSequences(store)) yield [record.name, lastIssued(record.position, record.options.increment)] as const;
}
