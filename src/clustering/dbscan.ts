import densityClustering from 'density-clustering';
import type { Points } from './kmeans.ts';
import { KdIndex } from './kd-index.ts';

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
 * Principal axes the index keeps (all of them for the VM features). Measured on the scale bench's 100k
 * VMs (45 features) at the knee eps: with the top 3, 10, 20 axes, 2,618, 1,137 and 350 points per query
 * passed the projected filter for 47 true neighbours; with all 45 (a rotation, exact) 47, and the
 * queries took a quarter of the time of 10 axes.
 */
export const INDEX_AXES = 64;

/**
 * Above KNEE_SAMPLE_ABOVE rows the knee's k-distances are computed for a seeded sample of KNEE_SAMPLE
 * rows (each still against every row): at 100k VMs the k-distances of every row cost more than the
 * clustering, and the sample's knee (0.364-0.366) was within 1% of all rows' (0.369). Below it every row
 * counts: the knee's scale is set by the largest k-distances, a handful of outliers that a sample often
 * misses; on bench-1m's 11,642 VMs a 5,000-row sample moved the knee from 1.358 to 1.036.
 */
export const KNEE_SAMPLE = 5000;
export const KNEE_SAMPLE_ABOVE = 20_000;

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
 * kDistancesBruteForce through the k-d index, for every row or only for `queries` (rows; the result is
 * then per query, each still against every row): the same values, bit for bit.
 */


export function kDistances(points: Points, minPoints: number, index: KdIndex = new KdIndex(points, INDEX_AXES), queries?: Int32Array): Float64Array {
  const { data, rows, dims } = points;
  const kth = Math.max(1, Math.min(minPoints, rows));
  const n = queries ? queries.length : rows;
  const out = new Float64Array(n);
  const buf = new Float64Array(kth);
  for (let q = 0; q < n; q++) {
    const i = queries ? queries[q]! : q;
    index.nearest(i, buf, (j) => squaredDistance(data, dims, i, j));
    out[q] = Math.sqrt(buf[kth - 1]!);
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
 * One pass over the k-d index lists every neighbour pair once (each row searches only the rows after it
 * in tree order, so half the tree); counts, unions and border assignments all come from that list. Only
 * when the pairs would pass MAX_PAIRS (a huge eps) does it query neighbourhoods again, pass by pass.
 */
export function dbscan(
  points: Points,
  eps: number,
  minPoints: number,
  index: KdIndex = new KdIndex(points, INDEX_AXES),
  maxPairs = MAX_PAIRS,
): DbscanResult {
  const { data, rows, dims } = points;
  // The brute-force version passes 0 as "keep the default" guards to the library the same way.
  const e = Math.max(eps, Number.MIN_VALUE);
  const minPts = Math.max(1, minPoints);
  const pairs = neighbourPairs(index, data, dims, e, maxPairs);
  if (pairs !== null) return labelFromPairs(rows, minPts, pairs);
  return dbscanByQueries(index, points, e, minPts);
}

/**
 * Pairs kept at most (two Int32 each, so at most 128 MB): past this, neighbourhoods are queried again
 * instead of stored. 100k VMs at the knee eps make 2.2M pairs.
 */
const MAX_PAIRS = 1 << 24;

interface Pairs {
  a: Int32Array;
  b: Int32Array;
  count: number;
}

/** Every pair of distinct rows at distance < eps, each once, or null past maxPairs. */
function neighbourPairs(index: KdIndex, data: Float64Array, dims: number, e: number, maxPairs: number): Pairs | null {
  let a: Int32Array = new Int32Array(1024);
  let b: Int32Array = new Int32Array(1024);
  let count = 0;
  let overflow = false;
  index.pairs(e, (i, j) => {
    if (overflow || libraryDistance(data, dims, i, j) >= e) return;
    if (count >= maxPairs) {
      overflow = true;
      return;
    }
    if (count === a.length) {
      const grow = (old: Int32Array): Int32Array => {
        const next = new Int32Array(old.length * 2);
        next.set(old);
        return next;
      };
      a = grow(a);
      b = grow(b);
    }
    a[count] = i;
    b[count] = j;
    count++;
  });
  return overflow ? null : { a, b, count };
}

/** density-clustering's labels (see dbscan) from the list of neighbour pairs. */
function labelFromPairs(rows: number, minPts: number, pairs: Pairs): DbscanResult {
  const { a, b, count } = pairs;
  // Each point is its own neighbour, as in the library's region query.
  const neighbours = new Int32Array(rows).fill(1);
  for (let p = 0; p < count; p++) {
    neighbours[a[p]!]!++;
    neighbours[b[p]!]!++;
  }
  const core = new Uint8Array(rows);
  for (let i = 0; i < rows; i++) if (neighbours[i]! >= minPts) core[i] = 1;
  const sets = new LowestRootSets(rows);
  for (let p = 0; p < count; p++) {
    const i = a[p]!;
    const j = b[p]!;
    if (core[i] === 1 && core[j] === 1) sets.union(i, j);
  }
  const { labels, rawK } = labelCores(core, sets);
  // A non-core point takes the lowest label among its core neighbours.
  for (let p = 0; p < count; p++) {
    const i = a[p]!;
    const j = b[p]!;
    if (core[i] === 1 && core[j] !== 1 && (labels[j] === -1 || labels[i]! < labels[j]!)) labels[j] = labels[i]!;
    else if (core[j] === 1 && core[i] !== 1 && (labels[i] === -1 || labels[j]! < labels[i]!)) labels[i] = labels[j]!;
  }
  let noise = 0;
  for (let i = 0; i < rows; i++) if (labels[i] === -1) noise++;
  return { labels, rawK, noise };
}

/** The same labels without storing pairs: three passes of queries (core test, union, border). */
function dbscanByQueries(index: KdIndex, points: Points, e: number, minPts: number): DbscanResult {
  const { data, rows, dims } = points;
  const core = new Uint8Array(rows);
  for (let i = 0; i < rows; i++) {
    let count = 0;
    index.range(i, e, (j) => {
      if (libraryDistance(data, dims, i, j) < e) count++;
      return count < minPts;
    });
    if (count >= minPts) core[i] = 1;
  }

  const sets = new LowestRootSets(rows);
  for (let i = 0; i < rows; i++) {
    if (core[i] !== 1) continue;
    index.range(i, e, (j) => {
      if (j === i || core[j] !== 1) return true;
      if (sets.find(i) !== sets.find(j) && libraryDistance(data, dims, i, j) < e) sets.union(i, j);
      return true;
    });
  }

  const { labels, rawK } = labelCores(core, sets);
  let noise = 0;
  for (let i = 0; i < rows; i++) {
    if (core[i] === 1) continue;
    let best = -1;
    index.range(i, e, (j) => {
      if (core[j] === 1 && (best === -1 || labels[j]! < best) && libraryDistance(data, dims, i, j) < e) best = labels[j]!;
      return true;
    });
    labels[i] = best;
    if (best === -1) noise++;
  }
  return { labels, rawK, noise };
}

/** Union-find whose root is always the lowest row of its set, so that sets are ordered by their first row. */
class LowestRootSets {
  private readonly parent: Int32Array;

  constructor(rows: number) {
    this.parent = Int32Array.from({ length: rows }, (_, i) => i);
  }

  find(i: number): number {
    const parent = this.parent;
    let r = i;
    while (parent[r] !== r) r = parent[r]!;
    while (parent[i] !== r) {
      const next = parent[i]!;
      parent[i] = r;
      i = next;
    }
    return r;
  }

  union(i: number, j: number): void {
    const ri = this.find(i);
    const rj = this.find(j);
    if (ri < rj) this.parent[rj] = ri;
    else if (rj < ri) this.parent[ri] = rj;
  }
}

/**
 * Cluster labels of the core points, numbered by each set's lowest row (rows ascending meet a set's root
 * before its other members); every other point -1.
 */
function labelCores(core: Uint8Array, sets: LowestRootSets): { labels: Int32Array; rawK: number } {
  const rows = core.length;
  const labels = new Int32Array(rows).fill(-1);
  const labelOfRoot = new Int32Array(rows).fill(-1);
  let rawK = 0;
  for (let i = 0; i < rows; i++) {
    if (core[i] !== 1) continue;
    const r = sets.find(i);
    if (labelOfRoot[r] === -1) labelOfRoot[r] = rawK++;
    labels[i] = labelOfRoot[r]!;
  }
  return { labels, rawK };
}
