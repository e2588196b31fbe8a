import densityClustering from 'density-clustering';
import type { Points } from './kmeans.ts';
import { principalComponents } from './pca.ts';

/**
 * For each point, the distance to its minPoints-th nearest point counting itself, the same count
 * density-clustering's region query uses, so a point is a core point exactly when this is below eps.
 */
export function kDistancesBruteForce(points: Points, minPoints: number): Float64Array {
  const { data, rows, dims } = points;
  const kth = Math.max(1, Math.min(minPoints, rows));
  const out = new Float64Array(rows);
  // Sorted buffer of the kth smallest squared distances seen so far for the current row.
  const buf = new Float64Array(kth);
  for (let i = 0; i < rows; i++) {
    buf.fill(Number.POSITIVE_INFINITY);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let j = 0; j < dims; j++) {
        const d = (data[i * dims + j] as number) - (data[r * dims + j] as number);
        s += d * d;
      }
      if (s >= (buf[kth - 1] as number)) continue;
      let p = kth - 1;
      while (p > 0 && (buf[p - 1] as number) > s) {
        buf[p] = buf[p - 1] as number;
        p--;
      }
      buf[p] = s;
    }
    out[i] = Math.sqrt(buf[kth - 1] as number);
  }
  return out;
}

/**
 * eps at the knee of the sorted k-distance curve (Ester et al.'s heuristic), located as in Kneedle
 * (Satopaa et al. 2011, without smoothing): scale both axes to [0, 1] and take the point furthest
 * below the straight line from the first to the last point. Left of the knee k-distances grow slowly
 * (points inside dense regions); right of it they shoot up (sparse points, which become noise).
 */
export function kneeEps(kDist: Float64Array): number {
  const sorted = Float64Array.from(kDist).sort();
  const n = sorted.length;
  if (n === 0) return Number.MIN_VALUE;
  const lo = sorted[0] as number;
  const hi = sorted[n - 1] as number;
  let eps = hi;
  if (n > 2 && hi > lo) {
    let best = -1;
    for (let i = 0; i < n; i++) {
      const gap = i / (n - 1) - ((sorted[i] as number) - lo) / (hi - lo);
      if (gap > best) {
        best = gap;
        eps = sorted[i] as number;
      }
    }
  }
  // density-clustering counts neighbours at distance < eps, strictly; nudge so the knee point itself
  // and its equals are core points.
  return eps > 0 ? eps * (1 + 1e-9) : Number.MIN_VALUE;
}

export interface DbscanResult {
  labels: Int32Array;
  rawK: number;
  noise: number;
}

/**
 * DBSCAN through density-clustering (O(n^2) region queries). Its border points can stay in the noise
 * list after joining a cluster, and a border point can be listed by two clusters: the labels are
 * rebuilt from the cluster lists alone, first cluster wins, and noise is whatever no cluster claimed.
 */
export function dbscanBruteForce(points: Points, eps: number, minPoints: number): DbscanResult {
  const { data, rows, dims } = points;
  const dataset: number[][] = [];
  for (let i = 0; i < rows; i++) dataset.push(Array.from(data.subarray(i * dims, i * dims + dims)));
  // The library treats 0 as "keep the default" for both parameters, so never pass 0.
  const clusters = new densityClustering.DBSCAN().run(dataset, Math.max(eps, Number.MIN_VALUE), Math.max(1, minPoints));
  const labels = new Int32Array(rows).fill(-1);
  clusters.forEach((members, c) => {
    for (const i of members) if (labels[i] === -1) labels[i] = c;
  });
  let noise = 0;
  for (let i = 0; i < rows; i++) if (labels[i] === -1) noise++;
  return { labels, rawK: clusters.length, noise };
}

/**
 * Relative slack on every pruning bound: the projected coordinates are computed in floating point, so a
 * bound that is mathematically <= the true distance can come out a hair above it. Pruning a little less
 * keeps the index exact; the final test is always the brute-force arithmetic.
 */
const SLACK = 1e-7;
/** Principal axes the index projects on: enough to prune well, few enough that bounds stay cheap. */
const INDEX_AXES = 3;

/**
 * An exact neighbour index for any number of dimensions. Points are projected on their top principal
 * axes (orthonormal, so the distance between two projections never exceeds the true distance) and sorted
 * by the first. A query scans only the slice of that order within range on the first axis, skips points
 * whose projected distance is already too large, and computes true distances for the rest. In the
 * standardised 45-dimensional space a k-d tree prunes nothing; this sweep relies only on the data
 * spreading along its first axis, which clustered fleets do.
 */
class ProjectionIndex {
  /** Row indices sorted by the first projected coordinate. */
  readonly order: Int32Array;
  /** Position of each row in `order`. */
  readonly position: Int32Array;
  /** Projected coordinates by position in `order` (axes contiguous per point), for cache-friendly scans. */
  readonly proj: Float64Array;
  readonly axes: number;

  constructor(readonly points: Points) {
    const { data, rows, dims } = points;
    const mean = new Float64Array(dims);
    for (let i = 0; i < rows; i++) for (let j = 0; j < dims; j++) mean[j]! += data[i * dims + j]!;
    for (let j = 0; j < dims; j++) mean[j]! /= Math.max(1, rows);
    const centred = new Float64Array(rows * dims);
    for (let i = 0; i < rows; i++) for (let j = 0; j < dims; j++) centred[i * dims + j] = data[i * dims + j]! - mean[j]!;
    const pca = principalComponents(centred, rows, dims, 1, INDEX_AXES);
    const axes = pca ? pca.components : 1;
    // No variance at all: every projection is 0, the index degenerates to a full scan, which is still correct.
    const coords = pca ? pca.data : new Float64Array(rows);
    this.axes = axes;
    this.order = Int32Array.from({ length: rows }, (_, i) => i).sort((a, b) => coords[a * axes]! - coords[b * axes]! || a - b);
    this.position = new Int32Array(rows);
    this.proj = new Float64Array(rows * axes);
    for (let p = 0; p < rows; p++) {
      const i = this.order[p]!;
      this.position[i] = p;
      for (let c = 0; c < axes; c++) this.proj[p * axes + c] = coords[i * axes + c]!;
    }
  }

  /** Squared distance of the projections at positions p and q: a lower bound of the true squared distance. */
  projected(p: number, q: number): number {
    const { proj, axes } = this;
    let s = 0;
    for (let c = 0; c < axes; c++) {
      const d = proj[p * axes + c]! - proj[q * axes + c]!;
      s += d * d;
    }
    return s;
  }

  /**
   * Calls visit(row) for every row j whose true distance to `row` may be < eps (a superset, in order of
   * position); visit returns false to stop early.
   */
  scan(row: number, eps: number, visit: (j: number) => boolean): void {
    const { order, proj, axes } = this;
    const p = this.position[row]!;
    const x = proj[p * axes]!;
    const reach = eps * (1 + SLACK);
    const reach2 = reach * reach;
    let lo = p;
    while (lo > 0 && x - proj[(lo - 1) * axes]! < reach) lo--;
    const n = order.length;
    for (let q = lo; q < n; q++) {
      if (proj[q * axes]! - x >= reach) break;
      // '>' rather than '>=': for the tiniest eps, reach2 underflows to 0 and must not exclude the point itself.
      if (this.projected(p, q) > reach2) continue;
      if (!visit(order[q]!)) return;
    }
  }
}

/** The same arithmetic as density-clustering's distance (dimensions summed last to first), so "< eps" decides alike. */
function libraryDistance(data: Float64Array, dims: number, a: number, b: number): number {
  let s = 0;
  for (let j = dims - 1; j >= 0; j--) {
    const d = data[a * dims + j]! - data[b * dims + j]!;
    s += d * d;
  }
  return Math.sqrt(s);
}

/** The arithmetic of kDistancesBruteForce (squared, first to last), so both give the same values bit for bit. */
function squaredDistance(data: Float64Array, dims: number, a: number, b: number): number {
  let s = 0;
  for (let j = 0; j < dims; j++) {
    const d = data[a * dims + j]! - data[b * dims + j]!;
    s += d * d;
  }
  return s;
}

/**
 * kDistancesBruteForce through the projection index: for each point, scan outwards along the first axis
 * from its position and stop once the gap on that axis alone exceeds the current k-th best distance.
 */
export function kDistances(points: Points, minPoints: number, index: ProjectionIndex = new ProjectionIndex(points)): Float64Array {
  const { data, rows, dims } = points;
  const kth = Math.max(1, Math.min(minPoints, rows));
  const out = new Float64Array(rows);
  const buf = new Float64Array(kth);
  const { order, proj, axes } = index;
  const consider = (i: number, p: number, q: number): void => {
    const limit = buf[kth - 1]!;
    if (index.projected(p, q) * (1 - SLACK) > limit) return;
    const s = squaredDistance(data, dims, i, order[q]!);
    if (s >= limit) return;
    let t = kth - 1;
    while (t > 0 && buf[t - 1]! > s) {
      buf[t] = buf[t - 1]!;
      t--;
    }
    buf[t] = s;
  };
  for (let i = 0; i < rows; i++) {
    buf.fill(Number.POSITIVE_INFINITY);
    const p = index.position[i]!;
    const x = proj[p * axes]!;
    let down = p;
    let up = p + 1;
    // Walk both directions, nearer side first; the first-axis gap only grows, so stop each side at the bound.
    for (;;) {
      const bound = buf[kth - 1]! * (1 + SLACK);
      const gapDown = down >= 0 ? x - proj[down * axes]! : Number.POSITIVE_INFINITY;
      const gapUp = up < rows ? proj[up * axes]! - x : Number.POSITIVE_INFINITY;
      const downOk = down >= 0 && gapDown * gapDown <= bound;
      const upOk = up < rows && gapUp * gapUp <= bound;
      if (!downOk && !upOk) break;
      if (downOk && (!upOk || gapDown <= gapUp)) consider(i, p, down--);
      else consider(i, p, up++);
    }
    out[i] = Math.sqrt(buf[kth - 1]!);
  }
  return out;
}

/**
 * DBSCAN with the labels of dbscanBruteForce (density-clustering), without comparing every pair.
 * density-clustering's result is fully determined by three facts, which this computes directly:
 * - a point is core when at least minPoints points (itself included) lie at distance < eps;
 * - clusters are the connected components of core points (core pairs at distance < eps), numbered in the
 *   order of their lowest core row (the library starts a cluster at the first unvisited core point, and
 *   a component's lowest core point can only be reached through its own component);
 * - a non-core point joins the lowest-numbered cluster with a core point at distance < eps (the library
 *   expands clusters one after another and assigns a point once), else it is noise.
 * Core tests stop at minPoints neighbours, and the union of core points skips pairs already joined, so
 * dense clusters cost little more than their size.
 */
export function dbscan(points: Points, eps: number, minPoints: number): DbscanResult {
  const { data, rows, dims } = points;
  // The brute-force version passes 0 as "keep the default" guards to the library the same way.
  const e = Math.max(eps, Number.MIN_VALUE);
  const minPts = Math.max(1, minPoints);
  const index = new ProjectionIndex(points);
  const core = new Uint8Array(rows);
  for (let i = 0; i < rows; i++) {
    let count = 0;
    index.scan(i, e, (j) => {
      if (libraryDistance(data, dims, i, j) < e) count++;
      return count < minPts;
    });
    if (count >= minPts) core[i] = 1;
  }

  // Union-find over core points; the root of a set is always its lowest row, which orders the clusters.
  const parent = Int32Array.from({ length: rows }, (_, i) => i);
  const find = (i: number): number => {
    let r = i;
    while (parent[r] !== r) r = parent[r]!;
    while (parent[i] !== r) {
      const next = parent[i]!;
      parent[i] = r;
      i = next;
    }
    return r;
  };
  for (let i = 0; i < rows; i++) {
    if (core[i] !== 1) continue;
    index.scan(i, e, (j) => {
      if (j === i || core[j] !== 1) return true;
      const ri = find(i);
      const rj = find(j);
      if (ri !== rj && libraryDistance(data, dims, i, j) < e) {
        if (ri < rj) parent[rj] = ri;
        else parent[ri] = rj;
      }
      return true;
    });
  }

  const labels = new Int32Array(rows).fill(-1);
  const labelOfRoot = new Int32Array(rows).fill(-1);
  let rawK = 0;
  // Rows ascending: a set's root (its lowest core row) is met before its other members.
  for (let i = 0; i < rows; i++) {
    if (core[i] !== 1) continue;
    const r = find(i);
    if (labelOfRoot[r] === -1) labelOfRoot[r] = rawK++;
    labels[i] = labelOfRoot[r]!;
  }
  let noise = 0;
  for (let i = 0; i < rows; i++) {
    if (core[i] === 1) continue;
    let best = -1;
    index.scan(i, e, (j) => {
      if (core[j] === 1 && (best === -1 || labels[j]! < best) && libraryDistance(data, dims, i, j) < e) best = labels[j]!;
      return true;
    });
    labels[i] = best;
    if (best === -1) noise++;
  }
  return { labels, rawK, noise };
}
