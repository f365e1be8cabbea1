/** The layout of the CLI's help texts: options and commands in two columns. */

/** Where descriptions start: two spaces, the usage, padding. */
export const HELP_COLUMN = 21;
/** Lines of generated text (notes) wrap before this width. */
const HELP_WIDTH = 80;

/**
 * One option (or command) of a help text: its usage (`--port PORT`) and its
 * description, whose lines (split at `\n`) start at `column`. A usage too
 * long for the first column stands on a line of its own.
 */
export function helpOption(usage: string, description: string, column = HELP_COLUMN): string {
  const head = `  ${usage}`;
  const indent = ' '.repeat(column);
  const [first = '', ...rest] = description.split('\n');
  const lines = head.length < column ? [head.padEnd(column) + first] : [head, indent + first];
  return [...lines, ...rest.map((line) => indent + line)].join('\n');
}

/** Words as lines starting at `column`, wrapped before the help's width. */
export function helpNote(words: readonly string[], column = HELP_COLUMN): string {
  const indent = ' '.repeat(column);
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    if (line !== '' && indent.length + line.length + 1 + word.length > HELP_WIDTH) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(indent + line);
  return lines.join('\n');
}
