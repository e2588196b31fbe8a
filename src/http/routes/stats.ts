import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { IngestStatsResponse } from '../schemas.ts';
import { adminOnly, errors, type RouteOptions } from './context.ts';

/** What has come in so far: operators check it against what producers sent; tests wait on it. */
export const statsRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { view }) => {
  app.get(
    '/v1/stats',
    {
      config: adminOnly,
      schema: {
        tags: ['service'],
        summary: 'Ingest counters: messages, records by kind, rejections by reason, watermark, run in progress',
        response: { 200: IngestStatsResponse, 500: errors[500] },
      },
    },
    async () => {
      const s = view.ingestStats();
      const inFlight = view.runInProgress();
      const latest = view.latestRun();
      return {
        messages: s.messages,
        records: { flows: s.records.flows, vm_attributes: s.records.vmAttributes, tenant_attributes: s.records.tenantAttributes },
        rejected: { count: s.rejected.count, by_reason: s.rejected.by_reason as Record<string, number> },
        watermark: s.watermark === null ? null : new Date(s.watermark).toISOString(),
        vms_tracked: s.vmsTracked,
        tenants_tracked: s.tenantsTracked,
        latest_run_id: latest?.runId ?? null,
        run_in_progress: inFlight?.runId ?? null,
        ...(s.connections === undefined ? {} : { security_group_connections: s.connections }),
      };
    },
  );
};
