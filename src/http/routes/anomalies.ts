import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { AnomalyList, AnomalyQuery } from '../schemas.ts';
import { errors, type RouteOptions, requireRunAndIndex, scoped } from './context.ts';

export const anomalyRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { view }) => {
  app.get(
    '/v1/anomalies',
    {
      config: scoped,
      schema: {
        tags: ['anomalies'],
        summary: 'The VMs of the latest run that behave least like their peers, most anomalous first',
        querystring: AnomalyQuery,
        response: { 200: AnomalyList, 400: errors[400], 500: errors[500], 503: errors[503] },
      },
    },
    async (request) => {
      const { run, index } = requireRunAndIndex(view, request.scope);
      const scores = run.vmAnomalies?.score;
      const ids = run.vms.ids;
      return {
        run_id: index.runId,
        computed_at: index.computedAt,
        items: index.anomalyOrder.slice(0, request.query.limit).map((row) => {
          const id = ids[row]!;
          const score = scores![row]!;
          return {
            vm_id: id,
            tenant_id: index.tenantOfVm.get(id) ?? null,
            cluster_id: index.vms.clusterOf.get(id)!,
            score: Number.isFinite(score) ? Number(score.toPrecision(4)) : 0,
          };
        }),
      };
    },
  );
};
