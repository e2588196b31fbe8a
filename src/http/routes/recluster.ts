import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ApiError } from '../errors.ts';
import { ErrorBody, ReclusterAccepted, ReclusterBody } from '../schemas.ts';
import { adminOnly, type RouteOptions } from './context.ts';

export const reclusterRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { view }) => {
  app.post(
    '/v1/recluster',
    {
      config: adminOnly,
      schema: {
        tags: ['clusters'],
        summary: 'Start a clustering run now (or join the one in progress)',
        // The body is optional ({"search": true} forces a k search); one that is sent is parsed like any other: hence 400, 413 and 415.
        response: {
          202: ReclusterAccepted,
          400: ErrorBody.describe('A body was sent and is not valid JSON, or its "search" is not a boolean (bad_request)'),
          413: ErrorBody.describe('A body was sent and is larger than 64 KiB (payload_too_large)'),
          415: ErrorBody.describe('A body was sent with a content type other than JSON or text (unsupported_media_type)'),
        },
      },
    },
    async (request, reply) => {
      // Checked here rather than as the route's body schema: a body of any other shape (text, say) was
      // always accepted and ignored, and still is; only a JSON object's "search" field is read.
      const body = request.body;
      let search = false;
      if (body !== null && typeof body === 'object' && !Array.isArray(body) && 'search' in body) {
        const parsed = ReclusterBody.safeParse(body);
        if (!parsed.success) throw new ApiError(400, 'bad_request', 'search: must be true or false');
        search = parsed.data.search === true;
      }
      const outcome = view.requestRecluster({ search });
      return reply.code(202).send({ run_id: outcome.runId, started: outcome.started });
    },
  );
};
