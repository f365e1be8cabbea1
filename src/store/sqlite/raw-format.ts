/**
 * The few bytes of SQLite's on-disk formats that the file guard reads
 * directly, beside SQLite (https://sqlite.org/fileformat2.html): the WAL
 * header, the WAL-index header in the -shm file, and one table b-tree leaf
 * page holding the store's identity row. Every reader returns undefined for
 * bytes that are not what they should be, never throws.
 */

/** The WAL header: 32 bytes, eight big-endian 32-bit words. */
export const WAL_HEADER_BYTES = 32;

export interface WalHeader {
  /**
   * Written from a counter of the connection that restarted the WAL (set from
   * the header only when a connection recovers the WAL): a second
   * connection's restart can write a lower one. Shown, never compared.
   */
  readonly checkpointSequence: number;
  /** Salt-1: incremented by one each time the WAL restarts from its start (wal.c, walRestartHdr). */
  readonly salt1: number;
  /** Salt-2: drawn anew at each restart; frames carry both salts. */
  readonly salt2: number;
}

/** A valid WAL header (magic, format version, checksum), or undefined. */
export function parseWalHeader(bytes: Buffer): WalHeader | undefined {
  if (bytes.length < WAL_HEADER_BYTES) return undefined;
  const magic = bytes.readUInt32BE(0);
  if (magic !== 0x377f0682 && magic !== 0x377f0683) return undefined;
  if (bytes.readUInt32BE(4) !== 3007000) return undefined;
  // The checksum of the first 24 bytes, over 32-bit words in the byte order the magic number's low bit names.
  const word = (offset: number): number => (magic & 1 ? bytes.readUInt32BE(offset) : bytes.readUInt32LE(offset));
  let s0 = 0;
  let s1 = 0;
  for (let offset = 0; offset < 24; offset += 8) {
    s0 = (s0 + word(offset) + s1) >>> 0;
    s1 = (s1 + word(offset + 4) + s0) >>> 0;
  }
  if (s0 !== bytes.readUInt32BE(24) || s1 !== bytes.readUInt32BE(28)) return undefined;
  return { checkpointSequence: bytes.readUInt32BE(12), salt1: bytes.readUInt32BE(16), salt2: bytes.readUInt32BE(20) };
}

/** Restarts another connection may make between two checks of the server: a handful at most. */
const MAX_RESTARTS_BETWEEN_CHECKS = 1024;

/**
 * The log `seen` before, or the same WAL restarted since (salt-1 moved
 * forward by the number of restarts): not an older or a foreign log.
 */
export function sameOrRestartedWal(now: WalHeader, seen: WalHeader): boolean {
  if (now.salt1 === seen.salt1) return now.salt2 === seen.salt2 && now.checkpointSequence === seen.checkpointSequence;
  const restarts = (now.salt1 - seen.salt1) >>> 0;
  return restarts <= MAX_RESTARTS_BETWEEN_CHECKS;
}

/** Each frame: a 24-byte header (page number first, big-endian), then the page. */
export const WAL_FRAME_HEADER_BYTES = 24;

/** Where frame `frame` (1-based) starts in the WAL. */
export function frameOffset(frame: number, pageSize: number): number {
  return WAL_HEADER_BYTES + (frame - 1) * (WAL_FRAME_HEADER_BYTES + pageSize);
}

/** Bytes of the -shm file read: the WAL-index header (two 48-byte copies), then the checkpoint information. */
export const WAL_INDEX_HEADER_BYTES = 136;

/**
 * What the -shm's WAL-index says (SQLite's WalIndexHdr: iVersion, unused,
 * iChange (u32 each), isInit, bigEndCksum (u8), szPage (u16), mxFrame,
 * nPage (u32) at offsets 16 and 20; then after both copies of the header,
 * WalCkptInfo.nBackfill at 96), in the machine's byte order: the -shm file
 * is shared memory, never moved between machines.
 */
export function walIndexState(bytes: Buffer): { frames: number; backfilled: number; pages: number } {
  const read = (offset: number): number => (isLittleEndian ? bytes.readUInt32LE(offset) : bytes.readUInt32BE(offset));
  return { frames: read(16), pages: read(20), backfilled: read(96) };
}

const isLittleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The row of `store_identity` as stored in the database file. */
export interface IdentityCell {
  readonly storeId: string;
  readonly generation: bigint;
}

/** A SQLite varint at `offset`: its value and length, or undefined past `end`. */
function varint(bytes: Buffer, offset: number, end: number): { value: bigint; length: number } | undefined {
  let value = 0n;
  for (let i = 0; i < 9; i += 1) {
    if (offset + i >= end) return undefined;
    const byte = bytes[offset + i] as number;
    if (i === 8) return { value: (value << 8n) | BigInt(byte), length: 9 };
    value = (value << 7n) | BigInt(byte & 0x7f);
    if ((byte & 0x80) === 0) return { value, length: i + 1 };
  }
  return undefined;
}

/** Bytes an integer of serial type 1 to 6 takes (https://sqlite.org/fileformat2.html#record_format). */
const INTEGER_BYTES: Readonly<Record<number, number>> = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8 };

/**
 * The identity row read from the raw page of `store_identity` (a table
 * b-tree leaf page other than page 1 holding one row): `(id INTEGER PRIMARY
 * KEY, store_id TEXT, generation INTEGER)`, the id being the rowid and so a
 * NULL in the record. Undefined if the page is anything else: zeros, another
 * table's page, a truncated file.
 */
export function parseIdentityPage(page: Buffer, usableSize: number): IdentityCell | undefined {
  if (page.length < usableSize || usableSize < 512) return undefined;
  if (page[0] !== 0x0d || page.readUInt16BE(3) !== 1) return undefined;
  const cell = page.readUInt16BE(8);
  if (cell < 8 || cell >= usableSize) return undefined;
  const payloadSize = varint(page, cell, usableSize);
  if (payloadSize === undefined) return undefined;
  const rowid = varint(page, cell + payloadSize.length, usableSize);
  if (rowid === undefined || rowid.value !== 1n) return undefined;
  const start = cell + payloadSize.length + rowid.length;
  // A row this small is always stored whole on its page (no overflow).
  const end = start + Number(payloadSize.value);
  if (payloadSize.value > BigInt(usableSize - 35) || end > usableSize) return undefined;
  const headerSize = varint(page, start, end);
  if (headerSize === undefined) return undefined;
  const types: number[] = [];
  for (let offset = start + headerSize.length; offset < start + Number(headerSize.value); ) {
    const type = varint(page, offset, end);
    if (type === undefined) return undefined;
    types.push(Number(type.value));
    offset += type.length;
  }
  const [idType, storeIdType, generationType] = types;
  if (idType !== 0 || storeIdType === undefined || generationType === undefined) return undefined;
  if (storeIdType < 13 || storeIdType % 2 === 0) return undefined;
  let offset = start + Number(headerSize.value);
  const storeIdLength = (storeIdType - 13) / 2;
  if (offset + storeIdLength > end) return undefined;
  const storeId = page.toString('utf8', offset, offset + storeIdLength);
  offset += storeIdLength;
  let generation: bigint;
  if (generationType === 8 || generationType === 9) {
    generation = BigInt(generationType - 8);
  } else {
    const size = INTEGER_BYTES[generationType];
    if (size === undefined || offset + size > end) return undefined;
    generation = 0n;
    for (let i = 0; i < size; i += 1) generation = (generation << 8n) | BigInt(page[offset + i] as number);
    generation = BigInt.asIntN(size * 8, generation);
  }
  return { storeId, generation };
}
