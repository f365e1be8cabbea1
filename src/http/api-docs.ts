import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { ERROR_CATALOGUE } from '../errors.js';
import { VERSION } from '../version.js';

const errorTable = Object.entries(ERROR_CATALOGUE)
  .map(([code, { status, message }]) => `| \`${code}\` | ${status} | ${message} |`)
  .join('\n');

/**
 * `GET /openapi.json` (OpenAPI 3, generated from the route schemas) and a
 * browsable `/docs` page. Must be registered before the routes it describes.
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
              'Needed once any API token exists (take-a-number token create). Scopes: next (POST /next), read (GET /sequences…, /metrics), admin (all).',
          },
        },
      },
    },
  });
  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
  await app.register(swaggerUi, { routePrefix: '/docs' });
}
