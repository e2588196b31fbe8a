import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { AFFINITY_GROUP_PREFIX } from '../../contract/ids.ts';
import { ApiError } from '../errors.ts';
import { decodeCursor, encodeCursor, page } from '../paging.ts';
import type { AffinityIndex } from '../run-index.ts';
import { AffinityGroupList, AffinityGroupPage, AffinityGroupParams, PageQuery } from '../schemas.ts';
import { errors, type RouteOptions, requireRun, scoped } from './context.ts';
import { vmItems } from './vms.ts';

function requireAffinity(affinity: AffinityIndex | null): AffinityIndex {
  if (affinity === null) throw new ApiError(404, 'no_affinity', 'the latest run has no affinity groups (it was not computed from traffic)');
  return affinity;
}

const groupNumber = (id: string): number => (id.startsWith(AFFINITY_GROUP_PREFIX) ? Number(id.slice(AFFINITY_GROUP_PREFIX.length)) : Number.NaN);

/**
 * Groups are listed by number (by size), not by id string: the cursor is the last group id, as issued. A
 * tenant's list skips the groups without its VMs, so the page starts at the first group numbered after it.
 * A well-formed cursor that names no group id is past every group: an empty last page, as a keyset cursor
 * past the last id gives elsewhere.
 */
function groupStart(cursor: string | undefined, groups: AffinityIndex['groups']): number {
  if (cursor === undefined) return 0;
  const n = groupNumber(decodeCursor(cursor));
  if (!Number.isSafeInteger(n) || n < 0) return groups.length;
  const start = groups.findIndex((g) => groupNumber(g.group_id) > n);
  return start < 0 ? groups.length : start;
}

export const affinityRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { view }) => {
  app.get(
    '/v1/affinity-groups',
    {
      config: scoped,
      schema: {
        tags: ['affinity'],
        summary: 'Traffic affinity groups of the latest run (VMs that talk to each other most), largest first',
        querystring: PageQuery,
        response: { 200: AffinityGroupList, 400: errors[400], 404: errors[404], 500: errors[500], 503: errors[503] },
      },
    },
    async (request) => {
      const index = requireRun(view, request.scope);
      const affinity = requireAffinity(index.affinity);
      const start = groupStart(request.query.cursor, affinity.groups);
      const groups = affinity.groups.slice(start, start + request.query.limit);
      const more = start + groups.length < affinity.groups.length;
      return {
        run_id: index.runId,
        computed_at: index.computedAt,
        group_count: affinity.groups.length,
        modularity: Number.isFinite(affinity.modularity) ? affinity.modularity : 0,
        edges: affinity.edges,
        groups,
        next_cursor: more && groups.length > 0 ? encodeCursor(groups[groups.length - 1]!.group_id) : null,
      };
    },
  );

  app.get(
    '/v1/affinity-groups/:group_id',
    {
      config: scoped,
      schema: {
        tags: ['affinity'],
        summary: 'One affinity group and a page of its members, sorted by VM id',
        params: AffinityGroupParams,
        querystring: PageQuery,
        response: { 200: AffinityGroupPage, 400: errors[400], 404: errors[404], 500: errors[500], 503: errors[503] },
      },
    },
    async (request) => {
      const index = requireRun(view, request.scope);
      const affinity = requireAffinity(index.affinity);
      const id = request.params.group_id;
      const members = affinity.members.get(id);
      if (members === undefined) throw new ApiError(404, 'unknown_group', `the latest run has no affinity group ${JSON.stringify(id)}`);
      const p = page(members, request.query.limit, request.query.cursor);
      return {
        run_id: index.runId,
        computed_at: index.computedAt,
        group_id: id,
        size: members.length,
        members: vmItems(index, p.ids),
        next_cursor: p.nextCursor,
      };
    },
  );
};
