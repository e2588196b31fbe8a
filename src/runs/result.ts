/**
 * The result document of CONTRACT.md ("Outputs / Replay"), built from a clustering run. The same run gives
 * the same document: nothing in it depends on wall-clock time.
 */
import type { ClusteringOutcome } from '../clustering/types.ts';
import type { RejectionSummary } from '../contract/rejections.ts';
import { type ClusteringRun, clusterIdOf, type Side } from './clustering-run.ts';

export interface ClusterDescription {
  cluster_id: string;
  size: number;
  distinguishing: Array<{ feature: string; value: number; overall: number; z: number }>;
}

export interface SideSummary {
  algorithm: string;
  parameters: Record<string, number | string | boolean>;
  quality: { k: number; silhouette: number | null; inertia: number | null; noise: number };
  clusters: ClusterDescription[];
}

export interface ReplayResult {
  vm_clusters: Record<string, string>;
  tenant_clusters: Record<string, string>;
  rejected: RejectionSummary;
  run: {
    run_id: string;
    computed_at: string | null;
    window_minutes: number;
    vms: SideSummary;
    tenants: SideSummary;
  } | null;
  stats: Record<string, number>;
}

const round = (x: number, digits = 6): number => Number(x.toPrecision(digits));

function summariseSide(side: Side): SideSummary {
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

export function buildResult(run: ClusteringRun | null, rejected: RejectionSummary, stats: Record<string, number>): ReplayResult {
  if (run === null) return { vm_clusters: {}, tenant_clusters: {}, rejected, run: null, stats };
  return {
    vm_clusters: assignments(run.vms),
    tenant_clusters: assignments(run.tenants),
    rejected,
    run: {
      run_id: run.runId,
      computed_at: Number.isFinite(run.computedAt) ? new Date(run.computedAt).toISOString() : null,
      window_minutes: run.windowMs / 60_000,
      vms: summariseSide(run.vms),
      tenants: summariseSide(run.tenants),
    },
    stats,
  };
}
