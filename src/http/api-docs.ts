import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import swagger from '@fastify/swagger';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CATALOGUE } from '../errors.js';
import { VERSION } from '../version.js';

/**
 * Text for a cell of a Markdown table that Swagger UI renders as HTML: `<`,
 * `>` and `&` as entities (it would take `<token>` for a tag and drop it),
 * `|` escaped (it would end the cell).
 */
export function markdownCell(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\|/g, '\\|');
}

const errorTable = Object.entries(ERROR_CATALOGUE)
  .map(([code, { status, message }]) => `| \`${code}\` | ${status} | ${markdownCell(message)} |`)
  .join('\n');

/** Swagger UI's files, as @fastify/swagger-ui ships them (the copy of swagger-ui-dist it was built with). */
const SWAGGER_UI_FILES = join(dirname(createRequire(import.meta.url).resolve('@fastify/swagger-ui/package.json')), 'static');

/** The files the page loads, with their types; nothing else under /docs/static is served. */
const SWAGGER_UI_ASSETS: Readonly<Record<string, string>> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'index.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'application/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
  'favicon-16x16.png': 'image/png',
  'oauth2-redirect.html': 'text/html; charset=utf-8',
  'oauth2-redirect.js': 'application/javascript; charset=utf-8',
};

/** The page; `assets` is where its files are, relative to the page's URL. */
function pageHtml(assets: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<title>TakeANumber API</title>
<link rel="stylesheet" type="text/css" href="${assets}/swagger-ui.css">
<link rel="stylesheet" type="text/css" href="${assets}/index.css">
<link rel="icon" type="image/png" href="${assets}/favicon-32x32.png" sizes="32x32">
<link rel="icon" type="image/png" href="${assets}/favicon-16x16.png" sizes="16x16">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${assets}/swagger-ui-bundle.js" charset="UTF-8"></script>
<script src="${assets}/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
<script src="${assets}/swagger-initializer.js" charset="UTF-8"></script>
</body>
</html>
`;
}

/** Starts Swagger UI on the description at ./json beside the page (/docs and /docs/ alike). */
const INITIALIZER = `window.onload = function () {
  var path = window.location.pathname;
  var base = window.location.origin + (path.endsWith('/') ? path : path + '/');
  window.ui = SwaggerUIBundle({
    url: base + 'json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: 'StandaloneLayout',
    validatorUrl: null,
    oauth2RedirectUrl: base + 'static/oauth2-redirect.html'
  });
};
`;

/** A document served from one buffer made once: answers share it, nothing is built per request. */
interface StaticDocument {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

function staticDocument(content: Buffer | string, type: string): StaticDocument {
  const body = Buffer.from(content);
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

/** Whether an If-None-Match header names the document's entity tag (weakly compared, as for GET). */
function notModified(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  return ifNoneMatch.split(',').some((tag) => {
    const trimmed = tag.trim();
    return trimmed === '*' || trimmed.replace(/^W\//, '') === etag;
  });
}

function send(request: FastifyRequest, reply: FastifyReply, document: StaticDocument): FastifyReply {
  // The same for everyone and until the next release: cacheable, revalidated by its entity tag.
  void reply.header('Cache-Control', 'public, max-age=0').header('ETag', document.etag);
  if (notModified(request.headers['if-none-match'], document.etag)) return reply.code(304).send();
  return reply.type(document.type).send(document.body);
}

/**
 * `GET /openapi.json` (OpenAPI 3, generated from the route schemas; also
 * `/docs/json` and `/docs/yaml`) and a browsable `/docs` page (Swagger UI).
 * Every one of them is a document made once, at start, and sent from its
 * buffer: answering one costs no serialization and no copy, however many are
 * asked for. Must be registered before the routes it describes.
 */
export async function registerApiDocs(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'TakeANumber',
        version: VERSION,
        description:
          'Unique, increasing numbers over HTTP. 64-bit values are exact JSON integers (parse them ' +
          'losslessly above 2^53). Every error is `{"error": {"code", "message"}}`:\n\n' +
          `| code | status | meaning |\n| --- | --- | --- |\n${errorTable}`,
      },
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            description:
              'Needed once any API token exists (take-a-number token create). Scopes: next (/next, and confirm, release, void of reservations), read (GET /sequences…, /metrics, /stats), admin (all); GET /token takes any valid token.',
          },
        },
      },
    },
  });

  // The description covers every route, so it is made once all are registered.
  let json: StaticDocument | undefined;
  let yaml: StaticDocument | undefined;
  app.addHook('onReady', (done) => {
    json = staticDocument(JSON.stringify(app.swagger()), 'application/json; charset=utf-8');
    yaml = staticDocument(app.swagger({ yaml: true }), 'application/x-yaml; charset=utf-8');
    done();
  });
  const description = (document: StaticDocument | undefined): StaticDocument => {
    if (document === undefined) throw new Error('the API description is made when the app is ready');
    return document;
  };
  const hidden = { schema: { hide: true } };
  app.get('/openapi.json', hidden, (request, reply) => send(request, reply, description(json)));
  app.get('/docs/json', hidden, (request, reply) => send(request, reply, description(json)));
  app.get('/docs/yaml', hidden, (request, reply) => send(request, reply, description(yaml)));

  const page = staticDocument(pageHtml('./docs/static'), 'text/html; charset=utf-8');
  const pageInFolder = staticDocument(pageHtml('./static'), 'text/html; charset=utf-8');
  app.get('/docs', hidden, (request, reply) => send(request, reply, page));
  app.get('/docs/', hidden, (request, reply) => send(request, reply, pageInFolder));
  const initializer = staticDocument(INITIALIZER, 'application/javascript; charset=utf-8');
  app.get('/docs/static/swagger-initializer.js', hidden, (request, reply) => send(request, reply, initializer));
  for (const [file, type] of Object.entries(SWAGGER_UI_ASSETS)) {
    const asset = staticDocument(readFileSync(join(SWAGGER_UI_FILES, file)), type);
    app.get(`/docs/static/${file}`, hidden, (request, reply) => send(request, reply, asset));
  }
}
