import type { FastifyInstance } from 'fastify';
import type { Allocator } from '../allocator.js';
import { AppError } from '../errors.js';
import { checkSequenceName } from '../sequence-name.js';
import { errorResponses, NextResponse, SequenceParams } from './schemas.js';

/** `/next/{name}`: the original service's API, unchanged. POST is the recommended form. */
export function registerNextRoute(app: FastifyInstance, allocator: Allocator): void {
  app.route<{ Params: SequenceParams; Reply: NextResponse }>({
    method: ['POST', 'GET'],
    url: '/next/:name',
    // Fastify would add HEAD for GET; a HEAD (a crawler, a monitor) must never take a number.
    exposeHeadRoute: false,
    schema: {
      params: SequenceParams,
      response: { 200: NextResponse, ...errorResponses },
    },
    async handler(request) {
      const { name } = request.params;
      // The router matches `/next/` with an empty name; the original answers 404 there.
      if (name === '') throw new AppError('not_found', 'No sequence name given: use /next/{name}.');
      checkSequenceName(name);
      const { first } = await allocator.allocate(name);
      return { sequence_id: name, next_value: first };
    },
  });
}
