import type { Day, Restart } from './period.js';

/**
 * Formatted numbers (`format`): a template with `{value}`, `{value:N}` (at
 * least N digits, 1 to 20, zero-padded after the sign), `{yyyy}`, `{yy}`,
 * `{mm}`, `{dd}` (the allocation's local day), `{{` and `}}`. A template is
 * parsed once per use; parsing is linear and bounded (200 characters).
 */

export const MAX_FORMAT_LENGTH = 200;

export type Part =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'value'; readonly width: number }
  | { readonly kind: 'date'; readonly field: 'yyyy' | 'yy' | 'mm' | 'dd' };

/** A template that cannot be used; the message says why (the HTTP layer names the field `format`). */
export class InvalidFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidFormatError';
  }
}

const DATE_FIELDS = new Set(['yyyy', 'yy', 'mm', 'dd']);

/** Parses a template, or throws InvalidFormatError. */
export function parseFormat(template: string): readonly Part[] {
  if (template.length > MAX_FORMAT_LENGTH) throw new InvalidFormatError(`format is at most ${MAX_FORMAT_LENGTH} characters, got ${template.length}.`);
  const parts: Part[] = [];
  let text = '';
  let i = 0;
  while (i < template.length) {
    const c = template[i] as string;
    if (c === '{' && template[i + 1] === '{') {
      text += '{';
      i += 2;
    } else if (c === '}' && template[i + 1] === '}') {
      text += '}';
      i += 2;
    } else if (c === '}') {
      throw new InvalidFormatError(`format has a lone '}' at position ${i + 1}; write '}}' for a literal brace.`);
    } else if (c === '{') {
      const end = template.indexOf('}', i);
      if (end < 0) throw new InvalidFormatError(`format has a '{' at position ${i + 1} that is never closed; write '{{' for a literal brace.`);
      const name = template.slice(i + 1, end);
      if (text.length > 0) parts.push({ kind: 'text', text });
      text = '';
      parts.push(placeholder(name));
      i = end + 1;
    } else {
      text += c;
      i += 1;
    }
  }
  if (text.length > 0) parts.push({ kind: 'text', text });
  return parts;
}

function placeholder(name: string): Part {
  if (name === 'value') return { kind: 'value', width: 0 };
  const padded = /^value:([0-9]{1,2})$/.exec(name);
  if (padded !== null) {
    const width = Number(padded[1]);
    if (width >= 1 && width <= 20) return { kind: 'value', width };
    throw new InvalidFormatError(`{value:N} takes N from 1 to 20, got ${width}.`);
  }
  if (DATE_FIELDS.has(name)) return { kind: 'date', field: name as 'yyyy' | 'yy' | 'mm' | 'dd' };
  throw new InvalidFormatError(
    `format has an unknown placeholder {${name}}: use {value}, {value:N}, {yyyy}, {yy}, {mm}, {dd}, or {{ and }} for literal braces.`,
  );
}

/**
 * Checks a template against the sequence's restart: with periods, the
 * formatted numbers of two periods must differ, so the template must carry
 * the date parts that tell periods apart. Throws InvalidFormatError.
 */
export function checkFormat(template: string, restart: Restart): void {
  const parts = parseFormat(template);
  const has = (field: string) => parts.some((part) => part.kind === 'date' && part.field === field);
  const year = has('yyyy') || has('yy');
  const missing =
    restart === 'yearly' ? !year : restart === 'monthly' ? !(year && has('mm')) : restart === 'daily' ? !(year && has('mm') && has('dd')) : false;
  if (missing) {
    const needs = restart === 'yearly' ? '{yyyy} or {yy}' : restart === 'monthly' ? '{yyyy} or {yy}, and {mm}' : '{yyyy} or {yy}, {mm} and {dd}';
    throw new InvalidFormatError(
      `With restart "${restart}" the format must contain ${needs}: the counter starts again each period, so formatted numbers would repeat.`,
    );
  }
  if (!parts.some((part) => part.kind === 'value')) {
    throw new InvalidFormatError('format must contain {value} or {value:N}: without it every number would read the same.');
  }
}

/** The formatted number of `value` on `day`. The template is one that checkFormat accepted. */
export function formatValue(template: string, value: bigint, day: Day): string {
  return formatParts(parseFormat(template), value, day);
}

/** The formatted number of `value` on `day`, from a template parsed once (a batch formats its first and last value). */
export function formatParts(parts: readonly Part[], value: bigint, day: Day): string {
  let out = '';
  for (const part of parts) {
    if (part.kind === 'text') out += part.text;
    else if (part.kind === 'value') out += padValue(value, part.width);
    else if (part.field === 'yyyy') out += String(day.year).padStart(4, '0');
    else if (part.field === 'yy') out += String(day.year % 100).padStart(2, '0');
    else if (part.field === 'mm') out += String(day.month).padStart(2, '0');
    else out += String(day.day).padStart(2, '0');
  }
  return out;
}

/** `value` with at least `width` digits, zero-padded after its sign. */
function padValue(value: bigint, width: number): string {
  const digits = (value < 0n ? -value : value).toString().padStart(width, '0');
  return value < 0n ? `-${digits}` : digits;
}
