/** Text layouts for people on a terminal: aligned tables and key-value views. */

/**
 * Rows (the first is the header) as aligned columns two spaces apart, one line
 * each, ending with a newline. Columns in `right` are right-aligned (numbers);
 * trailing spaces are trimmed.
 */
export function formatTable(rows: readonly (readonly string[])[], right: ReadonlySet<number> = new Set()): string {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  const line = (row: readonly string[]): string =>
    row
      .map((cell, column) => (right.has(column) ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  return rows.map(line).join('\n') + '\n';
}

/** `key: value` lines with the values aligned after the longest key. */
export function formatFields(fields: readonly (readonly [string, string])[]): string {
  const width = Math.max(0, ...fields.map(([key]) => key.length)) + 2;
  return fields.map(([key, value]) => `${`${key}:`.padEnd(width)}${value}\n`).join('');
}
