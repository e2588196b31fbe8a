import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { noRun } from '../errors.ts';
import { runIndex } from '../run-index.ts';
import { AnomalyList, AnomalyQuery } from '../schemas.ts';
import { errors, type RouteOptions } from './context.ts';

export const anomalyRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { view }) => {
  app.get(
    '/v1/anomalies',
    {
      schema: {
        tags: ['anomalies'],
        summary: 'The VMs of the latest run that behave least like their peers, most anomalous first',
        querystring: AnomalyQuery,
        response: { 200: AnomalyList, 400: errors[400], 500: errors[500], 503: errors[503] },
      },
    },
    async (request) => {
      const run = view.latestRun();
      if (run === null) throw noRun();
      const index = runIndex(run);
      const a = run.vmAnomalies;
      const rows = a === undefined ? [] : Array.from(a.order.subarray(0, request.query.limit));
      return {
        run_id: index.runId,
        computed_at: index.computedAt,
        items: rows.map((row) => {
          const id = run.vms.ids[row]!;
          const score = a!.score[row]!;
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
