/**
 * Stable cluster identities. k-means numbers its clusters afresh on every run (by size), so an operator
 * could not follow "cluster vm-3" from one run to the next. Here each run's clusters are matched to the
 * previous run's by member overlap, with an optimal one-to-one assignment (Hungarian algorithm), so a
 * cluster keeps its id while it keeps its members; clusters left unmatched get fresh ids from a counter
 * that never goes back, and what happened in between is recorded as lifecycle events.
 *
 * Overlaps count only the entities present in both runs: VMs that appeared or left say nothing about
 * whether a cluster is still the same group, and a cluster that merely grows keeps its id.
 *
 * Pure: the service applies it on the main thread after the worker returns a run.
 */
import { munkres } from 'munkres';
import { runToEnd } from '../core/slices.ts';
import {
  type ClusteringRun,
  clusterIdOf,
  NOISE_CLUSTER_ID,
  type Side,
  TENANT_CLUSTER_PREFIX,
  VM_CLUSTER_PREFIX,
  withVmClusterIds,
} from './clustering-run.ts';

export interface IdentityThresholds {
  /**
   * Least Jaccard overlap for a current cluster to inherit a previous cluster's id. 0.3 lets the largest
   * part of an uneven split (40/30/30) or of a three-way merge carry the id on, yet never lets a cluster
   * inherit from one that lost most of its members elsewhere.
   */
  matchJaccard: number;
  /**
   * "Mostly": the share of a cluster's members that makes it part of a split or merge. A split is a
   * previous cluster two or more of whose parts each make up at least this share of a current cluster;
   * a merge is a current cluster that took at least this share of each of two or more previous clusters.
   * Members moving between clusters that otherwise stay themselves are neither (they are moves).
   */
  majority: number;
  /** Least share of a cluster's members for a flow to count: the part of a split, the sources of a born cluster. */
  minPartShare: number;
}

const defaultThresholds: IdentityThresholds = { matchJaccard: 0.3, majority: 0.5, minPartShare: 0.1 };

/** What the matching needs of one side of a run: who is in which cluster, and where each cluster sits. */
export interface SideClusters {
  ids: readonly string[];
  /** Parallel to ids; NOISE_CLUSTER_ID for DBSCAN noise. */
  clusterIds: readonly string[];
  /** Every cluster (noise excluded) with its mean in the features' own units. */
  clusters: ReadonlyArray<{ id: string; centroid: readonly number[] }>;
  featureNames: readonly string[];
}

export type LifecycleEventType = 'born' | 'died' | 'split' | 'merged';

/**
 * One event of a run. born: a cluster with a fresh id (`from`: previous clusters that gave it at least
 * minPartShare of its members). died: a previous id not carried on (`into`: where its members went).
 * split: a previous cluster (`clusterId`) whose members now make up several clusters (`into`, the one that
 * kept its id included). merged: a current cluster (`clusterId`) that took most of several previous ones
 * (`from`). `size` is the cluster's member count in the run it belongs to.
 */
export interface LifecycleEvent {
  type: LifecycleEventType;
  clusterId: string;
  size: number;
  from: string[];
  into: string[];
}

/** An entity present in both runs whose cluster id changed. */
export interface MovedEntity {
  id: string;
  from: string;
  to: string;
}

export interface SideChanges {
  events: LifecycleEvent[];
  /** Sorted by id. */
  moved: MovedEntity[];
}

export interface RunChanges {
  runId: string;
  /** The run matched against; null for the first run (every cluster is born). */
  previousRunId: string | null;
  vms: SideChanges;
  tenants: SideChanges;
}

export interface IdentityState {
  /** Next fresh cluster number per side: ids are never reused. */
  nextVm: number;
  nextTenant: number;
  previous: { runId: string; vms: SideClusters; tenants: SideClusters } | null;
}

export const initialIdentity: IdentityState = { nextVm: 0, nextTenant: 0, previous: null };

const compareIds = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function sideClusters(side: Side): SideClusters {
  return {
    ids: side.ids,
    clusterIds: side.clusterIds,
    clusters: side.outcome.clusters.map((c) => ({ id: clusterIdOf(side, c.index), centroid: c.centroid })),
    featureNames: side.features.names,
  };
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

/** Distance in the current run's standardised, weighted units: comparable across features. */
function centroidDistance(a: readonly number[], b: readonly number[], scales: readonly number[], weights: readonly number[]): number {
  let s = 0;
  for (let j = 0; j < a.length; j++) {
    const d = (((a[j] as number) - (b[j] as number)) / (scales[j] ?? 1)) * (weights[j] ?? 1);
    s += d * d;
  }
  return Math.sqrt(s);
}

export interface SideMatch {
  /** Stable id of each current label. */
  labelIds: string[];
  next: number;
  changes: SideChanges;
}

/**
 * Matches the current side's clusters to the previous run's. Cost of pairing previous p with current c is
 * 1 - Jaccard (rounded to 1e-6), plus the centroid distance scaled below that rounding step: Jaccard
 * decides, distance only breaks its ties (two halves of a split, or no overlap to go by).
 */
export function matchSide(
  prev: SideClusters | null,
  cur: Side,
  prefix: string,
  next: number,
  t: IdentityThresholds = defaultThresholds,
): SideMatch {
  return runToEnd(matchSideSteps(prev, cur, prefix, next, t, Number.POSITIVE_INFINITY));
}

/**
 * matchSide as steps of at most `perStep` entities in each walk over the runs' entities (11.6k VMs took
 * 10 to 30 ms of the loop at once on a leader or a single process serving reads).
 */
export function* matchSideSteps(
  prev: SideClusters | null,
  cur: Side,
  prefix: string,
  next: number,
  t: IdentityThresholds,
  perStep: number,
): Generator<void, SideMatch, void> {
  const k = cur.outcome.k;
  const labels = cur.outcome.labels;
  const prevClusters = prev?.clusters ?? [];
  const p = prevClusters.length;
  const prevIndex = new Map<string, number>(prevClusters.map((c, i) => [c.id, i]));
  const prevOf = new Map<string, string>();
  if (prev)
    for (let i = 0; i < prev.ids.length; i++) {
      prevOf.set(prev.ids[i] as string, prev.clusterIds[i] as string);
      if (i % perStep === perStep - 1) yield;
    }

  // Member counts over the entities in both runs (noise excluded), and their intersections.
  const prevCommon = new Float64Array(p);
  const curCommon = new Float64Array(k);
  const inter = new Float64Array(p * k);
  const prevSize = new Float64Array(p);
  if (prev) for (const cid of prev.clusterIds) if (prevIndex.has(cid)) prevSize[prevIndex.get(cid) as number]! += 1;
  yield;
  const curSize = new Float64Array(k);
  for (let i = 0; i < cur.ids.length; i++) {
    if (i % perStep === perStep - 1) yield;
    const l = labels[i] as number;
    if (l >= 0) curSize[l]! += 1;
    const before = prevOf.get(cur.ids[i] as string);
    if (before === undefined) continue;
    const pi = prevIndex.get(before);
    if (pi !== undefined) prevCommon[pi]! += 1;
    if (l >= 0) curCommon[l]! += 1;
    if (pi !== undefined && l >= 0) inter[pi * k + l]! += 1;
  }
  const jaccard = (pi: number, c: number): number => {
    const n = inter[pi * k + c] as number;
    const union = (prevCommon[pi] as number) + (curCommon[c] as number) - n;
    return union > 0 ? n / union : 0;
  };

  const inherited = new Array<number>(k).fill(-1);
  if (p > 0 && k > 0) {
    const comparable = prev !== null && sameNames(prev.featureNames, cur.features.names);
    const { scales, weights } = cur.outcome.model;
    // Keeps the sum of every tie-break term below one rounding step of Jaccard.
    const tieWeight = 1e-6 / (Math.max(p, k) + 1);
    const cost: number[][] = [];
    for (let pi = 0; pi < p; pi++) {
      const row: number[] = [];
      for (let c = 0; c < k; c++) {
        const j = jaccard(pi, c);
        // Pairs under the threshold all cost the same: the assignment maximises the overlap of real matches.
        const base = j >= t.matchJaccard ? Math.round((1 - j) * 1e6) / 1e6 : 2;
        const d = comparable ? centroidDistance(prevClusters[pi]!.centroid, cur.outcome.clusters[c]?.centroid ?? [], scales, weights) : 0;
        row.push(base + tieWeight * (d / (1 + d)));
      }
      cost.push(row);
    }
    for (const [pi, c] of munkres(cost)) if (jaccard(pi, c) >= t.matchJaccard) inherited[c] = pi;
  }

  // Fresh ids in label order (largest cluster first), so the first run numbers its clusters by size.
  const labelIds: string[] = [];
  for (let c = 0; c < k; c++) labelIds.push(inherited[c]! >= 0 ? prevClusters[inherited[c]!]!.id : `${prefix}${next++}`);
  const matchedPrev = new Set(inherited.filter((pi) => pi >= 0));

  const events: LifecycleEvent[] = [];
  const byFlow = (ids: Array<[string, number]>): string[] => ids.sort((a, b) => b[1] - a[1] || compareIds(a[0], b[0])).map(([id]) => id);
  for (let c = 0; c < k; c++) {
    if (inherited[c]! >= 0) continue;
    const from: Array<[string, number]> = [];
    for (let pi = 0; pi < p; pi++) {
      const n = inter[pi * k + c] as number;
      if (n > 0 && n >= t.minPartShare * (curCommon[c] as number)) from.push([prevClusters[pi]!.id, n]);
    }
    events.push({ type: 'born', clusterId: labelIds[c]!, size: curSize[c]!, from: byFlow(from), into: [] });
  }
  for (let pi = 0; pi < p; pi++) {
    if (matchedPrev.has(pi)) continue;
    const into: Array<[string, number]> = [];
    for (let c = 0; c < k; c++) {
      const n = inter[pi * k + c] as number;
      if (n > 0 && n >= t.minPartShare * (prevCommon[pi] as number)) into.push([labelIds[c]!, n]);
    }
    events.push({ type: 'died', clusterId: prevClusters[pi]!.id, size: prevSize[pi]!, from: [], into: byFlow(into) });
  }
  for (let pi = 0; pi < p; pi++) {
    const parts: Array<[string, number]> = [];
    for (let c = 0; c < k; c++) {
      const n = inter[pi * k + c] as number;
      if (n > 0 && n >= t.majority * (curCommon[c] as number) && n >= t.minPartShare * (prevCommon[pi] as number)) parts.push([labelIds[c]!, n]);
    }
    if (parts.length >= 2) events.push({ type: 'split', clusterId: prevClusters[pi]!.id, size: prevSize[pi]!, from: [], into: byFlow(parts) });
  }
  for (let c = 0; c < k; c++) {
    const sources: Array<[string, number]> = [];
    for (let pi = 0; pi < p; pi++) {
      const n = inter[pi * k + c] as number;
      if (n > 0 && n >= t.majority * (prevCommon[pi] as number)) sources.push([prevClusters[pi]!.id, n]);
    }
    if (sources.length >= 2) events.push({ type: 'merged', clusterId: labelIds[c]!, size: curSize[c]!, from: byFlow(sources), into: [] });
  }

  yield;
  const moved: MovedEntity[] = [];
  for (let i = 0; i < cur.ids.length; i++) {
    if (i % perStep === perStep - 1) yield;
    const id = cur.ids[i] as string;
    const before = prevOf.get(id);
    if (before === undefined) continue;
    const l = labels[i] as number;
    const now = l < 0 ? NOISE_CLUSTER_ID : labelIds[l]!;
    if (now !== before) moved.push({ id, from: before, to: now });
  }
  yield;
  moved.sort((a, b) => compareIds(a.id, b.id));
  return { labelIds, next, changes: { events, moved } };
}

function withIds(side: Side, labelIds: string[]): Side {
  const clusterIds = Array.from(side.outcome.labels, (l) => (l < 0 ? NOISE_CLUSTER_ID : labelIds[l]!));
  return { ...side, labelIds, clusterIds };
}

/** Entities of one step of assignIdentitiesSteps' walks: about a millisecond, idle. */
export const IDENTITY_ENTITIES_PER_STEP = 2048;

export interface IdentifiedRun {
  run: ClusteringRun;
  changes: RunChanges;
  state: IdentityState;
}

/** Gives a fresh run the stable ids of the state's previous run, and advances the state to it. */
export function assignIdentities(run: ClusteringRun, state: IdentityState, t: IdentityThresholds = defaultThresholds): IdentifiedRun {
  return runToEnd(assignIdentitiesSteps(run, state, Number.POSITIVE_INFINITY, t));
}

/** assignIdentities as steps of at most `perStep` entities per walk (matchSideSteps), for a caller that serves reads. */
export function* assignIdentitiesSteps(
  run: ClusteringRun,
  state: IdentityState,
  perStep: number,
  t: IdentityThresholds = defaultThresholds,
): Generator<void, IdentifiedRun, void> {
  const vms = yield* matchSideSteps(state.previous?.vms ?? null, run.vms, VM_CLUSTER_PREFIX, state.nextVm, t, perStep);
  // Tenant features name VM clusters: by their stable ids from here on (and so comparable across runs).
  const tenantSide = withVmClusterIds(run.tenants, vms.labelIds);
  yield;
  const tenants = yield* matchSideSteps(state.previous?.tenants ?? null, tenantSide, TENANT_CLUSTER_PREFIX, state.nextTenant, t, perStep);
  const vmSide = withIds(run.vms, vms.labelIds);
  yield;
  const identified: ClusteringRun = { ...run, vms: vmSide, tenants: withIds(tenantSide, tenants.labelIds) };
  yield;
  return {
    run: identified,
    changes: { runId: run.runId, previousRunId: state.previous?.runId ?? null, vms: vms.changes, tenants: tenants.changes },
    state: { nextVm: vms.next, nextTenant: tenants.next, previous: seedFrom(identified) },
  };
}

/** The matching seed a run leaves for the next one. */
export function seedFrom(run: ClusteringRun): NonNullable<IdentityState['previous']> {
  return { runId: run.runId, vms: sideClusters(run.vms), tenants: sideClusters(run.tenants) };
}

export function countEvents(changes: SideChanges): Record<LifecycleEventType, number> & { moved: number } {
  const out = { born: 0, died: 0, split: 0, merged: 0, moved: changes.moved.length };
  for (const e of changes.events) out[e.type]++;
  return out;
}
