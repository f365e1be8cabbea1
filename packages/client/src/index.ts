/**
 * take-a-number-client: the TypeScript client of TakeANumber. No runtime
 * dependency: global fetch (Node 20+, or any runtime with a standard fetch).
 */
export { TakeANumber, Reservation, DEFAULT_URL, DEFAULT_TIMEOUT_MS, DEFAULT_RETRIES } from './client.js';
export type { TakeANumberOptions, KeyOptions, AllocateOptions } from './client.js';
export { TakeANumberError } from './errors.js';
export { NumberBuffer } from './buffer.js';
export type { BufferOptions } from './buffer.js';
export { Sequences } from './sequences.js';
export type { Int64Input, SequenceOptions, ListOptions } from './sequences.js';
export type { Allocation, Scope, Sequence, SequencePage, Settled, TokenInfo } from './answers.js';
export { parseJson, stringifyJson } from './json.js';
export type { JsonValue } from './json.js';
