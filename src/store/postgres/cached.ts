import type pg from 'pg';
import { BlockCache, takeFromBlock, type Block } from '../../core/block-cache.js';
import { reserve, widen, type SequenceOptions } from '../../core/sequence.js';
import type { AllocationRequest } from '../../core/store.js';
import { hasLabels } from '../../core/periodic.js';
import { ADVANCED, PLAIN, WIDENED } from './coalesced.js';
import { inTransaction } from './connection.js';
import { advanceSequence, lockRow, RECORD_COLUMNS_OF_S, SEQUENCES, toRecord, type RecordRow } from './rows.js';

/** A cached sequence's blocks on this instance (double buffering, as Leaf's segments). */
interface Segment {
  /** The row's version when the block was reserved: a reset or change elsewhere makes it stale. */
  version: bigint;
  options: SequenceOptions;
  current: Block | undefined;
  next: Block | undefined;
  refilling: Promise<void> | undefined;
}

/**
 * `locked`: the sequence became gapless (changed elsewhere): its values go out as reservations, by the locked
 * path; so do a sequence's that was given periods or a format (their labels are decided with the row locked).
 */
type Reserved = { readonly block: Block; readonly version: bigint } | 'not_found' | 'exhausted' | 'locked';

/**
 * `cache > 1` on PostgreSQL: blocks reserved in one statement and served
 * from this instance's memory (bounded: core/block-cache.ts), the next block
 * fetched in the background once the current one is half used. An instance
 * checks the row's version when it refills: after a reset, an option change
 * or a delete elsewhere it hands out at most the blocks it held.
 */
export class CachedBlocks {
  readonly #pool: pg.Pool;
  readonly #segments = new BlockCache<Segment>();

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** Whether this instance holds blocks of the sequence (its requests skip the coalesced path). */
  has(name: string): boolean {
    return this.#segments.has(name);
  }

  /** Drops what this instance holds of the sequence (an admin change here): its values are skipped. */
  drop(name: string): void {
    this.#segments.delete(name);
  }

  /** Takes the request's values from the blocks, reserving a new one when needed. */
  async take(name: string, request: AllocationRequest): Promise<{ first: bigint; last: bigint } | 'not_found' | 'exhausted' | 'locked'> {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const segment = this.#segments.get(name);
      if (segment !== undefined) {
        const fromCurrent = segment.current === undefined ? undefined : takeFromBlock(segment.current, request.count);
        if (fromCurrent !== undefined) {
          segment.current = fromCurrent.rest;
          this.#prefetch(name, segment);
          return fromCurrent;
        }
        if (segment.refilling !== undefined) await segment.refilling.catch(() => undefined);
        if (segment.next !== undefined) {
          segment.current = segment.next;
          segment.next = undefined;
          continue;
        }
      }
      const reserved = await this.#reserveBlock(name, request.count);
      if (typeof reserved === 'string') {
        this.#segments.delete(name);
        return reserved;
      }
      if (reserved.block.options.cache === 1n) {
        // No longer cached (changed elsewhere): this block is exactly the request; back to the coalesced path.
        this.#segments.delete(name);
        return takeFromBlock(reserved.block, request.count) ?? 'exhausted';
      }
      const fresh = this.#segments.get(name);
      if (fresh === undefined || fresh.version !== reserved.version) {
        this.#segments.set(name, { version: reserved.version, options: reserved.block.options, current: reserved.block, next: undefined, refilling: undefined });
      } else {
        fresh.current = reserved.block;
      }
    }
    return 'exhausted';
  }

  /** Waits for the blocks being fetched (before the pool ends). */
  async close(): Promise<void> {
    await Promise.all([...this.#segments.values()].map((segment) => segment.refilling ?? Promise.resolve()));
  }

  /** Starts fetching the next block once the current one is half used. */
  #prefetch(name: string, segment: Segment): void {
    if (segment.next !== undefined || segment.refilling !== undefined || segment.current === undefined) return;
    const { increment, cache } = segment.options;
    const left = (segment.current.last - segment.current.next) / increment + 1n;
    if (left * 2n > cache) return;
    segment.refilling = this.#reserveBlock(name, 1n)
      .then((reserved) => {
        if (typeof reserved === 'string') return;
        if (reserved.version !== segment.version) {
          // Reset or changed elsewhere: what this instance holds is stale.
          this.#segments.delete(name);
          return;
        }
        segment.next = reserved.block;
      })
      .catch(() => undefined)
      .finally(() => {
        segment.refilling = undefined;
      });
  }

  /** Reserves one block in one statement; at a bound or for a cycle, with the row locked. */
  async #reserveBlock(name: string, count: bigint): Promise<Reserved> {
    const total = 'greatest($2::numeric, s.cache)';
    const { rows } = await this.#pool.query<RecordRow & { total: string }>({
      name: 'takeanumber_reserve_3',
      text: `UPDATE ${SEQUENCES} s SET last_value = ${ADVANCED(total)}::bigint, is_called = true, ${WIDENED(ADVANCED(total))}, updated_at = now()
       WHERE s.name = $1 AND s.cache > 1 AND NOT s.gapless AND ${PLAIN} AND s.deleted_at IS NULL AND ${ADVANCED(total)} BETWEEN s.min_value AND s.max_value
       RETURNING ${RECORD_COLUMNS_OF_S}, ${total} AS total`,
      values: [name, count.toString()],
    });
    const row = rows[0];
    if (row !== undefined) {
      const record = toRecord(row);
      const { increment } = record.options;
      const last = record.position.lastValue;
      return { block: { options: record.options, next: last - (BigInt(row.total) - 1n) * increment, last }, version: record.version };
    }
    return inTransaction(this.#pool, async (client): Promise<Reserved> => {
      const record = await lockRow(client, name);
      if (record === undefined || record.deletedAt !== undefined) return 'not_found';
      if (record.options.gapless || hasLabels(record.options, record.period)) return 'locked';
      const reserved = reserve(record.position, record.options, count);
      if (!reserved.ok) return 'exhausted';
      await advanceSequence(client, name, { position: reserved.position, issued: widen(record.issued, reserved.first, reserved.last) });
      return { block: { options: record.options, next: reserved.first, last: reserved.last }, version: record.version };
    });
  }
}
