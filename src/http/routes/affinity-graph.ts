/**
 * GET /v1/affinity-graph: the window's VM-to-VM traffic among a few VMs (one VM and its heaviest peers, or
 * the most connected members of an affinity group), for the dashboard to draw. The groups themselves are
 * served by /v1/affinity-groups; this adds the edges they were found from.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { AFFINITY_GROUP_PREFIX, affinityGroupId } from '../../contract/ids.ts';
import type { ClusteringRun } from '../../runs/clustering-run.ts';
import type { VmPairs } from '../../runs/run-input.ts';
import { AffinityGraph, AffinityGraphQuery } from '../dashboard-schemas.ts';
import { ApiError } from '../errors.ts';
import { errors, type RouteOptions, requireRunAndIndex, scoped } from './context.ts';

/** Compressed adjacency of the traffic graph: the peers of row r are peers[start[r]..start[r+1]). */
interface Adjacency {
  start: Int32Array;
  peers: Int32Array;
  bytes: Float64Array;
}

const adjacencies = new WeakMap<ClusteringRun, Adjacency>();

function adjacencyOf(rows: number, pairs: VmPairs): Adjacency {
  const start = new Int32Array(rows + 1);
  for (let e = 0; e < pairs.a.length; e++) {
    start[pairs.a[e]! + 1]!++;
    start[pairs.b[e]! + 1]!++;
  }
  for (let r = 0; r < rows; r++) start[r + 1] = start[r + 1]! + start[r]!;
  const fill = start.slice(0, rows);
  const peers = new Int32Array(start[rows]!);
  const bytes = new Float64Array(start[rows]!);
  for (let e = 0; e < pairs.a.length; e++) {
    const a = pairs.a[e]!;
    const b = pairs.b[e]!;
    peers[fill[a]!] = b;
    bytes[fill[a]!++] = pairs.bytes[e]!;
    peers[fill[b]!] = a;
    bytes[fill[b]!++] = pairs.bytes[e]!;
  }
  return { start, peers, bytes };
}

function adjacencyFor(run: ClusteringRun): Adjacency | null {
  if (run.vmPairs === undefined) return null;
  let adjacency = adjacencies.get(run);
  if (adjacency === undefined) {
    adjacency = adjacencyOf(run.vms.ids.length, run.vmPairs);
    adjacencies.set(run, adjacency);
  }
  return adjacency;
}

/** The VM and its heaviest visible peers, heaviest first (ties by row). */
function egoNodes(adjacency: Adjacency, row: number, limit: number, visible: (row: number) => boolean): { rows: number[]; total: number } {
  const order: number[] = [];
  for (let i = adjacency.start[row]!; i < adjacency.start[row + 1]!; i++) if (visible(adjacency.peers[i]!)) order.push(i);
  order.sort(
    (p, q) => adjacency.bytes[q]! - adjacency.bytes[p]! || adjacency.peers[p]! - adjacency.peers[q]!,
  );
  return { rows: [row, ...order.slice(0, limit - 1).map((i) => adjacency.peers[i]!)], total: 1 + order.length };
}

/** The group's visible members with the most traffic inside the group first (ties by row). */
function groupNodes(adjacency: Adjacency, group: Int32Array, g: number, limit: number, visible: (row: number) => boolean): { rows: number[]; total: number } {
  const members: number[] = [];
  const inside = new Map<number, number>();
  group.forEach((gr, row) => {
    if (gr !== g || !visible(row)) return;
    members.push(row);
    let sum = 0;
    for (let i = adjacency.start[row]!; i < adjacency.start[row + 1]!; i++) {
      const peer = adjacency.peers[i]!;
      if (group[peer] === g && visible(peer)) sum += adjacency.bytes[i]!;
    }
    inside.set(row, sum);
  });
  members.sort((p, q) => inside.get(q)! - inside.get(p)! || p - q);
  return { rows: members.slice(0, limit), total: members.length };
}

export const affinityGraphRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { view }) => {
  app.get(
    '/v1/affinity-graph',
    {
      config: {
        ...scoped,
        exclusiveQuery: {
          name: 'focus',
          keys: ['vm_id', 'group_id'],
          description: 'Exactly one of vm_id and group_id, each its own query parameter (`?vm_id=...` or `?group_id=...`); neither or both is a 400',
        },
      },
      schema: {
        tags: ['affinity'],
        summary: 'The traffic graph around one VM or inside one affinity group of the latest run, for drawing',
        querystring: AffinityGraphQuery,
        response: { 200: AffinityGraph, 400: errors[400], 404: errors[404], 500: errors[500], 503: errors[503] },
      },
    },
    async (request) => {
      // A tenant key's index holds only its VMs and groups: nodes, peers and edges are drawn from those.
      const { run, index } = requireRunAndIndex(view, request.scope);
      const visibleRows = new Set(index.vmRow.values());
      const visible = (row: number): boolean => visibleRows.has(row);
      const adjacency = adjacencyFor(run);
      const groups = run.affinity?.group;
      if (adjacency === null || groups === undefined) throw new ApiError(404, 'no_affinity', 'the latest run has no traffic graph (it was not computed from traffic)');
      const { vm_id: vmId, group_id: groupId, limit } = request.query;

      let chosen: { rows: number[]; total: number };
      if (vmId !== undefined) {
        const row = index.vmRow.get(vmId);
        if (row === undefined) throw new ApiError(404, 'unknown_vm', `no VM ${JSON.stringify(vmId)} in the latest run`);
        chosen = egoNodes(adjacency, row, limit, visible);
      } else {
        // The (scoped) index lists the groups this key may see; the id carries the group's number.
        if (groupId === undefined || index.affinity?.members.has(groupId) !== true) {
          throw new ApiError(404, 'unknown_group', `the latest run has no affinity group ${JSON.stringify(groupId)}`);
        }
        const g = Number(groupId.slice(AFFINITY_GROUP_PREFIX.length));
        chosen = groupNodes(adjacency, groups, g, limit, visible);
      }

      const picked = new Set(chosen.rows);
      const edges: AffinityGraph['edges'] = [];
      for (const row of [...picked].sort((p, q) => p - q)) {
        for (let i = adjacency.start[row]!; i < adjacency.start[row + 1]!; i++) {
          const peer = adjacency.peers[i]!;
          if (peer > row && picked.has(peer)) edges.push({ source: run.vms.ids[row]!, target: run.vms.ids[peer]!, bytes: adjacency.bytes[i]! });
        }
      }
      return {
        run_id: index.runId,
        computed_at: index.computedAt,
        focus: { vm_id: vmId ?? null, group_id: groupId ?? null },
        total_nodes: chosen.total,
        nodes: chosen.rows.map((row) => ({
          vm_id: run.vms.ids[row]!,
          cluster_id: run.vms.clusterIds[row]!,
          group_id: affinityGroupId(groups[row]!),
          tenant_id: run.vmTenants[row] ?? null,
        })),
        edges,
      };
    },
  );
};
