/** The service's recent runs and what changed in each: GET /v1/runs, GET /v1/runs/{run_id}/changes. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { RunRecord, SideRecord } from '../../runs/history.ts';
import { countEvents, type SideChanges } from '../../runs/identity.ts';
import { scopeRunRecord, vmOwner } from '../auth/scoped-runs.ts';
import { ApiError } from '../errors.ts';
import { page } from '../paging.ts';
import { finiteOrNull } from '../run-index.ts';
import { RunChangesPage, RunChangesQuery, RunList, RunParams, type RunSummary } from '../schemas.ts';
import { errors, latestIndex, type RouteOptions, scoped } from './context.ts';

const isoOrNull = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

function side(s: SideRecord, changes: SideChanges): RunSummary['vms'] {
  const search = s.search;
  return {
    count: s.count,
    k: s.k,
    silhouette: finiteOrNull(s.silhouette),
    inertia: finiteOrNull(s.inertia),
    noise: s.noise,
    changes: countEvents(changes),
    search:
      search === undefined
        ? null
        : {
            searched: search.searched,
            reason: search.reason,
            runs_since_search: search.runsSinceSearch,
            reference_unexplained: finiteOrNull(search.referenceUnexplained),
            drift:
              search.drift === null
                ? null
                : {
                    unexplained: finiteOrNull(search.drift.unexplained),
                    moved: finiteOrNull(search.drift.moved),
                    new_rows: finiteOrNull(search.drift.newRows),
                    lost_clusters: search.drift.lostClusters,
                  },
          },
  };
}

function summary(r: RunRecord): RunSummary {
  return {
    run_id: r.runId,
    previous_run_id: r.changes.previousRunId,
    computed_at: isoOrNull(r.computedAt),
    duration_ms: Math.round(r.durationMs * 1000) / 1000,
    reason: r.reason,
    vms: side(r.vms, r.changes.vms),
    tenants: side(r.tenants, r.changes.tenants),
  };
}

export const runRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { view }) => {
  app.get(
    '/v1/runs',
    {
      config: scoped,
      schema: {
        tags: ['runs'],
        summary: 'Recent clustering runs, newest first: quality and counts of lifecycle events',
        response: { 200: RunList, 500: errors[500] },
      },
    },
    async (request) => {
      const scope = request.scope;
      // The admin's owner lookup: the unscoped latest index knows every VM's tenant.
      const ownerOf = vmOwner(view, latestIndex(view, { kind: 'admin' }));
      return { runs: view.runHistory().map((r) => summary(scopeRunRecord(r, scope, ownerOf))).reverse() };
    },
  );

  app.get(
    '/v1/runs/:run_id/changes',
    {
      config: scoped,
      schema: {
        tags: ['runs'],
        summary: 'What changed in a run: clusters born, died, split, merged, and a page of the entities that moved',
        params: RunParams,
        querystring: RunChangesQuery,
        response: { 200: RunChangesPage, 400: errors[400], 404: errors[404], 500: errors[500] },
      },
    },
    async (request) => {
      const { run_id } = request.params;
      const { side: which, limit, cursor } = request.query;
      const found = view.runHistory().find((r) => r.runId === run_id);
      if (found === undefined) throw new ApiError(404, 'unknown_run', `no run ${JSON.stringify(run_id)} in the service's recent history`);
      const record = scopeRunRecord(found, request.scope, vmOwner(view, latestIndex(view, { kind: 'admin' })));
      const changes = record.changes[which];
      const ids = changes.moved.map((m) => m.id);
      const p = page(ids, limit, cursor);
      const start = p.ids.length === 0 ? ids.length : ids.indexOf(p.ids[0]!);
      return {
        run_id: record.runId,
        previous_run_id: record.changes.previousRunId,
        computed_at: isoOrNull(record.computedAt),
        side: which,
        events: changes.events.map((e) => ({ type: e.type, cluster_id: e.clusterId, size: e.size, from: e.from, into: e.into })),
        moved_count: changes.moved.length,
        moved: changes.moved.slice(start, start + p.ids.length),
        next_cursor: p.nextCursor,
      };
    },
  );
};
