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
        summary: 'Readiness: inputs connected and a first clustering run completed (a loaded model\'s provisional placement does not count)',
        response: { 200: Readiness, 503: Readiness },
      },
    },
    async (_request, reply) => {
      const missing: Readiness['missing'] = [];
      const reasons: string[] = [];
      if (!view.inputsReady()) {
        missing.push('inputs');
        const why = view.inputsNotReady?.() ?? null;
        reasons.push(why === null ? 'the inputs are not connected: the Kafka consumer has not joined its group (or the embedded trace is still loading)' : `the inputs are not ready: ${why}`);
      }
      const held = view.inputsHeld?.() ?? null;
      if (held !== null) {
        missing.push('dead_letters');
        reasons.push(held);
      }
      if (!view.firstRunCompleted()) {
        missing.push('first_run');
        const inProgress = view.runInProgress();
        const serving = view.latestRun();
        reasons.push(
          'no clustering run has completed yet' +
            (serving === null ? '' : `; serving the loaded model's provisional placement (${serving.runId}) until then`) +
            (inProgress === null ? '' : `; ${inProgress.runId} is in progress`),
        );
      }
      const ready = missing.length === 0;
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', missing, reasons });
    },
  );
};
