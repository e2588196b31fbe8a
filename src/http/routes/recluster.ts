import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ReclusterAccepted } from '../schemas.ts';
import { adminOnly, errors, type RouteOptions } from './context.ts';

export const reclusterRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { view }) => {
  app.post(
    '/v1/recluster',
    {
      config: adminOnly,
      schema: {
        tags: ['clusters'],
        summary: 'Start a clustering run now (or join the one in progress)',
        response: { 202: ReclusterAccepted, 500: errors[500] },
      },
    },
    async (_request, reply) => {
      const outcome = view.requestRecluster();
      return reply.code(202).send({ run_id: outcome.runId, started: outcome.started });
    },
  );
};
