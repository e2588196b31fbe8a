/**
 * One clustering run: VMs first, then tenants from the mix of VM clusters they hold. Pure and
 * deterministic, so it can run inline (replay, tests) or in a worker thread (the service).
 */
import { alignLabels, cluster, type ForcedSearch, type WarmStart } from '../clustering/index.ts';
import { inUnitsOf } from '../clustering/summarize.ts';
import type { ClusteringOptions, ClusteringOutcome, FeatureMatrix } from '../clustering/types.ts';
import { imputeColumnMeans } from '../features/impute.ts';
import { placeRun, placementInput, type RunPlacement } from '../placement/run-placement.ts';
import type { PlacementOptions } from '../placement/types.ts';
import { renameVmClusters, TENANT_K_SELECTION, tenantClusteringInput, tenantClusteringScaling } from '../features/tenant-features.ts';
import { vmFeatureMinScales, vmFeatureWeights } from '../features/vm-features.ts';
import { type AffinityGroups, affinityGroups } from './affinity.ts';
import { scoreAnomalies, type VmAnomalies } from './anomalies.ts';
import { describeVmClusters, explainVms, nameTenantClusters, type VmExplanations } from './explain.ts';
import { projectFleet, type FleetProjection } from './projection.ts';
import { type RunInput, tenantMatrixOf, type VmPairs } from './run-input.ts';

export interface RunOptions {
  vm: Partial<ClusteringOptions>;
  tenant: Partial<ClusteringOptions>;
  /** Overrides of the default VM feature weights, by feature name. */
  vmFeatureWeights: Record<string, number>;
  /** Placement advice options (docs/placement.md); the defaults when absent. */
  placement?: Partial<PlacementOptions>;
}

export const defaultRunOptions: RunOptions = {
  vm: { algorithm: 'kmeans', kMin: 2, kMax: 24, restarts: 5, seed: 1 },
  tenant: { algorithm: 'kmeans', kMin: 2, kMax: 12, restarts: 5, seed: 1, kSelection: TENANT_K_SELECTION },
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
  /** Event time the run describes (the watermark of its input), epoch ms. */
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
  vmProjection?: FleetProjection;
  vmPairs?: VmPairs;
  /** Placement advice (src/placement), when the input had the VMs' hosts. */
  placement?: RunPlacement;
}

/** What a run keeps of one side of the previous run to start warm from it (clustering/drift.ts). */
export interface PreviousSide {
  ids: readonly string[];
  /** Label of each id in the previous run's outcome (0..k-1). */
  labels: Int32Array;
  k: number;
  referenceUnexplained: number | null;
  runsSinceSearch: number;
}

/** The previous run as the next one starts from it; sides are null when there is nothing to start from. */
export interface PreviousRun {
  vms: PreviousSide | null;
  tenants: PreviousSide | null;
  /** Search k whatever the drift, for this reason (POST /v1/recluster with "search": true, a trace's last run); null: on drift only. */
  forceSearch: Extract<ForcedSearch, 'requested' | 'final-run'> | null;
}

/** The previous run's partitions, for a warm start; a side without a k-means search record gives none. */
export function previousRunOf(run: ClusteringRun | null, forceSearch: PreviousRun['forceSearch'] = null): PreviousRun {
  const side = (s: Side | undefined): PreviousSide | null => {
    const search = s?.outcome.search;
    if (s === undefined || search === undefined || s.outcome.algorithm !== 'kmeans') return null;
    return { ids: s.ids, labels: s.outcome.labels, k: s.outcome.k, referenceUnexplained: search.referenceUnexplained, runsSinceSearch: search.runsSinceSearch };
  };
  return { vms: side(run?.vms), tenants: side(run?.tenants), forceSearch };
}

function warmOf(previous: PreviousSide | null | undefined, ids: readonly string[]): WarmStart | undefined {
  if (!previous) return undefined;
  return {
    labels: alignLabels(previous.ids, previous.labels, ids),
    k: previous.k,
    referenceUnexplained: previous.referenceUnexplained,
    runsSinceSearch: previous.runsSinceSearch,
  };
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

/** What a run derives from the VM clusters, beyond them (explain.ts, anomalies.ts, projection.ts). */
export interface VmInsights {
  vmExplanations: VmExplanations;
  vmClusterNames: string[];
  /** Role of each VM cluster, by label: what the tenant clusters' names are made of. */
  vmClusterRoles: string[];
  vmAnomalies: VmAnomalies;
  vmProjection: FleetProjection;
}

export interface TenantClustering {
  tenantIds: string[];
  features: FeatureMatrix;
  outcome: ClusteringOutcome;
}

/** What the tenant side needs of a input (a worker gets only this part). */
export type TenantInputs = Pick<
  RunInput,
  'windowMs' | 'tenants' | 'vmTenants' | 'vmVpcs' | 'vmBytes' | 'vmExternalBytes' | 'vmSameTenantBytes'
>;

/**
 * One run, every stage in this thread. The service runs the same stages on two worker threads
 * (clusterer.ts): the affinity groups need only the traffic graph and the tenant clusters only the VM
 * labels, so they run beside the VM clustering and its insights; assembled, both give this result.
 */
export function runClustering(
  input: RunInput,
  runId: string,
  options: RunOptions = defaultRunOptions,
  previous: PreviousRun | null = null,
): ClusteringRun {
  const started = performance.now();
  const vmOutcome = clusterVms(input.vmFeatures, options, previous, input.vmIds);
  const tenants = clusterTenants(input, vmOutcome.labels, vmOutcome.k, options, previous, vmOutcome.search?.searched !== false);
  const insights = describeVms(vmOutcome, input.vmFeatures, options);
  let t = performance.now();
  const affinity = runAffinity(input.vmIds.length, input.vmPairs, options);
  const affinityMs = performance.now() - t;
  t = performance.now();
  const run = assembleRun(input, runId, { vmOutcome, vmFeatures: input.vmFeatures, insights, tenants, affinity }, 0, options);
  vmOutcome.timings.affinity = affinityMs;
  run.durationMs = performance.now() - started;
  return run;
}

/**
 * The VM clusters; missing feature values are imputed in place first. With the previous run (and the VM
 * ids of these rows) the fit starts from its clusters and searches k only on drift.
 */
export function clusterVms(
  vmFeatures: FeatureMatrix,
  options: RunOptions = defaultRunOptions,
  previous: PreviousRun | null = null,
  vmIds: readonly string[] = [],
): ClusteringOutcome {
  imputeColumnMeans(vmFeatures.data, vmFeatures.rows, vmFeatures.cols);
  const warm = vmIds.length === vmFeatures.rows ? warmOf(previous?.vms, vmIds) : undefined;
  return cluster(vmFeatures, {
    ...options.vm,
    weights: vmFeatureWeights(options.vmFeatureWeights),
    minScales: vmFeatureMinScales(),
    ...(warm === undefined ? {} : { warm }),
    ...(previous?.forceSearch ? { forceSearch: previous.forceSearch } : {}),
  });
}

/**
 * The tenant clusters, from the mix of VM clusters each tenant holds (labels parallel to the input's VMs).
 * The mix columns are named by the VM clusters' ids of this run (vm-<label>; identity.ts renames them to
 * the stable ids) and hold shares; the clustering compares their square roots, but the clusters are
 * summarised in shares, which is what a person reads.
 */
export function clusterTenants(
  inputs: TenantInputs,
  vmLabels: Int32Array,
  vmClusters: number,
  options: RunOptions = defaultRunOptions,
  previous: PreviousRun | null = null,
  vmSearched = true,
): TenantClustering {
  const { tenantIds, matrix } = tenantMatrixOf(inputs, vmLabels, labelIds(VM_CLUSTER_PREFIX, vmClusters));
  const warm = warmOf(previous?.tenants, tenantIds);
  // A VM search may have redrawn the VM clusters that the tenants' mix columns count: the tenants search too.
  const forceSearch: ForcedSearch | null = previous?.forceSearch ?? (vmSearched ? 'vm-searched' : null);
  const outcome = cluster(tenantClusteringInput(matrix), {
    kSelection: TENANT_K_SELECTION,
    ...options.tenant,
    ...tenantClusteringScaling(matrix.cols),
    ...(warm === undefined ? {} : { warm }),
    ...(forceSearch === null ? {} : { forceSearch }),
  });
  outcome.clusters = inUnitsOf(outcome.clusters, matrix, outcome.labels);
  return { tenantIds, features: matrix, outcome };
}

/**
 * The tenant side with its mix columns named by the given VM cluster ids (by label): the stable ids once
 * identity.ts has matched the VM clusters, so that `vm-6_vm_share` is the share of the tenant's VMs in the
 * cluster every other view calls vm-6.
 */
export function withVmClusterIds(tenants: Side, vmLabelIds: readonly string[]): Side {
  const old = tenants.features.names;
  const names = renameVmClusters(old, vmLabelIds);
  if (names === old) return tenants;
  const renamed = new Map(old.map((name, j) => [name, names[j]!]));
  const clusters = tenants.outcome.clusters.map((c) => ({
    ...c,
    distinguishing: c.distinguishing.map((d) => ({ ...d, feature: renamed.get(d.feature) ?? d.feature })),
  }));
  return { ...tenants, features: { ...tenants.features, names }, outcome: { ...tenants.outcome, clusters } };
}

/** Explanations, names, anomalies and the 2-D picture of the VM clusters; their times go to the outcome's. */
export function describeVms(vmOutcome: ClusteringOutcome, vmFeatures: FeatureMatrix, options: RunOptions = defaultRunOptions): VmInsights {
  const seed = options.vm.seed ?? 1;
  let t = performance.now();
  const vmExplanations = explainVms(vmOutcome, vmFeatures);
  const vmClusters = describeVmClusters(vmOutcome, vmFeatures);
  const vmAnomalies = scoreAnomalies(vmOutcome, vmFeatures, vmExplanations, { seed });
  vmOutcome.timings.explain = performance.now() - t;
  t = performance.now();
  const vmProjection = projectFleet(vmFeatures, vmOutcome.model, { seed });
  vmOutcome.timings.projection = performance.now() - t;
  return { vmExplanations, vmClusterNames: vmClusters.names, vmClusterRoles: vmClusters.roles, vmAnomalies, vmProjection };
}

/** The affinity stage on its own: the window's traffic graph between the input's VM rows. */
export function runAffinity(vmCount: number, pairs: VmPairs, options: RunOptions = defaultRunOptions): AffinityGroups {
  return affinityGroups(vmCount, pairs, { seed: options.vm.seed ?? 1 });
}

export interface RunParts {
  vmOutcome: ClusteringOutcome;
  /** The input's VM features as clustered (imputed). */
  vmFeatures: FeatureMatrix;
  insights: VmInsights;
  tenants: TenantClustering;
  affinity: AffinityGroups;
  /** The placement advice made already (a worker thread: runPlacement), else made here. */
  placement?: { placement: RunPlacement | undefined; ms: number };
}

/** The placement stage (it needs the affinity groups): the advice, when the input had the VMs' hosts, and its time. */
export function runPlacement(
  input: Pick<RunInput, 'windowMs' | 'vmIds' | 'vmTenants' | 'vmPairs' | 'placement'>,
  affinityGroup: Int32Array,
  options: RunOptions = defaultRunOptions,
): { placement: RunPlacement | undefined; ms: number } {
  if (input.placement === undefined) return { placement: undefined, ms: 0 };
  const t = performance.now();
  const placementIn = placementInput(input.vmIds, input.vmTenants, input.placement, input.vmPairs, affinityGroup, input.windowMs);
  const placement = placeRun(placementIn, options.placement);
  return { placement, ms: performance.now() - t };
}

/** The run from its stages' results; the input gives the ids, tenants of VMs, times and traffic graph. */
export function assembleRun(
  input: Pick<RunInput, 'watermark' | 'windowMs' | 'vmIds' | 'vmTenants' | 'vmPairs' | 'placement'>,
  runId: string,
  parts: RunParts,
  durationMs: number,
  options: RunOptions = defaultRunOptions,
): ClusteringRun {
  const { vmOutcome, vmFeatures, insights, tenants, affinity } = parts;
  const tenantClusterNames = nameTenantClusters(tenants.outcome, tenants.features, insights.vmClusterRoles);
  // Placement needs the affinity groups, so it is the last stage; its cost is in the run's timings.
  const { placement, ms } = parts.placement ?? runPlacement(input, affinity.group, options);
  if (placement !== undefined) vmOutcome.timings.placement = ms;
  return {
    runId,
    computedAt: input.watermark,
    windowMs: input.windowMs,
    vms: {
      ids: input.vmIds,
      clusterIds: clusterIds(VM_CLUSTER_PREFIX, vmOutcome.labels),
      labelIds: labelIds(VM_CLUSTER_PREFIX, vmOutcome.k),
      outcome: vmOutcome,
      features: vmFeatures,
    },
    tenants: {
      ids: tenants.tenantIds,
      clusterIds: clusterIds(TENANT_CLUSTER_PREFIX, tenants.outcome.labels),
      labelIds: labelIds(TENANT_CLUSTER_PREFIX, tenants.outcome.k),
      outcome: tenants.outcome,
      features: tenants.features,
    },
    vmTenants: input.vmTenants,
    durationMs,
    vmExplanations: insights.vmExplanations,
    vmClusterNames: insights.vmClusterNames,
    tenantClusterNames,
    vmAnomalies: insights.vmAnomalies,
    affinity,
    vmProjection: insights.vmProjection,
    vmPairs: input.vmPairs,
    ...(placement === undefined ? {} : { placement }),
  };
}
