import { readSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { parseIdentityPage, type IdentityCell } from './raw-format.js';

/**
 * The store's identity (schema version 5): a random id given at creation,
 * and a generation that the server raises by one, in a commit of its own,
 * before each checkpoint (file-guard.ts). In WAL mode the database file is
 * written only by checkpoints, so after a complete one the file carries the
 * generation just raised: it never goes down, and an older copy of the file
 * carries a lower one.
 */
export interface StoreIdentity {
  readonly storeId: string;
  readonly generation: bigint;
}

/** Raises the generation: the commit before each checkpoint. */
export const RAISE_GENERATION = 'UPDATE store_identity SET generation = generation + 1 WHERE id = 1';

/** The identity as SQLite sees it (the WAL included), or undefined for a store without one. */
export function readIdentity(db: Database.Database): StoreIdentity | undefined {
  if (identityRootPage(db) === undefined) return undefined;
  const row = db.prepare('SELECT store_id, generation FROM store_identity WHERE id = 1').raw(true).safeIntegers(true).get() as
    | [string, bigint]
    | undefined;
  return row === undefined ? undefined : { storeId: row[0], generation: row[1] };
}

/** The page of the database file that holds the identity row (the root page of its one-row table). */
export function identityRootPage(db: Database.Database): number | undefined {
  const page = db.prepare("SELECT rootpage FROM sqlite_schema WHERE type = 'table' AND name = 'store_identity'").pluck().get() as
    | number
    | undefined;
  return page === undefined || page < 2 ? undefined : page;
}

/** Where the identity row lives in the database file, and what it must say. */
export interface IdentityLayout {
  readonly storeId: string;
  /** The root page of `store_identity`, which holds its one row. */
  readonly rootPage: number;
  readonly pageSize: number;
}

/** The identity row as the database file itself holds it (read with `fd`), or undefined if that page holds anything else. */
export function readFileIdentity(fd: number, layout: Omit<IdentityLayout, 'storeId'>, page: Buffer = Buffer.alloc(layout.pageSize)): IdentityCell | undefined {
  const read = readSync(fd, page, 0, layout.pageSize, (layout.rootPage - 1) * layout.pageSize);
  return read === layout.pageSize ? parseIdentityPage(page, layout.pageSize) : undefined;
}
