import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli, startServer, type RunningServer } from './helpers/cli.js';
import { startPostgres } from './helpers/postgres.js';
import { tempDir } from './helpers/temp.js';

const lastLine = (text: string): string => text.trimEnd().split('\n').pop() ?? '';

/** POST /next/{name} with an optional token; the status. */
async function post(server: RunningServer, name: string, token?: string): Promise<number> {
  const response = await fetch(`${server.url}/next/${name}`, {
    method: 'POST',
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  await response.arrayBuffer();
  return response.status;
}

/** Polls until the request answers `want` (servers reload tokens every 2 s); fails after 10 s. */
async function eventually(server: RunningServer, token: string | undefined, want: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  let status = await post(server, 'poll', token);
  while (status !== want && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    status = await post(server, 'poll', token);
  }
  assert.equal(status, want);
}

describe('take-a-number token', () => {
  it('creates a store and a token, printed once on the last line; a running server sees new and revoked tokens', async () => {
    const dir = tempDir();
    const store = `sqlite:${join(dir, 'sub', 'tokens.db')}`;
    const created = await runCli(['token', 'create', '--name', 'ci', '--scope', 'next', '--scope', 'read', '--store', store]);
    assert.equal(created.code, 0, created.stderr);
    assert.ok(existsSync(join(dir, 'sub', 'tokens.db')), 'the store was created');
    const ci = lastLine(created.stdout);
    assert.match(ci, /^tan_[A-Za-z0-9_-]{43}$/, 'at least 128 random bits (here 256), base64url');
    const audit = JSON.parse(lastLine(created.stderr)) as Record<string, unknown>;
    assert.equal(audit.audit, 'token.create');
    assert.equal(audit.token, 'ci');
    assert.ok(!created.stderr.includes(ci), 'the audit line does not carry the token');

    const server = await startServer({ store });
    assert.equal(await post(server, 'a'), 401);
    assert.equal(await post(server, 'a', ci), 200);

    // Created while the server holds the store's writer lock.
    const later = await runCli(['token', 'create', '--name', 'deploy', '--scope', 'admin', '--expires-in', '30d', '--store', store]);
    assert.equal(later.code, 0, later.stderr);
    const deploy = lastLine(later.stdout);
    await eventually(server, deploy, 200);

    const list = await runCli(['token', 'list', '--store', store]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^NAME\s+SCOPES\s+PREFIX\s+CREATED\s+EXPIRES\s+LAST USED$/m);
    assert.match(list.stdout, /^ci\s+next,read\s+-\s+\d{4}-\d\d-\d\dT\S+\s+-\s+/m);
    assert.match(list.stdout, /^deploy\s+admin\s+-\s+\S+\s+\d{4}-\d\d-\d\dT\S+/m);
    assert.ok(!list.stdout.includes(ci) && !list.stdout.includes(deploy), 'list never shows tokens');

    const revoked = await runCli(['token', 'revoke', 'deploy', '--store', store]);
    assert.doesNotMatch(revoked.stderr, /No token is left/);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(lastLine(revoked.stderr), /"audit":"token.revoke","token":"deploy"/);
    await eventually(server, deploy, 401);
    assert.equal(await post(server, 'a', ci), 200);
    // Revoking the last token opens the service again, and says so.
    const last = await runCli(['token', 'revoke', 'ci', '--store', store]);
    assert.match(last.stderr, /No token is left: servers on this store now serve every endpoint without a token/);
    await eventually(server, undefined, 200);
    assert.equal(await server.stop(), 0);
  });

  it('refuses bad input with a message: exit 1 for values, 2 for usage', async () => {
    const store = `sqlite:${join(tempDir(), 't.db')}`;
    const cases: [string[], number, RegExp][] = [
      [['token', 'create', '--scope', 'next'], 1, /--name: expected/],
      [['token', 'create', '--name', 'x'], 1, /--scope: give at least one of next, read, admin/],
      [['token', 'create', '--name', 'x', '--scope', 'write'], 1, /--scope: expected one of next, read, admin, got 'write'/],
      [['token', 'create', '--name', 'x', '--scope', 'next', '--expires-in', 'soon'], 1, /--expires-in: expected a duration/],
      [['token', 'create', '--name', 'bad name', '--scope', 'next'], 1, /--name: expected/],
      [['token', 'revoke', 'nobody'], 1, /No token named 'nobody'/],
      [['token'], 2, /Missing action/],
      [['token', 'rotate'], 2, /Unknown action 'rotate'/],
      [['token', 'revoke'], 2, /Missing argument/],
    ];
    for (const [args, code, message] of cases) {
      const result = await runCli([...args, '--store', store]);
      assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
    }
    assert.equal((await runCli(['token', 'create', '--name', 'dup', '--scope', 'next', '--store', store])).code, 0);
    const duplicate = await runCli(['token', 'create', '--name', 'dup', '--scope', 'next', '--store', store]);
    assert.equal(duplicate.code, 1);
    assert.match(duplicate.stderr, /A token named 'dup' exists already/);
    const help = await runCli(['token', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /take-a-number token create --name NAME --scope SCOPE/);
  });

  it('works on PostgreSQL: a token created once counts on every instance, and revocation too', async () => {
    const url = await (await startPostgres()).newDatabase();
    const [one, two] = await Promise.all([startServer({ store: url }), startServer({ store: url })]);
    const created = await runCli(['token', 'create', '--name', 'shared', '--scope', 'next', '--store', url]);
    assert.equal(created.code, 0, created.stderr);
    const token = lastLine(created.stdout);
    // A second token: revoking the last one would open the service again.
    assert.equal((await runCli(['token', 'create', '--name', 'other', '--scope', 'read', '--store', url])).code, 0);
    await eventually(one, undefined, 401);
    await eventually(two, undefined, 401);
    assert.equal(await post(one, 'pg', token), 200);
    assert.equal(await post(two, 'pg', token), 200);
    assert.equal((await runCli(['token', 'revoke', 'shared', '--store', url])).code, 0);
    await eventually(one, token, 401);
    await eventually(two, token, 401);
    await Promise.all([one.stop(), two.stop()]);
  });
});
