/**
 * Why each VM is where it is, in the run's own clustering space: its distance to its cluster's centroid,
 * the next-closest cluster and how much closer its own is (a confidence); and a name for each cluster from
 * its dominant traits, so that an operator reads "serves database, internal" rather than "vm-3", and for
 * each tenant cluster from its size, traffic and the roles of its VMs ("small, light traffic, internal,
 * mostly storage clients"). Pure.
 */
import { modelDims, projectRows } from '../clustering/project.ts';
import type { ClusteringOutcome, ClusterSummary, FeatureMatrix } from '../clustering/types.ts';
import { tenantColumns } from '../features/tenant-features.ts';

/** Plain typed arrays, parallel to the run's VM ids, so that they cross the worker-thread boundary. */
export interface VmExplanations {
  /** Euclidean distance to the own cluster's centroid (to the nearest centroid for DBSCAN noise). */
  distance: Float64Array;
  /** Label of the next-closest cluster; -1 when the run has fewer than two clusters. */
  nextLabel: Int32Array;
  nextDistance: Float64Array;
  /** 1 - distance / nextDistance in [0, 1]: 0 on the border between the two clusters, 1 on the own centroid. */
  confidence: Float64Array;
}

export function explainVms(outcome: ClusteringOutcome, features: FeatureMatrix): VmExplanations {
  const n = features.rows;
  const out: VmExplanations = {
    distance: new Float64Array(n),
    nextLabel: new Int32Array(n).fill(-1),
    nextDistance: new Float64Array(n).fill(Number.POSITIVE_INFINITY),
    confidence: new Float64Array(n),
  };
  const centroids = outcome.model.centroids;
  const k = centroids.length;
  if (n === 0 || k === 0) return out;
  const dims = modelDims(outcome.model);
  const points = projectRows(outcome.model, features.data, n);
  const d = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    const o = i * dims;
    for (let c = 0; c < k; c++) {
      const centroid = centroids[c]!;
      let s = 0;
      for (let j = 0; j < dims; j++) {
        const v = points[o + j]! - centroid[j]!;
        s += v * v;
      }
      d[c] = Math.sqrt(s);
    }
    let own = outcome.labels[i]!;
    if (own < 0 || own >= k) {
      own = 0;
      for (let c = 1; c < k; c++) if (d[c]! < d[own]!) own = c;
    }
    let next = -1;
    for (let c = 0; c < k; c++) if (c !== own && (next < 0 || d[c]! < d[next]!)) next = c;
    const dOwn = d[own]!;
    out.distance[i] = dOwn;
    if (next < 0) {
      out.confidence[i] = 1;
      continue;
    }
    const dNext = d[next]!;
    out.nextLabel[i] = next;
    out.nextDistance[i] = dNext;
    // k-means can leave a member nearer another centroid after its last update: that is no confidence at all.
    out.confidence[i] = dNext > 0 ? Math.min(1, Math.max(0, 1 - dOwn / dNext)) : 0;
  }
  return out;
}

/** Readable names of port classes and other traits, from the feature names (see features/vm-features.ts). */
const phrase = (s: string): string => s.replaceAll('_', ' ');

interface Trait {
  text: string;
  /** How strongly it marks the cluster: bigger first. */
  weight: number;
  group: 'serves' | 'uses' | 'other';
}

/** A trait holds when the cluster's value stands out from the fleet's by at least this many σ... */
const TRAIT_Z = 0.75;
/** ...or, for a share, when it is most of the traffic. */
const DOMINANT_SHARE = 0.4;

function traitsOf(names: readonly string[], c: ClusterSummary, overall: readonly number[], sd: readonly number[]): Trait[] {
  const traits: Trait[] = [];
  names.forEach((name, j) => {
    const value = c.centroid[j]!;
    const mean = overall[j]!;
    const z = sd[j]! > 0 ? (value - mean) / sd[j]! : 0;
    const served = /^served_(.+)_share$/.exec(name);
    const used = /^used_(.+)_share$/.exec(name);
    if (served || used) {
      if (value >= DOMINANT_SHARE || (value >= 0.1 && z >= TRAIT_Z)) {
        traits.push({ text: phrase((served ?? used)![1]!), weight: value + z / 10, group: served ? 'serves' : 'uses' });
      }
      return;
    }
    const high = value >= DOMINANT_SHARE || z >= TRAIT_Z;
    switch (name) {
      case 'external_share':
        if (high && value >= 0.2) traits.push({ text: 'external', weight: value + z / 10, group: 'other' });
        else if (value < 0.02 && mean >= 0.02) traits.push({ text: 'internal', weight: 0.05, group: 'other' });
        break;
      case 'udp_share':
      case 'icmp_share':
        if (high && value >= 0.2) traits.push({ text: name.slice(0, -'_share'.length), weight: value + z / 10, group: 'other' });
        break;
      case 'peer_traffic_share':
        if (high && value >= 0.2) traits.push({ text: 'peer-to-peer', weight: value + z / 10, group: 'other' });
        break;
      case 'log_packet_size_out':
      case 'log_packet_size_in': {
        const dir = name.endsWith('out') ? 'out' : 'in';
        // log2 bytes per packet: below 128 B are probes, above 4 KiB jumbo frames.
        if (value > 0 && value < 7 && z <= -TRAIT_Z) traits.push({ text: `tiny packets ${dir}`, weight: Math.abs(z) / 4, group: 'other' });
        else if (value > 12 && z >= TRAIT_Z) traits.push({ text: `jumbo frames ${dir}`, weight: z / 4, group: 'other' });
        break;
      }
      case 'log_peers_out':
      case 'log_peers_in':
        if (z >= 2) traits.push({ text: `many peers ${name.endsWith('out') ? 'out' : 'in'}`, weight: z / 4, group: 'other' });
        break;
      case 'log_bytes_per_min':
        if (value < 1 && z <= -TRAIT_Z) traits.push({ text: 'idle', weight: 1, group: 'other' });
        break;
      default:
        break;
    }
  });
  return traits;
}

function columnStats(features: FeatureMatrix): { mean: number[]; sd: number[] } {
  const { rows, cols, data } = features;
  const mean = new Array<number>(cols).fill(0);
  const sd = new Array<number>(cols).fill(0);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) mean[j]! += data[i * cols + j]!;
  for (let j = 0; j < cols; j++) mean[j] = rows > 0 ? mean[j]! / rows : 0;
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) {
      const v = data[i * cols + j]! - mean[j]!;
      sd[j]! += v * v;
    }
  for (let j = 0; j < cols; j++) sd[j] = rows > 0 ? Math.sqrt(sd[j]! / rows) : 0;
  return { mean, sd };
}

const MAX_PER_GROUP = 2;
const MAX_OTHER = 3;

/** A VM cluster described for people: its full name, and a short role noun for tenant names. */
export interface VmClusterDescriptions {
  /** By label, e.g. "serves database, internal". */
  names: string[];
  /** By label, e.g. "database servers", "storage clients", "peer-to-peer VMs". */
  roles: string[];
}

/**
 * A name per cluster (indexed by label) from its dominant traits: the port families it serves and uses
 * as a client, then its most marked other traits (external or internal, udp, peer-to-peer, packet sizes).
 * Two clusters may get the same name; it is a suggestion for a human, not an id. The role is the same
 * traits in two or three words: what it serves, else what it uses, else its strongest other trait.
 */
export function describeVmClusters(outcome: ClusteringOutcome, features: FeatureMatrix): VmClusterDescriptions {
  const { mean, sd } = columnStats(features);
  const names: string[] = [];
  const roles: string[] = [];
  for (const c of outcome.clusters) {
    const traits = traitsOf(features.names, c, mean, sd).sort((a, b) => b.weight - a.weight || (a.text < b.text ? -1 : 1));
    const pick = (group: Trait['group'], max: number): string[] =>
      traits
        .filter((t) => t.group === group)
        .slice(0, max)
        .map((t) => t.text);
    const serves = pick('serves', MAX_PER_GROUP);
    const uses = pick('uses', MAX_PER_GROUP);
    const other = pick('other', MAX_OTHER);
    const parts: string[] = [];
    if (serves.length > 0) parts.push(`serves ${serves.join(' + ')}`);
    if (uses.length > 0) parts.push(`uses ${uses.join(' + ')}`);
    parts.push(...other);
    names[c.index] = parts.length > 0 ? parts.join(', ') : 'mixed traffic';
    if (serves.length > 0) roles[c.index] = `${serves.join(' + ')} servers`;
    else if (uses.length > 0) roles[c.index] = `${uses.join(' + ')} clients`;
    else if (other.length > 0) roles[c.index] = `${other[0]} VMs`;
    else roles[c.index] = 'mixed-traffic VMs';
  }
  return { names, roles };
}

/** The names of describeVmClusters, by label. */
export function nameClusters(outcome: ClusteringOutcome, features: FeatureMatrix): string[] {
  return describeVmClusters(outcome, features).names;
}

/** Tenant size bands by the cluster's typical VM count (its members' geometric mean): upper bounds. */
const SIZE_BANDS: ReadonlyArray<[number, string]> = [
  [1, 'single-VM'],
  [7, 'small'],
  [31, 'medium'],
  [127, 'large'],
  [Number.POSITIVE_INFINITY, 'very large'],
];
/** Traffic bands by the cluster's typical volume, in Mbit/s: upper bounds. */
const TRAFFIC_BANDS: ReadonlyArray<[number, string]> = [
  [10, 'light traffic'],
  [100, 'moderate traffic'],
  [Number.POSITIVE_INFINITY, 'heavy traffic'],
];
/** A role holds "mostly" when it has at least this share of the cluster's VMs... */
const MOSTLY = 0.5;
/** ...else the two largest roles are named when each has at least this share. */
const NOTABLE_ROLE = 0.2;

const band = (bands: ReadonlyArray<[number, string]>, x: number): string => bands.find(([upTo]) => x <= upTo)![1];

/**
 * A name per tenant cluster (indexed by label) from its dominant traits: its size band, traffic band, how
 * much of its traffic leaves the overlay or stays in the tenant, and the roles of its VMs (pooled over its
 * tenants, by the VM clusters' roles), e.g. "medium, heavy traffic, external-facing, mostly web servers".
 * Size and traffic are the members' geometric means (the features are logs), the shares their means.
 * `features` is the run's tenant matrix (tenant-features.ts): five base columns, then per VM cluster its
 * share of the tenant's VMs, then of its bytes. Like VM names, a suggestion, not an id.
 * A run without VM clusters has no mix columns: its tenant clusters are then of "mixed roles".
 */
export function nameTenantClusters(outcome: ClusteringOutcome, features: FeatureMatrix, vmRoles: readonly string[]): string[] {
  const { logVms, logBytes, external, internal, vmShare, vmClusters } = tenantColumns(features.cols);
  const roleCount = new Map<number, Map<string, number>>();
  for (let i = 0; i < features.rows; i++) {
    const label = outcome.labels[i]!;
    if (label < 0) continue;
    const o = i * features.cols;
    const vms = 2 ** features.data[o + logVms]! - 1;
    const counts = roleCount.get(label) ?? new Map<string, number>();
    roleCount.set(label, counts);
    vmRoles.forEach((role, c) => {
      if (c >= vmClusters) return;
      counts.set(role, (counts.get(role) ?? 0) + vms * features.data[o + vmShare + c]!);
    });
  }
  const names: string[] = [];
  for (const c of outcome.clusters) {
    const vms = Math.round(2 ** c.centroid[logVms]! - 1);
    const mbits = ((10 ** c.centroid[logBytes]! - 1) * 8) / 60 / 1e6;
    const ext = c.centroid[external]!;
    const int = c.centroid[internal]!;
    const exposure = ext >= 0.5 ? 'external-facing' : int >= 0.5 ? (ext < 0.1 ? 'internal' : 'partly external') : 'cross-tenant';
    const counts = [...(roleCount.get(c.index) ?? new Map<string, number>())].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    const total = counts.reduce((s, [, n]) => s + n, 0);
    const share = (k: number): number => (total > 0 ? (counts[k]?.[1] ?? 0) / total : 0);
    let mix = 'mixed roles';
    if (share(0) >= MOSTLY) mix = `mostly ${counts[0]![0]}`;
    else if (share(1) >= NOTABLE_ROLE) mix = `${counts[0]![0]} and ${counts[1]![0]}`;
    names[c.index] = [band(SIZE_BANDS, vms), band(TRAFFIC_BANDS, mbits), exposure, mix].join(', ');
  }
  return names;
}
