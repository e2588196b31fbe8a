import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { Health, Readiness } from '../schemas.ts';
import type { RouteOptions } from './context.ts';

export const healthRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { view }) => {
  app.get(
    '/healthz',
    { schema: { tags: ['operations'], summary: 'Liveness: the process serves requests', response: { 200: Health } } },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['operations'],
        summary: 'Readiness: inputs connected and a first clustering run completed',
        response: { 200: Readiness, 503: Readiness },
      },
    },
    async (_request, reply) => {
      const missing: Readiness['missing'] = [];
      if (!view.inputsReady()) missing.push('inputs');
      if (view.latestRun() === null) missing.push('first_run');
      return reply.code(missing.length === 0 ? 200 : 503).send({ status: missing.length === 0 ? 'ready' : 'not_ready', missing });
    },
  );
};
