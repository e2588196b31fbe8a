/**
 * The REST API of CONTRACT.md as one Fastify instance over a ServiceView: a thin adapter that validates,
 * looks up and shapes. It owns no state of the service; `server`/`main` starts and stops it.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ServiceView } from '../service/types.ts';
import { registerSecurity, type SecurityOptions } from './auth/access-control.ts';
import { documentedEdge, registerDocs } from './docs.ts';
import { errorBody, handleError } from './errors.ts';
import { registerMethodNotAllowed } from './method-not-allowed.ts';
import type { ServiceMetrics } from '../observability/service-metrics.ts';
import { HttpMetrics } from './request-metrics.ts';
import { affinityRoutes } from './routes/affinity.ts';
import { affinityGraphRoutes } from './routes/affinity-graph.ts';
import { placementRoutes } from './routes/placement.ts';
import { securityGroupRoutes } from './routes/security-groups.ts';
import { anomalyRoutes } from './routes/anomalies.ts';
import { assignmentRoutes } from './routes/assignments.ts';
import { clusterRoutes } from './routes/clusters.ts';
import { healthRoutes } from './routes/health.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { reclusterRoutes } from './routes/recluster.ts';
import { runRoutes } from './routes/runs.ts';
import { statsRoutes } from './routes/stats.ts';
import { tenantRoutes } from './routes/tenants.ts';
import { uiRoutes } from './routes/ui.ts';
import { vmProjectionRoutes } from './routes/vm-projection.ts';
import { vmRoutes } from './routes/vms.ts';

export interface AppOptions {
  metrics: ServiceMetrics;
  /** Pino request logging, at a level (LOG_LEVEL) or the default info; default false (tests, embedding). */
  logger?: boolean | { level: string };
  /** API keys, rate limit, CORS; absent: an open API (every request admin), no rate limit, no CORS. */
  security?: SecurityOptions;
}

/** The API reads no request body beyond a few bytes; a small limit bounds what a client can make us buffer. */
const BODY_LIMIT = 64 * 1024;

/** Fastify's trustProxy: a hop count becomes the function Fastify itself would make of it (its types omit numbers). */
function trustedProxies(trust: number | string[] | null): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (trust === null) return false;
  return typeof trust === 'number' ? (_address, hop) => hop < trust : trust;
}

export function buildApp(view: ServiceView, options: AppOptions): FastifyInstance {
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: BODY_LIMIT,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // The client address keys the anonymous rate limit: only configured proxies may name it.
    trustProxy: trustedProxies(options.security?.trustProxy ?? null),
    // Ids may be 128 characters, and percent-encoding can triple that; longer params are still a clean 400.
    routerOptions: { maxParamLength: 512 },
    // Errors raised before routing (a malformed percent-encoding) skip the error handler unless sent here.
    frameworkErrors: (error, request, reply) => {
      handleError(error, request, reply);
    },
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) => {
    // Echo the path so a typo is visible, but bounded: the URL is the client's, not ours.
    const path = (request.url.split('?')[0] ?? '').slice(0, 200);
    reply.code(404).send(errorBody('not_found', `no route ${request.method} ${path}`));
  });

  const { metrics } = options;
  const httpMetrics = new HttpMetrics(metrics.registry, metrics.prefix);
  app.addHook('onResponse', async (request, reply) => {
    // The route pattern, not the URL, keeps the label set bounded; unmatched requests share one label.
    const route = request.routeOptions.url ?? 'unmatched';
    httpMetrics.request(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
  });

  // Before the routes: the rate limiter, the docs and the 405 answer attach to each route as it is added.
  registerSecurity(app, options.security ?? { keys: [] });
  registerDocs(app, documentedEdge(options.security));
  registerMethodNotAllowed(app);
  app.register(healthRoutes, { view });
  app.register(metricsRoutes, { view, metrics });
  app.register(assignmentRoutes, { view });
  app.register(vmRoutes, { view });
  app.register(clusterRoutes, { view });
  app.register(tenantRoutes, { view });
  app.register(reclusterRoutes, { view });
  app.register(statsRoutes, { view });
  app.register(anomalyRoutes, { view });
  app.register(securityGroupRoutes, { view });
  app.register(affinityRoutes, { view });
  app.register(runRoutes, { view });
  app.register(placementRoutes, { view });
  // The dashboard (/ui) and the two views of the latest run that only it needs.
  app.register(vmProjectionRoutes, { view });
  app.register(affinityGraphRoutes, { view });
  app.register(uiRoutes);
  return app;
}
