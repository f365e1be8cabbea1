import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * Fastify logs every request at info level; on a service answering tens of
 * thousands of requests a second that is the largest cost of all. Here those
 * lines are written at debug (`--log-level debug`); errors keep their levels.
 */
export class RequestLogsAtDebug extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) reply.log.error({ res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    else reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }

  override routeNotFound(request: FastifyRequest): void {
    request.log.debug(`Route ${request.raw.method ?? ''}:${request.raw.url ?? ''} not found`);
  }
}
