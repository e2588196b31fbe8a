/**
 * One clustering run: VMs first, then tenants from the mix of VM clusters they hold. Pure and
 * deterministic, so it can run inline (replay, tests) or in a worker thread (the service).
 */
import { cluster } from '../clustering/index.ts';
import type { ClusteringOptions, ClusteringOutcome, FeatureMatrix } from '../clustering/types.ts';
import { imputeColumnMeans } from '../features/impute.ts';
import { tenantClusteringScaling } from '../features/tenant-features.ts';
import { vmFeatureMinScales, vmFeatureWeights } from '../features/vm-features.ts';
import { type AffinityGroups, affinityGroups } from './affinity.ts';
import { scoreAnomalies, type VmAnomalies } from './anomalies.ts';
import { describeVmClusters, explainVms, nameTenantClusters, type VmExplanations } from './explain.ts';
import { projectFleet, type VmProjection } from './projection.ts';
import { type FleetSnapshot, tenantMatrixOf, type VmPairs } from './snapshot.ts';

export interface RunOptions {
  vm: Partial<ClusteringOptions>;
  tenant: Partial<ClusteringOptions>;
  /** Overrides of the default VM feature weights, by feature name. */
  vmFeatureWeights: Record<string, number>;
}

export const defaultRunOptions: RunOptions = {
  vm: { algorithm: 'kmeans', kMin: 2, kMax: 24, restarts: 5, seed: 1 },
  tenant: { algorithm: 'kmeans', kMin: 2, kMax: 12, restarts: 5, seed: 1 },
  vmFeatureWeights: {},
};

export interface Side {
  ids: string[];
  /** Cluster id of each entity, parallel to ids. */
  clusterIds: string[];
  /**
   * Cluster id of each label (outcome.clusters[c] is labelIds[c]). The worker numbers them by size; the
   * service replaces them with stable ids matched to the previous run (identity.ts).
   */
  labelIds: string[];
  outcome: ClusteringOutcome;
  features: FeatureMatrix;
}

export interface ClusteringRun {
  runId: string;
  /** Event time the run describes (the watermark of its snapshot), epoch ms. */
  computedAt: number;
  windowMs: number;
  vms: Side;
  tenants: Side;
  /** Tenant of each VM (parallel to vms.ids), null when unknown. */
  vmTenants: (string | null)[];
  durationMs: number;
  /**
   * What a run computes beyond the clusters (explain.ts, anomalies.ts, affinity.ts), parallel to vms.ids
   * or indexed by VM label. Optional: a run rebuilt from a saved model has no traffic to derive them from.
   */
  vmExplanations?: VmExplanations;
  /** Suggested name of each VM cluster, by label. */
  vmClusterNames?: string[];
  /** Suggested name of each tenant cluster, by label. */
  tenantClusterNames?: string[];
  vmAnomalies?: VmAnomalies;
  affinity?: AffinityGroups;
  /** The dashboard's 2-D picture of the VMs (projection.ts) and the traffic graph its affinity view draws. */
  vmProjection?: VmProjection;
  vmPairs?: VmPairs;
}

export const NOISE_CLUSTER_ID = 'noise';
export const VM_CLUSTER_PREFIX = 'vm-';
export const TENANT_CLUSTER_PREFIX = 'tenant-';

function clusterIds(prefix: string, labels: Int32Array): string[] {
  return Array.from(labels, (l) => (l < 0 ? NOISE_CLUSTER_ID : `${prefix}${l}`));
}

function labelIds(prefix: string, k: number): string[] {
  return Array.from({ length: k }, (_, c) => `${prefix}${c}`);
}

/** The id of a cluster by its label; noise (-1) has the fixed id NOISE_CLUSTER_ID. */
export function clusterIdOf(side: Side, label: number): string {
  return label < 0 ? NOISE_CLUSTER_ID : (side.labelIds[label] ?? NOISE_CLUSTER_ID);
}

/**
 * One run, every stage in this thread. The service splits it (clusterer.ts): the affinity groups depend
 * on the traffic graph only, so a second worker computes them while this one clusters; joined, both give
 * this function's result.
 */
export function runClustering(snapshot: FleetSnapshot, runId: string, options: RunOptions = defaultRunOptions): ClusteringRun {
  const started = performance.now();
  const run = runClusteringStages(snapshot, runId, options);
  const t = performance.now();
  const affinity = runAffinity(snapshot.vmIds.length, snapshot.vmPairs, options);
  const affinityMs = performance.now() - t;
  return withAffinity(run, affinity, affinityMs, performance.now() - started);
}

/** The affinity stage on its own: the window's traffic graph between the snapshot's VM rows. */
export function runAffinity(vmCount: number, pairs: VmPairs, options: RunOptions = defaultRunOptions): AffinityGroups {
  return affinityGroups(vmCount, pairs, { seed: options.vm.seed ?? 1 });
}

/** A run of runClusteringStages completed with its affinity groups; durationMs is the whole run's. */
export function withAffinity(run: ClusteringRun, affinity: AffinityGroups, affinityMs: number, durationMs: number): ClusteringRun {
  run.vms.outcome.timings.affinity = affinityMs;
  return { ...run, durationMs, affinity };
}

/** Every stage but the affinity groups (runAffinity), which need nothing from them. */
export function runClusteringStages(snapshot: FleetSnapshot, runId: string, options: RunOptions = defaultRunOptions): ClusteringRun {
  const started = performance.now();
  const vmFeatures = snapshot.vmFeatures;
  imputeColumnMeans(vmFeatures.data, vmFeatures.rows, vmFeatures.cols);
  const vmOutcome = cluster(vmFeatures, {
    ...options.vm,
    weights: vmFeatureWeights(options.vmFeatureWeights),
    minScales: vmFeatureMinScales(),
  });

  const { tenantIds, matrix: tenantFeatures } = tenantMatrixOf(snapshot, vmOutcome.labels, vmOutcome.k);
  const tenantOutcome = cluster(tenantFeatures, { ...options.tenant, ...tenantClusteringScaling(tenantFeatures.cols) });

  const seed = options.vm.seed ?? 1;
  let t = performance.now();
  const vmExplanations = explainVms(vmOutcome, vmFeatures);
  const vmClusters = describeVmClusters(vmOutcome, vmFeatures);
  const tenantClusterNames = nameTenantClusters(tenantOutcome, tenantFeatures, vmClusters.roles);
  const vmAnomalies = scoreAnomalies(vmOutcome, vmFeatures, vmExplanations, { seed });
  vmOutcome.timings.explain = performance.now() - t;
  t = performance.now();
  const vmProjection = projectFleet(vmFeatures, vmOutcome.model, { seed });
  vmOutcome.timings.projection = performance.now() - t;

  return {
    runId,
    computedAt: snapshot.watermark,
    windowMs: snapshot.windowMs,
    vms: {
      ids: snapshot.vmIds,
      clusterIds: clusterIds(VM_CLUSTER_PREFIX, vmOutcome.labels),
      labelIds: labelIds(VM_CLUSTER_PREFIX, vmOutcome.k),
      outcome: vmOutcome,
      features: vmFeatures,
    },
    tenants: {
      ids: tenantIds,
      clusterIds: clusterIds(TENANT_CLUSTER_PREFIX, tenantOutcome.labels),
      labelIds: labelIds(TENANT_CLUSTER_PREFIX, tenantOutcome.k),
      outcome: tenantOutcome,
      features: tenantFeatures,
    },
    vmTenants: snapshot.vmTenants,
    durationMs: performance.now() - started,
    vmExplanations,
    vmClusterNames: vmClusters.names,
    tenantClusterNames,
    vmAnomalies,
    vmProjection,
    vmPairs: snapshot.vmPairs,
  };
}
