import densityClustering from 'density-clustering';
import type { Points } from './kmeans.ts';

/**
 * For each point, the distance to its minPoints-th nearest point counting itself, the same count
 * density-clustering's region query uses, so a point is a core point exactly when this is below eps.
 */
export function kDistances(points: Points, minPoints: number): Float64Array {
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
export function dbscan(points: Points, eps: number, minPoints: number): DbscanResult {
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
