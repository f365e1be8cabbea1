import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { runCli, startServer } from './helpers/cli.js';
import { tempDir } from './helpers/temp.js';

/** A self-signed certificate for 127.0.0.1, made with openssl. */
function makeCertificate(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

interface HttpsAnswer {
  readonly status: number;
  readonly body: string;
  /** The common name of the certificate the server presented. */
  readonly servedCn: string;
}

/** POST over HTTPS, trusting only `ca`. */
function httpsPost(url: string, ca: Buffer): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', ca, agent: false }, (response) => {
      let body = '';
      // An HTTPS response's socket is a TLSSocket (Node's typings say Socket).
      const socket = response.socket as unknown as Pick<TLSSocket, 'getPeerCertificate'>;
      const servedCn = String(socket.getPeerCertificate().subject.CN);
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body, servedCn }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('HTTPS', () => {
  it('serves HTTPS with --tls-cert/--tls-key, and reloads the certificate on SIGHUP', async () => {
    const dir = tempDir();
    const first = makeCertificate(dir, 'first');
    // The files the server reads; replaced in place before SIGHUP.
    const live = makeCertificate(dir, 'live');
    execFileSync('cp', [first.cert, live.cert]);
    execFileSync('cp', [first.key, live.key]);
    const server = await startServer({ store: `sqlite:${join(dir, 'tls.db')}`, args: ['--tls-cert', live.cert, '--tls-key', live.key] });
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);

    const answer = await httpsPost(`${server.url}/next/secure`, readFileSync(first.cert));
    assert.equal(answer.status, 200);
    assert.equal(answer.body, '{"sequence_id":"secure","next_value":1}');
    assert.equal(answer.servedCn, 'first');
    await assert.rejects(fetch(`${server.url.replace('https:', 'http:')}/next/secure`, { method: 'POST' }), 'plain HTTP gets no answer');

    const second = makeCertificate(dir, 'second');
    execFileSync('cp', [second.cert, live.cert]);
    execFileSync('cp', [second.key, live.key]);
    server.process.kill('SIGHUP');
    await server.waitForLog((line) => line.msg.startsWith('SIGHUP: reloaded the TLS certificate'));
    const reloaded = await httpsPost(`${server.url}/next/secure`, readFileSync(second.cert));
    assert.equal(reloaded.servedCn, 'second');
    assert.equal(reloaded.body, '{"sequence_id":"secure","next_value":2}');

    // A broken file on SIGHUP keeps the previous certificate and says why.
    execFileSync('sh', ['-c', `echo broken > ${live.key}`]);
    server.process.kill('SIGHUP');
    await server.waitForLog((line) => line.msg.startsWith('SIGHUP: cannot reload the TLS certificate'));
    assert.equal((await httpsPost(`${server.url}/next/secure`, readFileSync(second.cert))).status, 200);
    assert.equal(await server.stop(), 0);
  });

  it('refuses a half or unreadable TLS setting before listening', async () => {
    const dir = tempDir();
    const { cert } = makeCertificate(dir, 'only');
    const half = await runCli(['serve', '--port', '0', '--store', `sqlite:${join(dir, 'x.db')}`, '--tls-cert', cert]);
    assert.equal(half.code, 1);
    assert.match(half.stderr, /--tls-cert and --tls-key go together/);
    const bad = join(dir, 'bad.key');
    execFileSync('sh', ['-c', `echo junk > ${bad}`]);
    const broken = await runCli(['serve', '--port', '0', '--store', `sqlite:${join(dir, 'x.db')}`, '--tls-cert', cert, '--tls-key', bad]);
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /^take-a-number: Cannot serve HTTPS with the certificate .*only\.crt and key .*bad\.key \(--tls-cert\/--tls-key\): /);
    assert.doesNotMatch(broken.stderr, /\n\s+at /, 'a message, not a stack trace');
  });
});
