/** GET /v1/vm-projection: the latest run's VMs in two dimensions, for the dashboard's scatter. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ClusteringRun } from '../../runs/clustering-run.ts';
import { VmProjection, VmProjectionQuery } from '../dashboard-schemas.ts';
import { errors, type RouteOptions, requireRunAndIndex, scoped } from './context.ts';

/** FNV-1a over UTF-16 code units: a fixed, cheap hash, so a sample depends on the ids alone. */
export function idHash(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const ROWS_PER_HASH = 2 ** 21;
const orders = new WeakMap<ClusteringRun, Int32Array>();

/**
 * The run's VM rows by ascending id hash (ties by row). Taking a prefix of this order samples the fleet
 * evenly and keeps a VM in or out of the sample for as long as it exists, so a picture does not reshuffle
 * itself when a run lands.
 */
function sampleOrder(run: ClusteringRun): Int32Array {
  const cached = orders.get(run);
  if (cached !== undefined) return cached;
  // Hash and row packed in one double (32 + 21 bits: exact for up to 2M VMs) and sorted natively: a comparator
  // function over 100k rows would hold the event loop for a fifth of a second.
  const keys = Float64Array.from(run.vms.ids, (id, row) => idHash(id) * ROWS_PER_HASH + row);
  keys.sort();
  const order = Int32Array.from(keys, (k) => k % ROWS_PER_HASH);
  orders.set(run, order);
  return order;
}

/** 4 significant digits: the scatter cannot show more, and it shortens the response by half. */
const short = (v: number): number => (Number.isFinite(v) ? Number(v.toPrecision(4)) : 0);

export const vmProjectionRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { view }) => {
  app.get(
    '/v1/vm-projection',
    {
      config: scoped,
      schema: {
        tags: ['clusters'],
        summary: 'The latest run\'s VMs on their first two principal components (parallel arrays, sampled above limit)',
        querystring: VmProjectionQuery,
        response: { 200: VmProjection, 400: errors[400], 500: errors[500], 503: errors[503] },
      },
    },
    async (request) => {
      // A tenant key's index holds only its VMs: they are the only ones drawn or counted.
      const { run, index } = requireRunAndIndex(view, request.scope);
      const visible = index.vmRow;
      const { limit, tenant_id: tenantId, cluster_id: clusterId } = request.query;
      const projection = run.vmProjection;
      const out: VmProjection = {
        run_id: index.runId,
        computed_at: index.computedAt,
        explained: projection === undefined ? [0, 0] : projection.explained.map(short),
        total: 0,
        sampled: false,
        vm_id: [],
        cluster_id: [],
        x: [],
        y: [],
      };
      for (const row of sampleOrder(run)) {
        if (!visible.has(run.vms.ids[row]!)) continue;
        if (tenantId !== undefined && run.vmTenants[row] !== tenantId) continue;
        if (clusterId !== undefined && run.vms.clusterIds[row] !== clusterId) continue;
        out.total++;
        // A run restored from a saved model has no projection: its VMs are counted but not placed.
        if (projection === undefined || out.vm_id.length >= limit) continue;
        out.vm_id.push(run.vms.ids[row]!);
        out.cluster_id.push(run.vms.clusterIds[row]!);
        out.x.push(short(projection.x[row]!));
        out.y.push(short(projection.y[row]!));
      }
      out.sampled = projection !== undefined && out.total > out.vm_id.length;
      return out;
    },
  );
};
