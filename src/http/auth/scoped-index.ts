/**
 * A run's index as a tenant key sees it: the tenant's own VMs, its own tenant record, and every cluster
 * and affinity group reduced to those (a cluster's size is the count of its VMs there). Every route reads
 * the run through this one reduction, before filtering and paging, so that lists, counts and cursors are
 * computed over the tenant's records only and cannot reveal anyone else's.
 *
 * What stays fleet-wide are the run's aggregate figures, which name no VM or tenant: the algorithm and its
 * parameters, quality (k, silhouette, inertia, noise), a cluster's distinguishing means, the affinity
 * partition's modularity and edge count.
 */
import type { AffinityIndex, RunIndex, SideIndex } from '../run-index.ts';
import type { AccessScope } from '../../access/scope.ts';

/** Per run index, per tenant: built on a tenant's first request after a run, dropped with the run. */
const cache = new WeakMap<RunIndex, Map<string, RunIndex>>();

export function scopeIndex(index: RunIndex, scope: AccessScope): RunIndex {
  if (scope.kind === 'admin') return index;
  let perTenant = cache.get(index);
  if (perTenant === undefined) {
    perTenant = new Map();
    cache.set(index, perTenant);
  }
  let scoped = perTenant.get(scope.tenantId);
  if (scoped === undefined) {
    scoped = tenantIndex(index, scope.tenantId);
    perTenant.set(scope.tenantId, scoped);
  }
  return scoped;
}

/** A side restricted to `ids` (sorted), with each cluster described by its members among them. */
function reduceSide(side: SideIndex, ids: readonly string[]): SideIndex {
  const clusterOf = new Map<string, string>();
  const members = new Map<string, string[]>();
  for (const id of ids) {
    const clusterId = side.clusterOf.get(id)!;
    clusterOf.set(id, clusterId);
    const list = members.get(clusterId);
    if (list === undefined) members.set(clusterId, [id]);
    else list.push(id);
  }
  const clusters = new Map(
    [...members].map(([clusterId, list]) => [clusterId, { ...side.clusters.get(clusterId)!, size: list.length }] as const),
  );
  return {
    summary: { ...side.summary, clusters: side.summary.clusters.filter((c) => clusters.has(c.cluster_id)).map((c) => clusters.get(c.cluster_id)!) },
    // fromEntries defines own properties: an id such as "__proto__" stays a plain key.
    assignments: Object.fromEntries(ids.map((id) => [id, clusterOf.get(id)!])),
    sorted: [...ids],
    clusterOf,
    members,
    clusters,
  };
}

function reduceAffinity(affinity: AffinityIndex, owns: (vmId: string) => boolean): AffinityIndex {
  const members = new Map<string, string[]>();
  for (const [groupId, list] of affinity.members) {
    const own = list.filter(owns);
    if (own.length > 0) members.set(groupId, own);
  }
  return {
    groups: affinity.groups.filter((g) => members.has(g.group_id)).map((g) => ({ group_id: g.group_id, size: members.get(g.group_id)!.length })),
    members,
    modularity: affinity.modularity,
    edges: affinity.edges,
  };
}

function tenantIndex(index: RunIndex, tenantId: string): RunIndex {
  const vmIds = index.vmsOfTenant.get(tenantId) ?? [];
  const tenantOfVm = new Map<string, string | null>(vmIds.map((id) => [id, tenantId]));
  const vmRow = new Map(vmIds.map((id) => [id, index.vmRow.get(id)!]));
  const ownRows = new Set(vmRow.values());
  return {
    runId: index.runId,
    computedAt: index.computedAt,
    vms: reduceSide(index.vms, vmIds),
    tenants: reduceSide(index.tenants, index.tenants.clusterOf.has(tenantId) ? [tenantId] : []),
    tenantOfVm,
    vmsOfTenant: new Map(vmIds.length === 0 ? [] : [[tenantId, [...vmIds]]]),
    vmRow,
    affinity: index.affinity === null ? null : reduceAffinity(index.affinity, (id) => tenantOfVm.has(id)),
    anomalyOrder: index.anomalyOrder.filter((row) => ownRows.has(row)),
  };
}
