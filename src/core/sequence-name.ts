import { AppError } from '../errors.js';

export const MAX_NAME_BYTES = 255;

// C0 controls, DEL and C1 controls: invisible, and break logs and terminals.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/u;

/** Why `name` is not a valid sequence name, or undefined when it is. */
export function sequenceNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'the sequence name is empty';
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_NAME_BYTES) return `the sequence name is ${bytes} bytes of UTF-8; the limit is ${MAX_NAME_BYTES}`;
  if (CONTROL_CHARACTER.test(name)) return 'the sequence name contains a control character';
  if (!name.isWellFormed()) return 'the sequence name is not valid Unicode';
  return undefined;
}

/** Returns `name` when it is a valid sequence name, else throws `invalid_sequence_name`. */
export function checkSequenceName(name: string): string {
  const problem = sequenceNameProblem(name);
  if (problem !== undefined) throw new AppError('invalid_sequence_name', `Invalid sequence name: ${problem}.`);
  return name;
}
