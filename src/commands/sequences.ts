import type { Writable } from 'node:stream';
import type { Sequence, SequenceOptions, SequencePage, TakeANumber } from 'take-a-number-client';
import { helpOption } from '../help.js';
import { CLIENT_EXIT_STATUS, CLIENT_HELP, CLIENT_OPTIONS, connect, INTEGER, request, writeJson } from './client.js';
import { command, expectArguments, HELP_LINE, UsageError } from './command.js';
import { formatFields, formatTable } from './table.js';

/** The options of PUT /sequences/{name}: the API's field, the flag, what it takes. */
const PUT_OPTIONS = [
  { field: 'start', flag: 'start', arg: 'N', text: 'The first value (default: min for an ascending sequence, max for a descending one)' },
  { field: 'increment', flag: 'increment', arg: 'N', text: 'The step, negative for a descending sequence (default 1)' },
  { field: 'min_value', flag: 'min', arg: 'N', text: 'The lowest value (default 1 ascending, -2^63 descending)' },
  { field: 'max_value', flag: 'max', arg: 'N', text: 'The highest value (default 2^63-1 ascending, -1 descending)' },
  { field: 'cache', flag: 'cache', arg: 'N', text: 'Values the server reserves per write, 1 to 1000000 (default 1)' },
  { field: 'lease_seconds', flag: 'lease-seconds', arg: 'S', text: 'Gapless: how long a reservation holds its value (default 300)' },
  { field: 'restart', flag: 'restart', arg: 'WHEN', text: 'never, yearly, monthly or daily: start again each period' },
  { field: 'time_zone', flag: 'time-zone', arg: 'TZ', text: 'The IANA time zone of the periods (default UTC)' },
  { field: 'format', flag: 'format', arg: 'FORMAT', text: "A template of the formatted value, e.g. 'INV-{yyyy}-{value:6}'" },
] as const;

/** Switches of PUT: --X sets the field true (null for --no-format), --no-X false. */
const PUT_SWITCHES = [
  { field: 'cycle', text: 'Wrap to the other bound when exhausted (--no-cycle: stop)' },
  { field: 'gapless', text: 'Every value confirmed or voided, none skipped (--no-gapless: off)' },
] as const;

const OPTION_FLAGS = Object.fromEntries(PUT_OPTIONS.map(({ flag }) => [flag, { type: 'string' } as const])) as {
  readonly [K in (typeof PUT_OPTIONS)[number]['flag']]: { readonly type: 'string' };
};

/** Which flags each action takes (beside --url, --token, --json). */
const ACTION_FLAGS: Readonly<Record<string, readonly string[]>> = {
  list: ['prefix', 'limit', 'cursor'],
  get: [],
  put: [...PUT_OPTIONS.map(({ flag }) => flag), 'cycle', 'no-cycle', 'gapless', 'no-gapless', 'no-format'],
  reset: ['force'],
  delete: ['forget'],
};

/** How a field of a sequence reads on a terminal. */
function show(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (typeof value === 'string') return value;
  if (typeof value === 'bigint' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** Options other than the defaults, in a word each: `cycle`, `gapless`, `restart=yearly`, `format`. */
function flags(sequence: Sequence): string {
  const words = [
    sequence.cycle ? 'cycle' : '',
    sequence.gapless ? 'gapless' : '',
    typeof sequence.restart === 'string' && sequence.restart !== 'never' ? `restart=${sequence.restart}` : '',
    typeof sequence.format === 'string' ? 'format' : '',
  ].filter((word) => word !== '');
  return words.length === 0 ? '-' : words.join(',');
}

const LIST_COLUMNS: readonly (readonly [string, (s: Sequence) => string])[] = [
  ['NAME', (s) => show(s.name)],
  ['LAST VALUE', (s) => show(s.last_value)],
  ['NEXT VALUE', (s) => show(s.next_value)],
  ['INCREMENT', (s) => show(s.increment)],
  ['MIN', (s) => show(s.min_value)],
  ['MAX', (s) => show(s.max_value)],
  ['CACHE', (s) => show(s.cache)],
  ['OPTIONS', flags],
];
/** The columns of numbers, right-aligned. */
const NUMBER_COLUMNS = new Set([1, 2, 3, 4, 5, 6]);

function writeSequence(stdout: Writable, sequence: Sequence, json: boolean): void {
  if (json) writeJson(stdout, sequence);
  else stdout.write(formatFields(Object.entries(sequence).map(([key, value]) => [key, show(value)] as const)));
}

/** The PUT body from the flags: only the options given. */
function putBody(values: Readonly<Record<string, string | boolean | undefined>>): SequenceOptions {
  const body: Record<string, unknown> = {};
  for (const { field, flag, arg } of PUT_OPTIONS) {
    const value = values[flag];
    if (typeof value !== 'string') continue;
    if ((arg === 'N' || arg === 'S') && !INTEGER.test(value)) throw new UsageError(`--${flag}: expected an integer, got '${value}'.`);
    body[field] = value;
  }
  for (const { field } of PUT_SWITCHES) {
    if (values[field] === true && values[`no-${field}`] === true) throw new UsageError(`--${field} and --no-${field} contradict each other.`);
    if (values[field] === true) body[field] = true;
    if (values[`no-${field}`] === true) body[field] = false;
  }
  if (values['no-format'] === true) {
    if (body.format !== undefined) throw new UsageError('--format and --no-format contradict each other.');
    body.format = null;
  }
  // Fields of SequenceOptions only, each as the API takes it (restart is checked by the server, which names it in its refusal).
  return body;
}

/** Up to `limit` sequences (all without one) from `cursor` on, a page at a time (the server's page size, or what is left of `limit`). */
async function listSequences(client: TakeANumber, prefix: string | undefined, limit: number | undefined, cursor: string | undefined): Promise<SequencePage> {
  const sequences: Sequence[] = [];
  let next = cursor;
  do {
    const left = limit === undefined ? undefined : limit - sequences.length;
    const page = await client.sequences.list({
      ...(prefix === undefined ? {} : { prefix }),
      ...(left === undefined ? {} : { limit: Math.min(left, 1000) }),
      ...(next === undefined ? {} : { cursor: next }),
    });
    sequences.push(...page.sequences);
    next = page.next_cursor ?? undefined;
  } while (next !== undefined && (limit === undefined || sequences.length < limit));
  return { sequences, next_cursor: next ?? null };
}

export const sequencesCommand = command({
  name: 'sequences',
  summary: { synopsis: 'sequences list|get|put|reset|delete', text: 'Show and manage the sequences of a running server' },
  usage: `Usage: take-a-number sequences list [--prefix P] [--limit N] [--cursor C]
       take-a-number sequences get NAME
       take-a-number sequences put NAME [--start N] [--increment N] [--min N] [--max N]
                         [--cycle|--no-cycle] [--cache N] [--gapless|--no-gapless]
                         [--lease-seconds S] [--restart WHEN] [--time-zone TZ]
                         [--format FORMAT|--no-format]
       take-a-number sequences reset NAME VALUE [--force]
       take-a-number sequences delete NAME [--forget]
       (each also takes [--url URL] [--token TOKEN] [--json])

The sequences of a running server, through its API: a table or a list of
fields for people, --json (the API's JSON, exact integers) for scripts.

${helpOption('list', `A table of the sequences by name, every page (GET /sequences);
--json: {"sequences":[…],"next_cursor":…}`)}
${helpOption('get NAME', 'Every field of a sequence')}
${helpOption('put NAME', `Creates the sequence with the options given (the others take
their defaults), or changes the options given; shows it`)}
${helpOption('reset NAME VALUE', 'Sets the next value to VALUE; moving back needs --force')}
${helpOption('delete NAME', `Deletes it; a name used again continues after its values
(--forget: starts afresh, handing out the same values again)`)}

Options:
${helpOption('--prefix P', 'list: only names starting with P')}
${helpOption('--limit N', 'list: at most N sequences (default: all); --json then gives\nthe next_cursor to pass as --cursor for the ones after')}
${helpOption('--cursor C', 'list: start after the sequences of a previous --limit')}
${PUT_OPTIONS.map(({ flag, arg, text }) => helpOption(`--${flag} ${arg}`, `put: ${text}`)).join('\n')}
${PUT_SWITCHES.map(({ field, text }) => helpOption(`--${field}`, `put: ${text}`)).join('\n')}
${helpOption('--no-format', 'put: no format')}
${helpOption('--force', 'reset: move back over values that may have been handed out')}
${helpOption('--forget', 'delete: forget the values it handed out too')}
${helpOption('--json', 'Print the API\'s JSON (delete prints nothing)')}
${CLIENT_HELP}
${HELP_LINE}

A negative number goes after '=' (--increment=-1), a negative VALUE after '--'
(sequences reset NAME -- -5). Reading needs a token with the read scope;
put, reset and delete need admin.

${CLIENT_EXIT_STATUS}`,
  options: {
    ...CLIENT_OPTIONS,
    ...OPTION_FLAGS,
    prefix: { type: 'string' },
    limit: { type: 'string' },
    cursor: { type: 'string' },
    cycle: { type: 'boolean' },
    'no-cycle': { type: 'boolean' },
    gapless: { type: 'boolean' },
    'no-gapless': { type: 'boolean' },
    'no-format': { type: 'boolean' },
    force: { type: 'boolean' },
    forget: { type: 'boolean' },
  },
  // The action and its arguments, checked by the action.
  positionals: { min: 0, max: Number.POSITIVE_INFINITY },
  async run({ values, positionals: [action, ...args] }, { stdout, env }) {
    if (action === undefined) throw new UsageError('Missing action: list, get, put, reset or delete.');
    const allowed = ACTION_FLAGS[action];
    if (allowed === undefined) throw new UsageError(`Unknown action '${action}'.`);
    const foreign = Object.keys(values).find((flag) => !(flag in CLIENT_OPTIONS) && !allowed.includes(flag));
    if (foreign !== undefined) throw new UsageError(`--${foreign} is not an option of 'sequences ${action}'.`);
    const json = values.json === true;
    const { client } = await connect(values, env);
    if (action === 'list') {
      expectArguments(args, 0, 0);
      const { limit } = values;
      if (limit !== undefined && !/^[1-9]\d{0,9}$/.test(limit)) throw new UsageError(`--limit: expected a whole number from 1, got '${limit}'.`);
      const page = await request(() => listSequences(client, values.prefix, limit === undefined ? undefined : Number(limit), values.cursor));
      if (json) writeJson(stdout, page);
      else if (page.sequences.length === 0) stdout.write(`No sequences${values.prefix === undefined ? '' : ` starting with '${values.prefix}'`}.\n`);
      else stdout.write(formatTable([LIST_COLUMNS.map(([title]) => title), ...page.sequences.map((s) => LIST_COLUMNS.map(([, cell]) => cell(s)))], NUMBER_COLUMNS));
      return;
    }
    expectArguments(args, 1, action === 'reset' ? 2 : 1);
    const name = args[0] ?? '';
    if (action === 'get') {
      writeSequence(stdout, await request(() => client.sequences.get(name)), json);
    } else if (action === 'put') {
      const body = putBody(values);
      writeSequence(stdout, await request(() => client.sequences.put(name, body)), json);
    } else if (action === 'reset') {
      expectArguments(args, 2, 2);
      const value = args[1] ?? '';
      if (!INTEGER.test(value)) throw new UsageError(`VALUE: expected an integer, got '${value}'.`);
      writeSequence(stdout, await request(() => client.sequences.reset(name, value, { force: values.force === true })), json);
    } else {
      await request(() => client.sequences.delete(name, { forget: values.forget === true }));
      if (!json) stdout.write(`Deleted the sequence '${name}'${values.forget === true ? ' and forgot its values' : ''}.\n`);
    }
  },
});
