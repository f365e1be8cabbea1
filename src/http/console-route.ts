import { createHash } from 'node:crypto';
import { readFile, realpath } from 'node:fs/promises';
import { extname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';

/**
 * The console's built files: dist/console of this package, found from this
 * module both in dist/http (built) and src/http (run from sources by tsx).
 */
export const CONSOLE_DIR = fileURLToPath(new URL('../../dist/console', import.meta.url));

/** The console's Content-Security-Policy: its own files only, no inline script, never framed. */
export const CONSOLE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

const INDEX = 'index.html';
/** Assets may be kept an hour; the page itself is checked every time, so a new build shows at once. */
const ASSET_CACHE = 'public, max-age=3600';
const PAGE_CACHE = 'no-cache';

/**
 * `GET /console` (the page) and `GET /console/*` (its assets) from `dir`:
 * no token needed (the files are static; the page asks for one and every
 * data call goes through the API with it). Only files inside `dir` are
 * served: `..`, dot segments, backslashes and symlinks out of it answer
 * 404 `not_found`, like a missing file. Without a built console (sources run
 * without `npm run build`) it says so, in a 404.
 */
export function registerConsole(app: FastifyInstance, dir: string): void {
  const schema = { hide: true };
  app.get('/console', { schema }, (request, reply) => sendFile(request, reply, dir, INDEX));
  app.get<{ Params: { '*': string } }>('/console/*', { schema }, (request, reply) => {
    const path = request.params['*'];
    return sendFile(request, reply, dir, path === '' ? INDEX : path);
  });
}

async function sendFile(request: FastifyRequest, reply: FastifyReply, dir: string, path: string): Promise<FastifyReply> {
  void reply
    .header('Content-Security-Policy', CONSOLE_CSP)
    .header('X-Content-Type-Options', 'nosniff')
    .header('Referrer-Policy', 'no-referrer')
    .header('X-Frame-Options', 'DENY');
  const file = await resolveInside(dir, path);
  let content: Buffer;
  try {
    content = await readFile(file);
  } catch {
    throw notFound(path);
  }
  const etag = `"${createHash('sha1').update(content).digest('base64url')}"`;
  void reply
    .header('Cache-Control', path === INDEX ? PAGE_CACHE : ASSET_CACHE)
    .header('ETag', etag)
    .type(CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream');
  if (request.headers['if-none-match'] === etag) return reply.code(304).send();
  return reply.send(content);
}

/** The real path of `path` under `dir`, or a 404 if it leaves it or does not exist. */
async function resolveInside(dir: string, path: string): Promise<string> {
  const segments = path.split('/');
  if (segments.some((segment) => segment === '' || segment === '.' || segment === '..' || /[\\\0]/.test(segment))) throw notFound(path);
  let root: string;
  try {
    root = await realpath(dir);
  } catch {
    throw new AppError('not_found', `The console is not built (no ${dir}): run npm run build.`);
  }
  let file: string;
  try {
    file = await realpath(join(root, ...segments));
  } catch {
    throw notFound(path);
  }
  if (!file.startsWith(root + sep)) throw notFound(path);
  return file;
}

const notFound = (path: string): AppError => new AppError('not_found', `The console has no file ${path}.`);
