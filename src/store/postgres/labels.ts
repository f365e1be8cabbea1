import type { AnswerLabels } from '../../core/periodic.js';

/**
 * How labels (core/periodic.ts) sit in columns. Keys keep all three (NULL:
 * none). A gapless value or reservation is one value: its period ('' for
 * none: the period is part of the values' key) and its formatted number.
 */

/** Labels from a key's columns: undefined when all are NULL (a sequence with neither periods nor format). */
export function keyLabels(period: string | null, formatted: string | null, lastFormatted: string | null): AnswerLabels | undefined {
  if (period === null && formatted === null && lastFormatted === null) return undefined;
  return { period: period ?? undefined, formatted: formatted ?? undefined, lastFormatted: lastFormatted ?? undefined };
}

/** A gapless value's period column: its label, or '' for none. */
export function periodKey(labels: AnswerLabels | undefined): string {
  return labels?.period ?? '';
}

/** A gapless value's labels from its columns (period '' and no formatted number: none). */
export function valueLabels(period: string, formatted: string | null): AnswerLabels | undefined {
  if (period === '' && formatted === null) return undefined;
  return { period: period === '' ? undefined : period, formatted: formatted ?? undefined, lastFormatted: formatted ?? undefined };
}
