import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ServiceMetrics } from '../metrics.ts';
import type { RouteOptions } from './context.ts';

export const metricsRoutes: FastifyPluginAsyncZod<RouteOptions & { metrics: ServiceMetrics }> = async (app, { view, metrics }) => {
  app.get(
    '/metrics',
    // No response schema: the body is Prometheus text, which the JSON serializer must not touch.
    { schema: { tags: ['operations'], summary: 'Prometheus metrics (text exposition format)' } },
    async (_request, reply) => {
      // Gauges of the live state are read at scrape time, so they are current without a timer.
      const stats = view.ingestStats();
      metrics.tracked(stats.vmsTracked, stats.tenantsTracked);
      if (stats.fleet) metrics.fleetCounters(stats.fleet);
      const { contentType, body } = await metrics.exposition();
      return reply.type(contentType).send(body);
    },
  );
};
