/**
 * The result document of CONTRACT.md ("Outputs / Replay"), built from a clustering run. The same run gives
 * the same document: nothing in it depends on wall-clock time.
 */
import type { ClusteringOutcome } from '../clustering/types.ts';
import type { RejectionSummary } from '../contract/rejections.ts';
import { describePlacement } from '../placement/advice.ts';
import type { PlacementAdvice } from '../placement/types.ts';
import type { SecurityGroupsDocument } from '../security-groups/types.ts';
import { affinityGroupId } from '../contract/ids.ts';
import { type ClusteringRun, clusterIdOf, type Side } from './clustering-run.ts';

/** A cluster as the result file describes it (the API's ClusterDescription is its wire form in http/). */
export interface ResultCluster {
  cluster_id: string;
  size: number;
  /** A name suggested by the cluster's dominant traits (explain.ts); not an id. */
  name?: string;
  distinguishing: Array<{ feature: string; value: number; overall: number; z: number }>;
}

export interface SideSummary {
  algorithm: string;
  parameters: Record<string, number | string | boolean>;
  quality: { k: number; silhouette: number | null; inertia: number | null; noise: number };
  clusters: ResultCluster[];
}

export interface ReplayResult {
  vm_clusters: Record<string, string>;
  tenant_clusters: Record<string, string>;
  /** Every VM of the run, most anomalous first (anomalies.ts); ties by id. */
  anomalies: Array<{ vm_id: string; score: number }>;
  /** Traffic affinity group of every VM of the run (affinity.ts). */
  affinity_groups: Record<string, string>;
  /** Placement advice for the whole fleet (docs/placement.md); null without a run or VM hosts. */
  placement: PlacementAdvice | null;
  rejected: RejectionSummary;
  run: {
    run_id: string;
    computed_at: string | null;
    window_minutes: number;
    vms: SideSummary;
    tenants: SideSummary;
  } | null;
  stats: Record<string, number>;
  /** Recommended security groups per tenant and their check against the latest window (docs/security-groups.md); null without a run. */
  security_groups?: SecurityGroupsDocument | null;
}

const round = (x: number, digits = 6): number => Number(x.toPrecision(digits));

function summariseSide(side: Side, names?: readonly string[]): SideSummary {
  const o: ClusteringOutcome = side.outcome;
  return {
    algorithm: o.algorithm,
    parameters: o.parameters,
    quality: {
      k: o.k,
      silhouette: o.quality.silhouette === null ? null : round(o.quality.silhouette),
      inertia: o.quality.inertia === null ? null : round(o.quality.inertia),
      noise: o.quality.noise,
    },
    clusters: o.clusters.map((c) => ({
      cluster_id: clusterIdOf(side, c.index),
      size: c.size,
      ...(names?.[c.index] === undefined ? {} : { name: names[c.index] }),
      distinguishing: c.distinguishing.map((d) => ({
        feature: d.feature,
        value: round(d.value, 4),
        overall: round(d.overall, 4),
        z: round(d.z, 3),
      })),
    })),
  };
}

export function assignments(side: Side): Record<string, string> {
  const out: Record<string, string> = {};
  side.ids.forEach((id, i) => {
    out[id] = side.clusterIds[i]!;
  });
  return out;
}

/** Every VM, most anomalous first, scores to 4 significant digits; empty when the run has no scores. */
export function anomalyList(run: ClusteringRun): Array<{ vm_id: string; score: number }> {
  const a = run.vmAnomalies;
  if (a === undefined) return [];
  return Array.from(a.order, (row) => ({ vm_id: run.vms.ids[row]!, score: round(a.score[row]!, 4) }));
}

export function affinityAssignments(run: ClusteringRun): Record<string, string> {
  const out: Record<string, string> = {};
  const groups = run.affinity?.group;
  if (groups === undefined) return out;
  run.vms.ids.forEach((id, i) => {
    out[id] = affinityGroupId(groups[i]!);
  });
  return out;
}

export function buildResult(
  run: ClusteringRun | null,
  rejected: RejectionSummary,
  stats: Record<string, number>,
  securityGroups?: SecurityGroupsDocument | null,
): ReplayResult {
  const sg = securityGroups === undefined ? {} : { security_groups: securityGroups };
  if (run === null) return { vm_clusters: {}, tenant_clusters: {}, anomalies: [], affinity_groups: {}, placement: null, rejected, run: null, stats, ...sg };
  const { vm_clusters, tenant_clusters, run: summary } = resultAssignments(run);
  return {
    vm_clusters,
    tenant_clusters,
    anomalies: anomalyList(run),
    affinity_groups: affinityAssignments(run),
    placement: run.placement === undefined ? null : describePlacement(run.placement.plan, run.placement.input),
    rejected,
    run: summary,
    stats,
    ...sg,
  };
}

/** The assignments and the run's summary of the result, without its anomalies, affinity groups and placement: what the API's index of a run needs. */
export function resultAssignments(run: ClusteringRun): Pick<ReplayResult, 'vm_clusters' | 'tenant_clusters'> & { run: NonNullable<ReplayResult['run']> } {
  return {
    vm_clusters: assignments(run.vms),
    tenant_clusters: assignments(run.tenants),
    run: {
      run_id: run.runId,
      computed_at: Number.isFinite(run.computedAt) ? new Date(run.computedAt).toISOString() : null,
      window_minutes: run.windowMs / 60_000,
      vms: summariseSide(run.vms, run.vmClusterNames),
      tenants: summariseSide(run.tenants, run.tenantClusterNames),
    },
  };
}
