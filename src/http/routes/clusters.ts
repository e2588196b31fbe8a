import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ApiError } from '../errors.ts';
import { page } from '../paging.ts';
import type { RunIndex, SideIndex } from '../run-index.ts';
import { ClusterList, ClusterParams, PageQuery, TenantClusterPage, VmClusterPage } from '../schemas.ts';
import { errors, type RouteOptions, requireRun, scoped } from './context.ts';
import { tenantItems } from './tenants.ts';
import { vmItems } from './vms.ts';

function clusterList(index: RunIndex, side: SideIndex): ClusterList {
  const s = side.summary;
  return {
    run_id: index.runId,
    computed_at: index.computedAt,
    algorithm: s.algorithm,
    parameters: s.parameters,
    quality: s.quality,
    clusters: s.clusters,
  };
}

/** One cluster of a side with a page of its members, shaped by `items` (VM or tenant items). */
function clusterPage<T>(
  index: RunIndex,
  side: SideIndex,
  clusterId: string,
  query: { limit: number; cursor?: string | undefined },
  items: (index: RunIndex, ids: string[]) => T[],
) {
  const description = side.clusters.get(clusterId);
  if (description === undefined) throw new ApiError(404, 'unknown_cluster', `the latest run has no cluster ${JSON.stringify(clusterId)}`);
  const p = page(side.members.get(clusterId) ?? [], query.limit, query.cursor);
  return {
    run_id: index.runId,
    computed_at: index.computedAt,
    ...description,
    members: items(index, p.ids),
    next_cursor: p.nextCursor,
  };
}

export const clusterRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { view }) => {
  const listResponses = { 200: ClusterList, 500: errors[500], 503: errors[503] };

  app.get(
    '/v1/clusters/vms',
    { config: scoped, schema: { tags: ['clusters'], summary: 'The latest run\'s VM clusters and how they were found', response: listResponses } },
    async (request) => {
      const index = requireRun(view, request.scope);
      return clusterList(index, index.vms);
    },
  );

  app.get(
    '/v1/clusters/tenants',
    { config: scoped, schema: { tags: ['clusters'], summary: 'The latest run\'s tenant clusters and how they were found', response: listResponses } },
    async (request) => {
      const index = requireRun(view, request.scope);
      return clusterList(index, index.tenants);
    },
  );

  app.get(
    '/v1/clusters/vms/:cluster_id',
    {
      config: scoped,
      schema: {
        tags: ['clusters'],
        summary: 'One VM cluster and a page of its members, sorted by VM id',
        params: ClusterParams,
        querystring: PageQuery,
        response: { 200: VmClusterPage, 400: errors[400], 404: errors[404], 500: errors[500], 503: errors[503] },
      },
    },
    async (request) => {
      const index = requireRun(view, request.scope);
      return clusterPage(index, index.vms, request.params.cluster_id, request.query, vmItems);
    },
  );

  app.get(
    '/v1/clusters/tenants/:cluster_id',
    {
      config: scoped,
      schema: {
        tags: ['clusters'],
        summary: 'One tenant cluster and a page of its members, sorted by tenant id',
        params: ClusterParams,
        querystring: PageQuery,
        response: { 200: TenantClusterPage, 400: errors[400], 404: errors[404], 500: errors[500], 503: errors[503] },
      },
    },
    async (request) => {
      const index = requireRun(view, request.scope);
      return clusterPage(index, index.tenants, request.params.cluster_id, request.query, (i, ids) => tenantItems(i, ids, view));
    },
  );
};
