import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { describePlacement } from '../../placement/advice.ts';
import type { PlacementAdvice } from '../../placement/types.ts';
import type { ClusteringRun } from '../../runs/clustering-run.ts';
import { ApiError } from '../errors.ts';
import { PlacementResponse } from '../placement-schemas.ts';
import { errors, type RouteOptions, requireRun, scoped } from './context.ts';

/** The fleet's advice is the same for every admin request on a run: described once. */
const fleetAdvice = new WeakMap<ClusteringRun, PlacementAdvice>();

export const placementRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { view }) => {
  app.get(
    '/v1/placement',
    {
      config: scoped,
      schema: {
        tags: ['placement'],
        summary: 'Placement advice of the latest run: which VMs to move so that chatty VMs share a host, within capacity',
        description:
          'An admin key gets the whole fleet; a tenant key gets the moves of its own VMs (the same plan, computed for the whole fleet) and the cross-host traffic of pairs touching them. See docs/placement.md.',
        response: { 200: PlacementResponse, 404: errors[404], 500: errors[500], 503: errors[503] },
      },
    },
    async (request) => {
      const index = requireRun(view, request.scope);
      const run = view.latestRun()!;
      const placement = run.placement;
      if (placement === undefined) throw new ApiError(404, 'no_placement', 'the latest run has no placement advice (it was not computed from traffic)');
      let advice: PlacementAdvice;
      if (request.scope.kind === 'admin') {
        advice = fleetAdvice.get(run) ?? describePlacement(placement.plan, placement.input);
        fleetAdvice.set(run, advice);
      } else advice = describePlacement(placement.plan, placement.input, request.scope.tenantId);
      return { run_id: index.runId, computed_at: index.computedAt, ...advice };
    },
  );
};
