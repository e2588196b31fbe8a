/**
 * A tenant's feature vector, built from its live VMs once they are clustered: how many VMs and VPCs, how
 * much traffic, how much of it stays inside the tenant or leaves the overlay, and above all the mix of VM
 * clusters it holds (by VM count and by bytes), which is what tells a web shop from a training job.
 */
import type { FeatureMatrix } from '../clustering/types.ts';

export interface TenantVmView {
  tenantIds: string[];
  /** For each VM: its tenant (null: unknown), VPC, cluster index (-1: noise) and window volumes. */
  vmTenants: (string | null)[];
  vmVpcs: (string | null)[];
  vmLabels: Int32Array;
  vmBytes: Float64Array;
  vmExternalBytes: Float64Array;
  vmSameTenantBytes: Float64Array;
  windowMinutes: number;
  /**
   * Id of each VM cluster, by label (noise is not a cluster and gets no mix column): the mix columns are
   * named by them, so that a person reads the same id here as everywhere else.
   */
  vmClusterIds: readonly string[];
}

export const TENANT_BASE_FEATURES = [
  'log_vms',
  'log_vpcs',
  'log_bytes_per_min',
  'external_share',
  'internal_share',
] as const;

/**
 * Weights of the base features in the clustering; the mix columns carry most of the weight (see
 * tenantClusteringScaling). Size and volume (log_vms, log_vpcs, log_bytes_per_min) weigh nothing: two
 * tenants that run the same workload at ten times the scale belong to one cluster, so these describe a
 * cluster (its summary and name) but never split one. The shares of traffic leaving the overlay and staying
 * inside the tenant are shares, not totals, and keep a small weight. Measured on bench/quality.ts's tuning
 * seeds (hard realism): tenant ARI mean 0.865 with the old weights (0.6, 0.3, 0.3, 0.6, 0.6) and the
 * silhouette rule, 0.937 with these and the stability rule (docs/clustering.md "Tenant features").
 */
const BASE_WEIGHTS = [0, 0, 0, 0.3, 0.3];

/** How the tenant side chooses k unless told otherwise (select-k.ts selectKByStability). */
export const TENANT_K_SELECTION = 'stability' as const;
/** Mix columns are compared by Hellinger distance (square roots of shares), left unstandardised. */
const MIX_WEIGHT = 2.5;

/** The mix columns' names: e.g. `vm-6_vm_share` (share of the tenant's VMs in vm-6) and `vm-6_byte_share`. */
function tenantFeatureNames(vmClusterIds: readonly string[]): string[] {
  return [...TENANT_BASE_FEATURES, ...vmClusterIds.map((id) => `${id}_vm_share`), ...vmClusterIds.map((id) => `${id}_byte_share`)];
}

/**
 * Where a tenant matrix's columns are: the base features first, then one VM-share column per VM cluster
 * (by label), then one byte-share column per VM cluster. Found by position, not by name: a run without
 * any VM cluster (no VM, or every VM noise) has no mix column at all, and is still a run.
 */
export interface TenantColumns {
  logVms: number;
  logBytes: number;
  external: number;
  internal: number;
  /** First VM-share column, and first byte-share column; each block has vmClusters columns. */
  vmShare: number;
  byteShare: number;
  vmClusters: number;
}

export function tenantColumns(cols: number): TenantColumns {
  const base = TENANT_BASE_FEATURES.length;
  const mix = cols - base;
  if (mix < 0 || mix % 2 !== 0) throw new RangeError(`a tenant matrix has ${base} base columns and two per VM cluster, not ${cols} columns`);
  const vmClusters = mix / 2;
  return {
    logVms: TENANT_BASE_FEATURES.indexOf('log_vms'),
    logBytes: TENANT_BASE_FEATURES.indexOf('log_bytes_per_min'),
    external: TENANT_BASE_FEATURES.indexOf('external_share'),
    internal: TENANT_BASE_FEATURES.indexOf('internal_share'),
    vmShare: base,
    byteShare: base + vmClusters,
    vmClusters,
  };
}

/**
 * Rows follow `view.tenantIds`. Mix columns hold the shares themselves: a tenant's VM shares add up to one
 * (when any of its VMs is in a cluster), and so do its byte shares (when those VMs carried traffic).
 */
export function buildTenantMatrix(view: TenantVmView): FeatureMatrix {
  const { tenantIds } = view;
  const vmClusters = view.vmClusterIds.length;
  const names = tenantFeatureNames(view.vmClusterIds);
  const cols = names.length;
  const rows = tenantIds.length;
  const row = new Map<string, number>(tenantIds.map((t, i) => [t, i]));
  const vms = new Float64Array(rows);
  const bytes = new Float64Array(rows);
  const external = new Float64Array(rows);
  const internal = new Float64Array(rows);
  const vpcs = tenantIds.map(() => new Set<string>());
  const countMix = new Float64Array(rows * vmClusters);
  const byteMix = new Float64Array(rows * vmClusters);
  for (let v = 0; v < view.vmTenants.length; v++) {
    const t = view.vmTenants[v];
    if (t == null) continue;
    const r = row.get(t);
    if (r === undefined) continue;
    vms[r]! += 1;
    bytes[r]! += view.vmBytes[v]!;
    external[r]! += view.vmExternalBytes[v]!;
    internal[r]! += view.vmSameTenantBytes[v]!;
    const vpc = view.vmVpcs[v];
    if (vpc != null) vpcs[r]!.add(vpc);
    const c = view.vmLabels[v]!;
    if (c >= 0) {
      countMix[r * vmClusters + c]! += 1;
      byteMix[r * vmClusters + c]! += view.vmBytes[v]!;
    }
  }
  const data = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    data[o] = Math.log2(1 + vms[r]!);
    data[o + 1] = Math.log2(1 + vpcs[r]!.size);
    data[o + 2] = Math.log10(1 + bytes[r]! / view.windowMinutes);
    data[o + 3] = bytes[r]! > 0 ? external[r]! / bytes[r]! : 0;
    // A flow inside the tenant counts at both of its ends in both sums, so the ratio needs no correction.
    data[o + 4] = bytes[r]! > 0 ? Math.min(1, internal[r]! / bytes[r]!) : 0;
    let members = 0;
    let memberBytes = 0;
    for (let c = 0; c < vmClusters; c++) {
      members += countMix[r * vmClusters + c]!;
      memberBytes += byteMix[r * vmClusters + c]!;
    }
    const base = o + TENANT_BASE_FEATURES.length;
    for (let c = 0; c < vmClusters; c++) {
      data[base + c] = members > 0 ? countMix[r * vmClusters + c]! / members : 0;
      data[base + vmClusters + c] = memberBytes > 0 ? byteMix[r * vmClusters + c]! / memberBytes : 0;
    }
  }
  return { rows, cols, data, names };
}

/**
 * The matrix the clustering compares: the mix columns' square roots, so that squared Euclidean distance
 * between them is the Hellinger distance of the mixes (a rare VM cluster counts, but does not swamp the
 * rest). Only the clustering sees these roots; summaries and names are told in shares (see clusterTenants).
 */
export function tenantClusteringInput(matrix: FeatureMatrix): FeatureMatrix {
  const { rows, cols } = matrix;
  const { vmShare } = tenantColumns(cols);
  const data = Float64Array.from(matrix.data);
  for (let i = 0; i < rows; i++) for (let j = vmShare; j < cols; j++) data[i * cols + j] = Math.sqrt(data[i * cols + j]!);
  return { rows, cols, data, names: matrix.names };
}

/** The names of a tenant matrix built for one set of VM cluster ids, for another (the stable ids of identity.ts). */
export function renameVmClusters(names: readonly string[], vmClusterIds: readonly string[]): readonly string[] {
  return names.length === TENANT_BASE_FEATURES.length + 2 * vmClusterIds.length ? tenantFeatureNames(vmClusterIds) : names;
}

/**
 * Per-column weights and scale floors for the clustering stage (of tenantClusteringInput's matrix), which
 * standardises every column. Mix columns are left unstandardised: their square-root shares lie in [0, 1], so their standard deviation
 * stays below 1 and a scale floor of 1 fixes their scale at 1. Standardised, a rare VM cluster (three
 * scanners in a fleet) would get a huge z-score and split tenants on one VM.
 */
export function tenantClusteringScaling(cols: number): { weights: Float64Array; minScales: Float64Array } {
  const weights = new Float64Array(cols);
  const minScales = new Float64Array(cols);
  for (let j = 0; j < cols; j++) {
    if (j < TENANT_BASE_FEATURES.length) {
      weights[j] = BASE_WEIGHTS[j]!;
    } else {
      weights[j] = MIX_WEIGHT;
      minScales[j] = 1;
    }
  }
  return { weights, minScales };
}
