import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { SecurityGroupsDocument } from '../../security-groups/types.ts';
import { noRun } from '../errors.ts';
import { SecurityGroupsQuery, SecurityGroupsResponse } from '../security-groups-schemas.ts';
import { errors, type RouteOptions, scoped } from './context.ts';

export const securityGroupRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { view }) => {
  app.get(
    '/v1/security-groups',
    {
      config: scoped,
      schema: {
        tags: ['security-groups'],
        summary: 'Security groups recommended per tenant and VM cluster, learned from the traffic before the latest window and checked against it',
        querystring: SecurityGroupsQuery,
        response: { 200: SecurityGroupsResponse, 400: errors[400], 500: errors[500], 503: errors[503] },
      },
    },
    async (request) => {
      const doc = (await view.securityGroups?.()) ?? null;
      if (doc === null) throw noRun();
      const scope = request.scope;
      const filter = request.query.tenant_id ?? request.query.project_id;
      // A tenant key sees its own tenant whatever it asks for; another tenant's filter gives an empty list.
      const only = scope.kind === 'tenant' ? scope.tenantId : filter;
      if (only === undefined) return doc;
      if (scope.kind === 'tenant' && filter !== undefined && filter !== scope.tenantId) return scopedTo(doc, null);
      return scopedTo(doc, only);
    },
  );
};

/** The document as the API serves it: without the fleet-wide summary when reduced to one tenant. */
type ServedDocument = Omit<SecurityGroupsDocument, 'summary'> & { summary: SecurityGroupsDocument['summary'] | null };

/** The document reduced to one tenant (null: none): no fleet-wide figures, no other tenant's VMs. */
function scopedTo(doc: SecurityGroupsDocument, tenantId: string | null): ServedDocument {
  const tenants = doc.tenants.filter((t) => t.tenant_id === tenantId);
  const own = new Set(tenants.flatMap((t) => t.security_groups.flatMap((g) => g.vm_ids)));
  return {
    ...doc,
    anomalous_vms: doc.anomalous_vms.filter((v) => own.has(v)),
    vms_without_tenant: [],
    summary: null,
    tenants,
  };
}
