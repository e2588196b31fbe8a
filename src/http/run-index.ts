/**
 * What the routes need from one clustering run, computed once per run and shared by every request: the
 * contract's assignment maps and cluster descriptions (from runs/result.ts), and id-sorted member lists for
 * paging and filters. Runs are immutable, so the index is cached by identity and dropped with the run.
 */
import { affinityGroupId } from '../contract/ids.ts';
import { type ClusteringRun, clusterIdOf } from '../runs/clustering-run.ts';
import { inSlices, runToEnd } from '../core/slices.ts';
import { resultAssignments, type SideSummary } from '../runs/result.ts';
import { compareIds } from './paging.ts';
import type { ClusterDescription, ClusterList } from './schemas.ts';

/** A side's run summary as the API sends it. */
export type SideWire = Omit<ClusterList, 'run_id' | 'computed_at'>;

export interface SideIndex {
  /** As in the replay result, with values JSON cannot carry (NaN, Infinity) made null. */
  summary: SideWire;
  assignments: Record<string, string>;
  /** Every id of the side, sorted. */
  sorted: string[];
  clusterOf: Map<string, string>;
  /** Sorted member ids of each cluster id present in the run (noise included). */
  members: Map<string, string[]>;
  /** Description of each cluster id present; noise has no summary, so it is described by its size only. */
  clusters: Map<string, ClusterDescription>;
}

/** What a run says of one VM beyond its cluster; null fields when the run did not compute them. */
export interface VmInsight {
  distance: number | null;
  nextClusterId: string | null;
  confidence: number | null;
  anomalyScore: number | null;
  affinityGroup: string | null;
}

export interface AffinityIndex {
  /** Largest first: index i holds group g-i. */
  groups: Array<{ group_id: string; size: number }>;
  /** Sorted member ids of each group id. */
  members: Map<string, string[]>;
  modularity: number;
  edges: number;
}

export interface RunIndex {
  runId: string;
  computedAt: string | null;
  vms: SideIndex;
  tenants: SideIndex;
  tenantOfVm: Map<string, string | null>;
  /** Sorted ids of each tenant's VMs in the run. */
  vmsOfTenant: Map<string, string[]>;
  /** Row of each VM in the run's arrays. */
  vmRow: Map<string, number>;
  affinity: AffinityIndex | null;
  /** Rows of the run's VMs, most anomalous first; empty when the run scored none. */
  anomalyOrder: readonly number[];
}

const cache = new WeakMap<ClusteringRun, RunIndex>();

function pushTo(map: Map<string, string[]>, key: string, value: string): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

/** JSON has no NaN or Infinity; the schema would reject them and fail the whole response, so they become null. */
export const finiteOrNull = (x: number | null): number | null => (x !== null && Number.isFinite(x) ? x : null);

function finiteDescription(c: SideSummary['clusters'][number]): ClusterDescription {
  return {
    cluster_id: c.cluster_id,
    size: c.size,
    ...(c.name === undefined ? {} : { name: c.name }),
    distinguishing: c.distinguishing.map((d) => ({ feature: d.feature, value: finiteOrNull(d.value), overall: finiteOrNull(d.overall), z: finiteOrNull(d.z) })),
  };
}

/** Drops parameters that are absent and spells non-finite numbers out, rather than failing the response. */
function wireParameters(parameters: SideSummary['parameters']): SideSummary['parameters'] {
  const out: SideSummary['parameters'] = {};
  for (const [key, value] of Object.entries(parameters)) {
    if (value === undefined || value === null) continue;
    out[key] = typeof value === 'number' && !Number.isFinite(value) ? String(value) : value;
  }
  return out;
}

function wireSummary(s: SideSummary): SideWire {
  return {
    algorithm: s.algorithm,
    parameters: wireParameters(s.parameters),
    quality: { k: s.quality.k, silhouette: finiteOrNull(s.quality.silhouette), inertia: finiteOrNull(s.quality.inertia), noise: s.quality.noise },
    clusters: s.clusters.map(finiteDescription),
  };
}

function indexSide(ids: readonly string[], clusterIds: readonly string[], summary: SideSummary, assignments: Record<string, string>): SideIndex {
  const sorted = [...ids].sort(compareIds);
  const clusterOf = new Map<string, string>();
  ids.forEach((id, i) => {
    clusterOf.set(id, clusterIds[i]!);
  });
  const members = new Map<string, string[]>();
  for (const id of sorted) pushTo(members, clusterOf.get(id)!, id);
  const wire = wireSummary(summary);
  const clusters = new Map<string, ClusterDescription>(wire.clusters.map((c) => [c.cluster_id, c]));
  for (const [clusterId, list] of members) {
    if (!clusters.has(clusterId)) clusters.set(clusterId, { cluster_id: clusterId, size: list.length, distinguishing: [] });
  }
  return { summary: wire, assignments, sorted, clusterOf, members, clusters };
}

export function runIndex(run: ClusteringRun): RunIndex {
  const cached = cache.get(run);
  if (cached !== undefined) return cached;
  const index = runToEnd(runIndexSteps(run));
  cache.set(run, index);
  return index;
}

/**
 * Builds a run's index in slices, before the run is served: the first request after a new run otherwise
 * built it at once (tens of milliseconds at 10k VMs), holding every request behind it.
 */
export async function prepareRunIndex(run: ClusteringRun): Promise<void> {
  if (cache.has(run)) return;
  const index = await inSlices(runIndexSteps(run), RUN_INDEX_SLICE_MS);
  if (!cache.has(run)) cache.set(run, index);
}

const RUN_INDEX_SLICE_MS = 4;

/** The index as steps: each side, each map, one step (a sort of the ids at most). */
export function* runIndexSteps(run: ClusteringRun): Generator<void, RunIndex, void> {
  const doc = resultAssignments(run);
  yield;
  const vms = indexSide(run.vms.ids, run.vms.clusterIds, doc.run.vms, doc.vm_clusters);
  yield;
  const tenants = indexSide(run.tenants.ids, run.tenants.clusterIds, doc.run.tenants, doc.tenant_clusters);
  yield;
  const tenantOfVm = new Map<string, string | null>();
  run.vms.ids.forEach((id, i) => {
    tenantOfVm.set(id, run.vmTenants[i] ?? null);
  });
  const vmsOfTenant = new Map<string, string[]>();
  for (const id of vms.sorted) {
    const tenant = tenantOfVm.get(id);
    if (tenant != null) pushTo(vmsOfTenant, tenant, id);
  }
  yield;
  const vmRow = new Map<string, number>();
  run.vms.ids.forEach((id, i) => {
    vmRow.set(id, i);
  });
  yield;
  return {
    runId: run.runId,
    computedAt: doc.run.computed_at,
    vms,
    tenants,
    tenantOfVm,
    vmsOfTenant,
    vmRow,
    affinity: indexAffinity(run, vms.sorted, vmRow),
    anomalyOrder: run.vmAnomalies === undefined ? [] : Array.from(run.vmAnomalies.order),
  };
}

function indexAffinity(run: ClusteringRun, sorted: readonly string[], vmRow: Map<string, number>): AffinityIndex | null {
  const a = run.affinity;
  if (a === undefined) return null;
  const members = new Map<string, string[]>();
  for (const id of sorted) pushTo(members, affinityGroupId(a.group[vmRow.get(id)!]!), id);
  return { groups: a.sizes.map((size, g) => ({ group_id: affinityGroupId(g), size })), members, modularity: a.modularity, edges: a.edges };
}

const rounded = (x: number | undefined): number | null => (x !== undefined && Number.isFinite(x) ? Number(x.toPrecision(4)) : null);

/** The run's explanation, anomaly score and affinity group of one VM; null when the VM is not in the run. */
export function vmInsight(run: ClusteringRun, index: RunIndex, vmId: string): VmInsight | null {
  const row = index.vmRow.get(vmId);
  if (row === undefined) return null;
  const ex = run.vmExplanations;
  const next = ex?.nextLabel[row];
  const group = run.affinity?.group[row];
  return {
    distance: rounded(ex?.distance[row]),
    nextClusterId: next === undefined || next < 0 ? null : clusterIdOf(run.vms, next),
    confidence: rounded(ex?.confidence[row]),
    anomalyScore: rounded(run.vmAnomalies?.score[row]),
    affinityGroup: group === undefined ? null : affinityGroupId(group),
  };
}

export interface FeatureMeans {
  cluster: Record<string, number | null> | null;
  fleet: Record<string, number | null> | null;
}

/**
 * Every VM feature's mean over one cluster of the run and over all its VMs, by name: fleet-wide aggregate
 * figures like a cluster's distinguishing means. Null where the run does not hold them for every feature.
 */
export function featureMeans(run: ClusteringRun, clusterId: string | null): FeatureMeans {
  const names = run.vms.features.names;
  const byName = (values: readonly number[] | undefined): Record<string, number | null> | null =>
    values === undefined || values.length !== names.length ? null : Object.fromEntries(names.map((name, j) => [name, finiteOrNull(values[j]!)]));
  const label = clusterId === null ? -1 : run.vms.labelIds.indexOf(clusterId);
  const outcome = run.vms.outcome;
  return { cluster: byName(label >= 0 ? outcome.clusters[label]?.centroid : undefined), fleet: byName(outcome.model.means) };
}
