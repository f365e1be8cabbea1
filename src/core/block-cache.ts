import type { SequenceOptions } from './sequence.js';

/**
 * A block of values reserved durably for a `cache > 1` sequence and handed
 * out from memory: next, next+increment, … last. Losing a block (crash,
 * eviction, option change) skips its values; it never repeats one.
 */
export interface Block {
  readonly options: SequenceOptions;
  readonly next: bigint;
  readonly last: bigint;
}

/** Takes `count` values from the front of the block, or undefined if it holds fewer. */
export function takeFromBlock(block: Block, count: bigint): { first: bigint; last: bigint; rest: Block } | undefined {
  const { increment } = block.options;
  const last = block.next + (count - 1n) * increment;
  if (increment > 0n ? last > block.last : last < block.last) return undefined;
  return { first: block.next, last, rest: { ...block, next: last + increment } };
}

/** How many sequences' blocks a store keeps in memory at most. */
export const MAX_CACHED_SEQUENCES = 100_000;

/**
 * What a store holds in memory for its cached sequences (its blocks), by
 * name, the least recently used evicted first: memory stays bounded however
 * many sequences the store holds. Evicting an entry only skips the values of
 * its blocks. Both stores keep theirs here: SQLite a block per sequence,
 * PostgreSQL a block and the one it prefetches.
 */
export class BlockCache<Entry = Block> {
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;

  constructor(maxEntries = MAX_CACHED_SEQUENCES) {
    this.#maxEntries = maxEntries;
  }

  /** The entry, now the most recently used. */
  get(name: string): Entry | undefined {
    const entry = this.#entries.get(name);
    if (entry !== undefined) {
      this.#entries.delete(name);
      this.#entries.set(name, entry);
    }
    return entry;
  }

  has(name: string): boolean {
    return this.#entries.has(name);
  }

  set(name: string, entry: Entry): void {
    this.#entries.delete(name);
    this.#entries.set(name, entry);
    if (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
  }

  delete(name: string): void {
    this.#entries.delete(name);
  }

  values(): IterableIterator<Entry> {
    return this.#entries.values();
  }
}
