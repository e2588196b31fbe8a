/**
 * Warm runs and the drift that ends them. A periodic run starts from the previous run's partition: its
 * clusters' centres, recomputed in this run's clustering space from the members that are still here, seed
 * one k-means fit (as streaming k-means does). The k search runs again only when that warm fit says the
 * fleet has changed, or when too many runs have passed since the last search. docs/clustering.md explains
 * the statistics and the defaults.
 */
import type { Points } from './kmeans.ts';

/** What a run keeps of its predecessor, aligned to this run's rows. */
export interface WarmStart {
  /** The previous run's label of each current row; -1 for rows that are new since. */
  labels: Int32Array;
  /** Clusters of the previous run (labels are 0..k-1). */
  k: number;
  /** Unexplained share (inertia / total sum of squares) of the final fit of the last run that searched; null when unknown. */
  referenceUnexplained: number | null;
  /** Runs since the last search, that search not counted (0: the previous run searched). */
  runsSinceSearch: number;
}

export interface DriftPolicy {
  /** The search runs at the latest on the run this many runs after the last search (1: every run searches). */
  maxRunsBetweenSearches: number;
  /** Drift when the warm fit's unexplained share exceeds the reference by more than this fraction of it. */
  unexplainedRise: number;
  /** Drift when more than this share of the rows that were in the previous run change cluster in the warm fit. */
  movedShare: number;
  /** Drift when more than this share of the rows are new since the previous run. */
  newShare: number;
}

export const defaultDriftPolicy: DriftPolicy = {
  maxRunsBetweenSearches: 12,
  unexplainedRise: 0.15,
  movedShare: 0.1,
  newShare: 0.2,
};

export type SearchReason =
  /** Searched: no previous run to start from (or it had too few clusters to warm-start). */
  | 'no-previous-run'
  /** Searched: asked for (POST /v1/recluster with "search": true). */
  | 'requested'
  /** Searched: maxRunsBetweenSearches runs since the last search. */
  | 'run-cap'
  /** Searched: the previous run has no reference unexplained share (a run of an older version). */
  | 'no-reference'
  /** Searched: a previous cluster has no member left, or ended empty in the warm fit. */
  | 'cluster-lost'
  /** Searched: drift by the share of new rows. */
  | 'new-rows'
  /** Searched: drift by the share of rows that changed cluster. */
  | 'moved'
  /** Searched: drift by the rise of the unexplained share. */
  | 'unexplained-rise'
  /** Searched: the last run over a whole trace (replay, the embedded demo), whose result is the product. */
  | 'final-run'
  /** Searched (tenants): the VM side searched, so the tenants' mix columns may mean other clusters. */
  | 'vm-searched'
  /** Warm: no statistic crossed its threshold. */
  | 'no-drift'
  /** k was fixed: never a search, a warm fit when the previous run had that k. */
  | 'fixed-k';

/** Every reason, for the readers of persisted records. */
export const SEARCH_REASONS = [
  'no-previous-run',
  'requested',
  'run-cap',
  'no-reference',
  'cluster-lost',
  'new-rows',
  'moved',
  'unexplained-rise',
  'final-run',
  'vm-searched',
  'no-drift',
  'fixed-k',
] as const satisfies readonly SearchReason[];

/** Why a search was asked for whatever the drift. */
export type ForcedSearch = Extract<SearchReason, 'requested' | 'final-run' | 'vm-searched'>;

/** The warm fit's measurements; null fields were not measured. */
export interface DriftMeasures {
  /** Inertia / total sum of squares of the warm fit, over all rows. */
  unexplained: number;
  /** Share of the rows that were in the previous run whose cluster differs in the warm fit. */
  moved: number;
  /** Share of the rows that are new since the previous run. */
  newRows: number;
  /** Previous clusters with no member left or empty after the warm fit. */
  lostClusters: number;
}

/** Whether and why a run searched k, recorded in the outcome, the run history and the metrics. */
export interface SearchRecord {
  searched: boolean;
  reason: SearchReason;
  /** Runs since the last search after this run (0 when it searched). */
  runsSinceSearch: number;
  /** The reference for the next run: this run's unexplained share when it searched, else the one it was given. */
  referenceUnexplained: number | null;
  /** Set when a warm fit was made. */
  drift: DriftMeasures | null;
}

export interface WarmCentres {
  /** Row-major k * dims: the mean of the surviving members of each previous cluster that has any. */
  centres: Float64Array;
  /** Centre index of each previous label; -1 when that cluster has no member left. */
  centreOf: Int32Array;
  k: number;
}

/** The previous clusters' centres in this run's space, from the members that are still here. */
export function warmCentres(points: Points, warm: WarmStart): WarmCentres {
  const { data, rows, dims } = points;
  const counts = new Int32Array(warm.k);
  const sums = new Float64Array(warm.k * dims);
  for (let i = 0; i < rows; i++) {
    const l = warm.labels[i] as number;
    if (l < 0 || l >= warm.k) continue;
    counts[l] = (counts[l] as number) + 1;
    const o = l * dims;
    const p = i * dims;
    for (let j = 0; j < dims; j++) sums[o + j] = (sums[o + j] as number) + (data[p + j] as number);
  }
  const centreOf = new Int32Array(warm.k).fill(-1);
  let k = 0;
  for (let c = 0; c < warm.k; c++) if ((counts[c] as number) > 0) centreOf[c] = k++;
  const centres = new Float64Array(k * dims);
  for (let c = 0; c < warm.k; c++) {
    const to = centreOf[c] as number;
    if (to < 0) continue;
    const n = counts[c] as number;
    for (let j = 0; j < dims; j++) centres[to * dims + j] = (sums[c * dims + j] as number) / n;
  }
  return { centres, centreOf, k };
}

/** The warm fit's drift measures against the previous partition. */
export function measureDrift(warm: WarmStart, start: WarmCentres, labels: Int32Array, inertia: number, totalSumOfSquares: number): DriftMeasures {
  const rows = labels.length;
  let kept = 0;
  let moved = 0;
  const sizes = new Int32Array(start.k);
  for (let i = 0; i < rows; i++) {
    const l = labels[i] as number;
    sizes[l] = (sizes[l] as number) + 1;
    const p = warm.labels[i] as number;
    if (p < 0 || p >= warm.k) continue;
    kept++;
    if ((start.centreOf[p] as number) !== l) moved++;
  }
  let lost = warm.k - start.k;
  for (let c = 0; c < start.k; c++) if ((sizes[c] as number) === 0) lost++;
  return {
    unexplained: totalSumOfSquares > 0 ? inertia / totalSumOfSquares : 0,
    moved: kept > 0 ? moved / kept : 0,
    newRows: rows > 0 ? (rows - kept) / rows : 0,
    lostClusters: lost,
  };
}

/** The first threshold the warm fit crossed (checked in this order), or 'no-drift'. */
export function driftReason(measures: DriftMeasures, referenceUnexplained: number | null, policy: DriftPolicy): SearchReason {
  if (referenceUnexplained === null) return 'no-reference';
  if (measures.lostClusters > 0) return 'cluster-lost';
  if (measures.newRows > policy.newShare) return 'new-rows';
  if (measures.moved > policy.movedShare) return 'moved';
  if (measures.unexplained > referenceUnexplained * (1 + policy.unexplainedRise)) return 'unexplained-rise';
  return 'no-drift';
}

/** Whether a run must search before any warm fit: nothing to start from, a request, or the run cap. */
export function searchBeforeFit(warm: WarmStart | undefined, forceSearch: ForcedSearch | undefined, policy: DriftPolicy): SearchReason | null {
  if (warm === undefined || warm.k < 2) return 'no-previous-run';
  if (forceSearch !== undefined) return forceSearch;
  if (warm.runsSinceSearch + 1 >= Math.max(1, policy.maxRunsBetweenSearches)) return 'run-cap';
  return null;
}

/** Previous labels by id, aligned to `ids` (-1 for ids the previous run did not have). */
export function alignLabels(previousIds: readonly string[], previousLabels: Int32Array, ids: readonly string[]): Int32Array {
  const byId = new Map<string, number>();
  for (let i = 0; i < previousIds.length; i++) byId.set(previousIds[i] as string, previousLabels[i] as number);
  const out = new Int32Array(ids.length);
  for (let i = 0; i < ids.length; i++) out[i] = byId.get(ids[i] as string) ?? -1;
  return out;
}
