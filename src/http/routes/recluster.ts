import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ErrorBody, ReclusterAccepted } from '../schemas.ts';
import { adminOnly, type RouteOptions } from './context.ts';

export const reclusterRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { view }) => {
  app.post(
    '/v1/recluster',
    {
      config: adminOnly,
      schema: {
        tags: ['clusters'],
        summary: 'Start a clustering run now (or join the one in progress)',
        // It reads no body, but one that is sent is parsed like any other: hence 400, 413 and 415.
        response: {
          202: ReclusterAccepted,
          400: ErrorBody.describe('A body was sent and is not valid JSON (bad_request)'),
          413: ErrorBody.describe('A body was sent and is larger than 64 KiB (payload_too_large)'),
          415: ErrorBody.describe('A body was sent with a content type other than JSON or text (unsupported_media_type)'),
        },
      },
    },
    async (_request, reply) => {
      const outcome = view.requestRecluster();
      return reply.code(202).send({ run_id: outcome.runId, started: outcome.started });
    },
  );
};
