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

/**
 * The blocks of recently used cached sequences, least recently used evicted
 * first, so memory stays bounded however many sequences the store holds.
 */
export class BlockCache {
  readonly #blocks = new Map<string, Block>();
  readonly #maxEntries: number;

  constructor(maxEntries = 100_000) {
    this.#maxEntries = maxEntries;
  }

  get(name: string): Block | undefined {
    return this.#blocks.get(name);
  }

  set(name: string, block: Block): void {
    this.#blocks.delete(name);
    this.#blocks.set(name, block);
    if (this.#blocks.size > this.#maxEntries) {
      const oldest = this.#blocks.keys().next();
      if (oldest.done !== true) this.#blocks.delete(oldest.value);
    }
  }

  delete(name: string): void {
    this.#blocks.delete(name);
  }

  get size(): number {
    return this.#blocks.size;
  }
}
