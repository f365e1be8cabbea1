import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import { parseJsonLossless } from '../json.js';

/** `+json` media types (`application/merge-patch+json`, `application/vnd.x+json`): JSON too. */
const JSON_SUFFIX_TYPE = /^application\/[^;\s]+\+json(?:;|$)/;

function parseJson(_request: FastifyRequest, text: string, done: (error: Error | null, body?: unknown) => void): void {
  if (text.trim() === '') {
    done(null, undefined);
    return;
  }
  try {
    done(null, parseJsonLossless(text));
  } catch (error) {
    done(new AppError('invalid_body', `The request body is not valid JSON: ${(error as Error).message}`), undefined);
  }
}

/**
 * Request bodies. JSON (`application/json` or a `+json` type) is parsed
 * losslessly (64-bit integers stay exact); an empty one is no body. A body of
 * any other type (a form, text, none named) is read within the body limit and:
 * - empty (`Content-Length: 0`), is no body, as if none were sent;
 * - on a route that takes a body (one with a body schema: `PUT /sequences/{name}`,
 *   the reset), is `415 unsupported_media_type`, before the route does anything;
 * - on a route that takes none (`/next`, `DELETE`), is ignored: the Python
 *   service's clients post forms to /next.
 */
export function registerBodyParsers(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parseJson);
  app.addContentTypeParser(JSON_SUFFIX_TYPE, { parseAs: 'string' }, parseJson);
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body: Buffer, done) => {
    if (body.length === 0 || request.routeOptions.schema?.body === undefined) {
      done(null, undefined);
      return;
    }
    const type = request.headers['content-type'];
    done(
      new AppError(
        'unsupported_media_type',
        `This endpoint takes a JSON body, sent as Content-Type: application/json; the body was sent ${type === undefined ? 'without a Content-Type' : `as ${type}`}.`,
      ),
      undefined,
    );
  });
}
