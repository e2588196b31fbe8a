import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { Assignments } from '../schemas.ts';
import { errors, type RouteOptions, requireRun, scoped } from './context.ts';

export const assignmentRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { view }) => {
  app.get(
    '/v1/assignments',
    {
      config: scoped,
      schema: {
        tags: ['clusters'],
        summary: 'Cluster of every VM and tenant in the latest run',
        response: { 200: Assignments, 500: errors[500], 503: errors[503] },
      },
    },
    async (request) => {
      const index = requireRun(view, request.scope);
      return {
        run_id: index.runId,
        computed_at: index.computedAt,
        vm_clusters: index.vms.assignments,
        tenant_clusters: index.tenants.assignments,
      };
    },
  );
};
