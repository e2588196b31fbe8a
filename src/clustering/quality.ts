import { Random } from '../core/random.ts';
import type { Points } from './kmeans.ts';

/**
 * Pairwise Euclidean distances of a fixed subset of points, computed once and reused for every
 * candidate k: the search then costs one O(m^2) pass per k instead of O(m^2 * dims).
 */
export interface DistanceSample {
  /** Row indices of the sampled points, ascending. */
  indices: Int32Array;
  /** Upper triangle, row by row: (0,1), (0,2), ..., (1,2), ... */
  distances: Float64Array;
}

/** A seeded subset of `candidates` of at most `size` rows (all of them when there are few enough). */
export function sampleIndices(candidates: Int32Array, size: number, seed: number): Int32Array {
  if (candidates.length <= size) return Int32Array.from(candidates);
  const pool = Int32Array.from(candidates);
  const rng = new Random(seed ^ 0x5bd1e995);
  // Partial Fisher-Yates: only the first `size` positions need to be random.
  for (let i = 0; i < size; i++) {
    const j = i + Math.floor(rng.next() * (pool.length - i));
    const t = pool[i] as number;
    pool[i] = pool[j] as number;
    pool[j] = t;
  }
  return pool.subarray(0, size).sort();
}

export function distanceSample(points: Points, indices: Int32Array): DistanceSample {
  const { data, dims } = points;
  const m = indices.length;
  const distances = new Float64Array((m * (m - 1)) / 2);
  let p = 0;
  for (let a = 0; a < m; a++) {
    const oa = (indices[a] as number) * dims;
    for (let b = a + 1; b < m; b++) {
      const ob = (indices[b] as number) * dims;
      let s = 0;
      for (let j = 0; j < dims; j++) {
        const d = (data[oa + j] as number) - (data[ob + j] as number);
        s += d * d;
      }
      distances[p++] = Math.sqrt(s);
    }
  }
  return { indices, distances };
}

/**
 * Mean silhouette of the sampled points, each measured against all other sampled points (as
 * scikit-learn's silhouette_score with sample_size). Points alone in their cluster score 0, as in
 * scikit-learn. `labels` are per row of the full data; noise (-1) must not be in the sample.
 * Returns null when fewer than 2 clusters are present in the sample.
 */
export function silhouette(sample: DistanceSample, labels: Int32Array, k: number): number | null {
  return silhouetteDetail(sample, labels, k)?.mean ?? null;
}

export interface SilhouetteDetail {
  mean: number;
  /** Mean silhouette of the sampled members of each cluster (NaN when none was sampled). */
  perCluster: Float64Array;
  /** Sampled members per cluster. */
  sampled: Int32Array;
}

export function silhouetteDetail(sample: DistanceSample, labels: Int32Array, k: number): SilhouetteDetail | null {
  const { indices, distances } = sample;
  const m = indices.length;
  const lab = new Int32Array(m);
  const sizes = new Int32Array(k);
  for (let a = 0; a < m; a++) {
    const l = labels[indices[a] as number] as number;
    lab[a] = l;
    sizes[l] = (sizes[l] as number) + 1;
  }
  let present = 0;
  for (let c = 0; c < k; c++) if ((sizes[c] as number) > 0) present++;
  if (present < 2) return null;
  // sums[a * k + c]: total distance from sampled point a to the sampled members of cluster c.
  const sums = new Float64Array(m * k);
  let p = 0;
  for (let a = 0; a < m; a++) {
    const la = lab[a] as number;
    const rowA = a * k;
    for (let b = a + 1; b < m; b++) {
      const d = distances[p++] as number;
      sums[rowA + (lab[b] as number)] = (sums[rowA + (lab[b] as number)] as number) + d;
      const ib = b * k + la;
      sums[ib] = (sums[ib] as number) + d;
    }
  }
  let total = 0;
  const perCluster = new Float64Array(k);
  for (let a = 0; a < m; a++) {
    const la = lab[a] as number;
    const own = sizes[la] as number;
    if (own <= 1) continue;
    const intra = (sums[a * k + la] as number) / (own - 1);
    let nearest = Number.POSITIVE_INFINITY;
    for (let c = 0; c < k; c++) {
      const n = sizes[c] as number;
      if (c === la || n === 0) continue;
      const v = (sums[a * k + c] as number) / n;
      if (v < nearest) nearest = v;
    }
    const denom = Math.max(intra, nearest);
    if (denom > 0) {
      const sa = (nearest - intra) / denom;
      total += sa;
      perCluster[la] = (perCluster[la] as number) + sa;
    }
  }
  for (let c = 0; c < k; c++) perCluster[c] = (sizes[c] as number) > 0 ? (perCluster[c] as number) / (sizes[c] as number) : Number.NaN;
  return { mean: total / m, perCluster, sampled: sizes };
}

/** Total sum of squares around the grand mean; with the inertia it gives the between-cluster part. */
export function totalSumOfSquares(points: Points): number {
  const { data, rows, dims } = points;
  if (rows === 0) return 0;
  const mean = new Float64Array(dims);
  for (let i = 0; i < rows; i++) for (let j = 0; j < dims; j++) mean[j] = (mean[j] as number) + (data[i * dims + j] as number);
  for (let j = 0; j < dims; j++) mean[j] = (mean[j] as number) / rows;
  let s = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < dims; j++) {
      const d = (data[i * dims + j] as number) - (mean[j] as number);
      s += d * d;
    }
  }
  return s;
}

/**
 * Calinski-Harabasz: between-cluster dispersion per degree of freedom over within-cluster dispersion per
 * degree of freedom. A perfect partition (no within-cluster spread) is capped to a finite number so
 * outcomes stay JSON-serialisable.
 */
export function calinskiHarabasz(total: number, inertia: number, rows: number, k: number): number {
  if (k < 2 || rows <= k) return 0;
  const between = Math.max(0, total - inertia);
  if (!(inertia > 0)) return between > 0 ? Number.MAX_VALUE : 0;
  return (between / (k - 1)) / (inertia / (rows - k));
}

/**
 * Exact mean silhouette of some members of one cluster against every point (noise excluded). Used for
 * clusters too small to be represented in the silhouette sample, whose sampled score would be missing
 * or the meaningless 0 of a lone sampled member.
 */
export function clusterSilhouetteExact(points: Points, labels: Int32Array, k: number, members: readonly number[]): number {
  const { data, rows, dims } = points;
  const sizes = new Int32Array(k);
  for (let i = 0; i < rows; i++) {
    const l = labels[i] as number;
    if (l >= 0) sizes[l] = (sizes[l] as number) + 1;
  }
  const sums = new Float64Array(k);
  let total = 0;
  for (const a of members) {
    const own = labels[a] as number;
    if ((sizes[own] as number) <= 1) continue;
    sums.fill(0);
    for (let i = 0; i < rows; i++) {
      const l = labels[i] as number;
      if (l < 0 || i === a) continue;
      let s = 0;
      for (let j = 0; j < dims; j++) {
        const d = (data[a * dims + j] as number) - (data[i * dims + j] as number);
        s += d * d;
      }
      sums[l] = (sums[l] as number) + Math.sqrt(s);
    }
    const intra = (sums[own] as number) / ((sizes[own] as number) - 1);
    let nearest = Number.POSITIVE_INFINITY;
    for (let c = 0; c < k; c++) {
      if (c === own || (sizes[c] as number) === 0) continue;
      nearest = Math.min(nearest, (sums[c] as number) / (sizes[c] as number));
    }
    const denom = Math.max(intra, nearest);
    if (denom > 0 && Number.isFinite(nearest)) total += (nearest - intra) / denom;
  }
  return members.length > 0 ? total / members.length : Number.NaN;
}
