import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startServer, within } from './helpers/cli.js';
import { answersAndTheirSyncs } from './helpers/strace-answers.js';
import { tempDir } from './helpers/temp.js';

const STRACE = spawnSync('strace', ['-qq', '-o', '/dev/null', 'true']).status === 0;
// Without strace (or where it may not trace) the test is skipped, saying why; in CI (.ci/run installs
// it) that is a failure, so the check can never silently stop being run.
const skip = STRACE || process.env.CI === 'true' ? false : 'strace is not installed or may not trace here (Debian: apt-get install strace)';

describe('the strace log reader (checked on logs written by hand)', () => {
  const request = (pid: number, fd: number, path: string): string =>
    `${pid} 10:00:00.000001 read(${fd}, "POST ${path} HTTP/1.1\\r\\nhost: 127.0.0.1\\r\\n"..., 65536) = 120`;
  const answer = (pid: number, fd: number): string =>
    `${pid} 10:00:00.000003 writev(${fd}, [{iov_base="HTTP/1.1 200 OK\\r\\ncontent-type: application/json"..., iov_len=180}, {iov_base="{}", iov_len=2}], 2) = 182`;
  const sync = (pid: number): string => `${pid} 10:00:00.000002 fdatasync(17) = 0`;

  test('an answer written after a completed sync that began after its request passes', () => {
    const log = [request(7, 23, '/next/a'), sync(7), answer(7, 23)].join('\n');
    assert.deepEqual(answersAndTheirSyncs(log), [{ request: 'POST /next/a', fd: 23, readLine: 1, writeLine: 3, syncLine: 2 }]);
  });

  test('an answer written before any sync is reported without one', () => {
    const log = [request(7, 23, '/next/a?count=3'), answer(7, 23), sync(7)].join('\n');
    assert.equal(answersAndTheirSyncs(log)[0]?.syncLine, undefined);
  });

  test('a sync that began before the request was read does not cover it', () => {
    const log = [
      '8 10:00:00.000001 fdatasync(17 <unfinished ...>',
      request(7, 23, '/next/a'),
      '8 10:00:00.000002 <... fdatasync resumed>) = 0',
      answer(7, 23),
    ].join('\n');
    assert.equal(answersAndTheirSyncs(log)[0]?.syncLine, undefined);
  });

  test('a sync still unfinished when the answer is written does not count; a failed one neither', () => {
    const unfinished = [request(7, 23, '/next/a'), '8 10:00:00.000002 fsync(17 <unfinished ...>', answer(7, 23), '8 10:00:00.000004 <... fsync resumed>) = 0'];
    assert.equal(answersAndTheirSyncs(unfinished.join('\n'))[0]?.syncLine, undefined);
    const failed = [request(7, 23, '/next/a'), '7 10:00:00.000002 fdatasync(17) = -1 EIO (Input/output error)', answer(7, 23)];
    assert.equal(answersAndTheirSyncs(failed.join('\n'))[0]?.syncLine, undefined);
  });

  test('interrupted reads and writes are joined; each connection is matched with its own request', () => {
    const log = [
      '7 10:00:00.000001 read(23, <unfinished ...>',
      '8 10:00:00.000001 fdatasync(17 <unfinished ...>',
      '7 10:00:00.000002 <... read resumed>"POST /sequences/g/reservations/AbC_1/confirm HTTP/1.1\\r\\n"..., 65536) = 90',
      request(7, 24, '/next/b'),
      '8 10:00:00.000003 <... fdatasync resumed>) = 0',
      sync(7),
      '7 10:00:00.000004 write(24, "HTTP/1.1 200 OK\\r\\n"..., 200 <unfinished ...>',
      '9 10:00:00.000004 read(25, "GET /healthz HTTP/1.1\\r\\n"..., 65536) = 40',
      '9 10:00:00.000005 writev(25, [{iov_base="HTTP/1.1 200 OK\\r\\n"..., iov_len=100}], 1) = 100',
      '7 10:00:00.000005 <... write resumed>) = 200',
      answer(7, 23),
    ].join('\n');
    assert.deepEqual(
      answersAndTheirSyncs(log).map((a) => [a.request, a.fd, a.syncLine]),
      [
        ['POST /next/b', 24, 6],
        ['POST /sequences/g/reservations/AbC_1/confirm', 23, 6],
      ],
    );
  });
});

test('every answer that takes values is written after an fsync that completed after its request was read (strace)', { skip, timeout: 120_000 }, async () => {
  assert.ok(STRACE, 'strace is not installed or may not trace here: .ci/run installs it (apt-get install strace)');
  const dir = tempDir();
  const trace = join(dir, 'strace.log');
  const calls = 'trace=read,recvfrom,readv,write,writev,sendto,fsync,fdatasync';
  const server = await startServer({
    store: `sqlite:${join(dir, 'store.db')}`,
    launcher: ['strace', '-f', '-tt', '-qq', '-e', calls, '-s', '80', '-o', trace],
    timeoutMs: 60_000,
  });
  const post = async (path: string): Promise<string> => {
    const response = await fetch(`${server.url}${path}`, { method: 'POST' });
    const body = await response.text();
    assert.equal(response.status, 200, `${path}: ${body}`);
    return body;
  };
  let sent = 0;
  // One connection, one request after another (keep-alive).
  for (let i = 0; i < 10; i += 1, sent += 1) await post('/next/sequential');
  // Several connections at once: the answers of one group commit.
  const concurrent = Array.from({ length: 40 }, (_, i) => post(i % 2 === 0 ? '/next/concurrent' : `/next/many-${i}?count=5`));
  await Promise.all(concurrent);
  sent += concurrent.length;
  // Gapless: reserve, then confirm.
  const created = await fetch(`${server.url}/sequences/gapless`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"gapless":true}' });
  assert.equal(created.status, 201);
  const reservations = await Promise.all(Array.from({ length: 8 }, () => post('/next/gapless')));
  sent += reservations.length;
  await Promise.all(
    reservations.map((body) => {
      const id = /"reservation":"([A-Za-z0-9_-]+)"/.exec(body)?.[1];
      assert.ok(id !== undefined, `a reservation id in ${body}`);
      return post(`/sequences/gapless/reservations/${id}/confirm`);
    }),
  );
  sent += reservations.length;

  // strace is the launched process: stop the server it traces (its child), then strace ends with it.
  const straced = server.process.pid ?? 0;
  const traced = Number(readFileSync(`/proc/${straced}/task/${straced}/children`, 'utf8').trim().split(' ')[0]);
  process.kill(traced, 'SIGTERM');
  await within(server.exited, 30_000, () => 'the server under strace did not stop');

  const answers = answersAndTheirSyncs(readFileSync(trace, 'utf8'));
  assert.equal(answers.length, sent, `every answer that took values is in the log (${answers.length} of ${sent})`);
  for (const request of ['POST /next/sequential', 'POST /next/concurrent', 'POST /next/many-1?count=5', 'POST /next/gapless']) {
    assert.ok(
      answers.some((a) => a.request === request),
      `${request} is among the answers checked`,
    );
  }
  assert.ok(answers.some((a) => a.request.endsWith('/confirm')), 'confirms are among the answers checked');
  const unsynced = answers.filter((a) => a.syncLine === undefined);
  assert.deepEqual(unsynced, [], 'every answer waited for an fsync that began after its request was read');
});
