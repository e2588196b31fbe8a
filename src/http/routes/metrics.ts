import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ServiceMetrics } from '../../observability/service-metrics.ts';
import type { RouteOptions } from './context.ts';

export const metricsRoutes: FastifyPluginAsyncZod<RouteOptions & { metrics: ServiceMetrics }> = async (app, { view, metrics }) => {
  app.get(
    '/metrics',
    {
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics (text exposition format)',
        // Documented as text: Fastify sends a string with its own content type as it is, unserialized.
        response: { 200: { description: 'Prometheus text exposition format 0.0.4', content: { 'text/plain': { schema: z.string() } } } },
      },
    },
    async (_request, reply) => {
      // Gauges of the live state are read at scrape time, so they are current without a timer.
      const stats = view.ingestStats();
      metrics.tracked(stats.vmsTracked, stats.tenantsTracked);
      if (stats.fleet) metrics.fleetCounters(stats.fleet);
      if (stats.attribution) metrics.attribution(stats.attribution);
      if (stats.heldFlows) metrics.heldFlows(stats.heldFlows);
      const { contentType, body } = await metrics.exposition();
      return reply.type(contentType).send(body);
    },
  );
};
