import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ServiceView } from '../../service/types.ts';
import { sees } from '../../access/scope.ts';
import { ApiError } from '../errors.ts';
import { page } from '../paging.ts';
import type { RunIndex } from '../run-index.ts';
import { TenantDetail, type TenantItem, TenantListQuery, TenantPage, TenantParams } from '../schemas.ts';
import { errors, latestIndex, type RouteOptions, requireRun, scoped } from './context.ts';

/** `view` gives each tenant's name from its attributes. */
export function tenantItems(index: RunIndex, ids: readonly string[], view: Pick<ServiceView, 'tenant'>): TenantItem[] {
  return ids.map((id) => ({
    tenant_id: id,
    name: view.tenant(id)?.name ?? null,
    cluster_id: index.tenants.clusterOf.get(id)!,
    vm_count: index.vmsOfTenant.get(id)?.length ?? 0,
  }));
}

export const tenantRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { view }) => {
  app.get(
    '/v1/tenants',
    {
      config: scoped,
      schema: {
        tags: ['tenants'],
        summary: 'A page of the latest run\'s tenants, sorted by id, optionally by cluster',
        querystring: TenantListQuery,
        response: { 200: TenantPage, 400: errors[400], 500: errors[500], 503: errors[503] },
      },
    },
    async (request) => {
      const q = request.query;
      const index = requireRun(view, request.scope);
      const ids = q.cluster_id === undefined ? index.tenants.sorted : (index.tenants.members.get(q.cluster_id) ?? []);
      const p = page(ids, q.limit, q.cursor);
      return { items: tenantItems(index, p.ids, view), next_cursor: p.nextCursor };
    },
  );

  app.get(
    '/v1/tenants/:tenant_id',
    {
      config: scoped,
      schema: {
        tags: ['tenants'],
        summary: 'One tenant: its cluster, attributes and VM count',
        params: TenantParams,
        response: { 200: TenantDetail, 400: errors[400], 404: errors[404], 500: errors[500] },
      },
    },
    async (request) => {
      const id = request.params.tenant_id;
      const notFound = new ApiError(404, 'unknown_tenant', `no tenant with id ${JSON.stringify(id)}`);
      // Another tenant's record answers as one that does not exist.
      if (!sees(request.scope, id)) throw notFound;
      const index = latestIndex(view, request.scope);
      const attributes = view.tenant(id);
      const clusterId = index?.tenants.clusterOf.get(id) ?? null;
      const vmCount = index?.vmsOfTenant.get(id)?.length ?? 0;
      if (attributes === null && clusterId === null && vmCount === 0) throw notFound;
      return {
        tenant_id: id,
        cluster_id: clusterId,
        name: attributes?.name ?? null,
        tier: attributes?.tier ?? null,
        labels: attributes?.labels ?? null,
        deleted: attributes?.deleted ?? false,
        vm_count: vmCount,
      };
    },
  );
};
