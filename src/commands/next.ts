import { helpOption } from '../help.js';
import { CLIENT_EXIT_STATUS, CLIENT_HELP, CLIENT_OPTIONS, connect, request } from './client.js';
import { command, HELP_LINE, UsageError } from './command.js';

export const nextCommand = command({
  name: 'next',
  summary: { synopsis: 'next NAME', text: 'Take the next value of a sequence from a running server' },
  usage: `Usage: take-a-number next NAME [--count N] [--idempotency-key KEY] [--url URL]
                          [--token TOKEN] [--json]

Takes the next value of the sequence NAME from a running server (POST /next/NAME)
and prints it on stdout, one line. With --count N, takes N values in one request
and prints each on its own line:  for id in $(take-a-number next orders --count 5)
A failed request is retried (3 times, 5 s timeout each) with one Idempotency-Key,
so a retry after a lost answer gets the same value and never takes another.

Options:
${helpOption('--count N', 'Take N consecutive values (1 to the server\'s --max-count)')}
${helpOption('--idempotency-key KEY', `The request's Idempotency-Key: the same KEY again answers
the same values (default: a new key for this call)`)}
${helpOption('--json', 'Print the server\'s answer (JSON, exact integers), including\n`formatted`, `period` and a gapless `reservation`')}
${CLIENT_HELP}
${HELP_LINE}

On a gapless sequence, the value is a reservation: its id and expiry go to stderr
(or use --json); confirm it within its lease through the API or the SDK.

${CLIENT_EXIT_STATUS}`,
  options: { ...CLIENT_OPTIONS, count: { type: 'string' }, 'idempotency-key': { type: 'string' } },
  positionals: { min: 1, max: 1 },
  async run({ values, positionals: [name = ''] }, { stdout, stderr, env }) {
    const count = values.count;
    if (count !== undefined && !/^[1-9]\d{0,9}$/.test(count)) throw new UsageError(`--count: expected a whole number from 1, got '${count}'.`);
    const { client, lastAnswer } = await connect(values, env);
    const key = values['idempotency-key'];
    // Without --count, no count is sent: the server answers its plain shape (sequence_id, next_value).
    const answer = await request(() => client.allocate(name, { ...(count === undefined ? {} : { count }), ...(key === undefined ? {} : { idempotencyKey: key }) }));
    if (values.json === true) {
      stdout.write(`${lastAnswer()}\n`);
      return;
    }
    stdout.write(Array.from(answer.values(), (value) => `${value}\n`).join(''));
    if (answer.reservation !== undefined) {
      stderr.write(`take-a-number: reservation ${answer.reservation} of value ${answer.first}, expires at ${answer.expiresAt?.toISOString() ?? '?'}\n`);
    }
  },
});
