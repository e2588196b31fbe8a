import { Random } from '../core/random.ts';

/** Points as one flat row-major array, which is what makes these loops fast (no per-row arrays). */
export interface Points {
  data: Float64Array;
  rows: number;
  dims: number;
}

export interface KMeansRun {
  k: number;
  labels: Int32Array;
  /** Row-major k * dims. */
  centroids: Float64Array;
  inertia: number;
  iterations: number;
  converged: boolean;
}

/** Same stopping rule as ml-kmeans: every centre moved less than this squared distance. */
export const KMEANS_TOLERANCE = 1e-6;

function squaredDistance(a: Float64Array, ao: number, b: Float64Array, bo: number, dims: number): number {
  let s = 0;
  for (let j = 0; j < dims; j++) {
    const d = (a[ao + j] as number) - (b[bo + j] as number);
    s += d * d;
  }
  return s;
}

/**
 * A well-mixed 32-bit seed per (seed, k, restart), so the run for a given k is the same whether k was
 * fixed or found by the search, and whatever kMin was.
 */
export function restartSeed(seed: number, k: number, restart: number): number {
  let h = (seed >>> 0) ^ Math.imul(k + 1, 0x9e3779b1) ^ Math.imul(restart + 1, 0x85ebca77);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Greedy k-means++ (D^2 sampling, keeping the best of 2 + ln k candidates per step, as scikit-learn
 * does): the greedy step avoids seeding two centres in one blob, which matters when some true groups
 * have only a handful of members. Returns fewer than k centres when there are fewer distinct points.
 */
export function kmeansPlusPlus(points: Points, k: number, rng: Random): Float64Array {
  const { data, rows, dims } = points;
  const centres = new Float64Array(k * dims);
  if (rows === 0 || k === 0) return centres.subarray(0, 0);
  const first = Math.min(rows - 1, Math.floor(rng.next() * rows));
  centres.set(data.subarray(first * dims, first * dims + dims), 0);
  const closest = new Float64Array(rows);
  let potential = 0;
  for (let i = 0; i < rows; i++) {
    const d = squaredDistance(data, i * dims, centres, 0, dims);
    closest[i] = d;
    potential += d;
  }
  const trials = 2 + Math.floor(Math.log(k));
  const candidateDist = new Float64Array(rows);
  const bestDist = new Float64Array(rows);
  for (let c = 1; c < k; c++) {
    if (!(potential > 0)) return centres.subarray(0, c * dims);
    let bestIndex = -1;
    let bestPotential = Number.POSITIVE_INFINITY;
    for (let t = 0; t < trials; t++) {
      const target = rng.next() * potential;
      let acc = 0;
      let pick = -1;
      for (let i = 0; i < rows; i++) {
        const w = closest[i] as number;
        if (w <= 0) continue;
        pick = i;
        acc += w;
        if (acc > target) break;
      }
      // pick >= 0 because potential > 0; the walk can only fall off the end through rounding.
      let candPotential = 0;
      for (let i = 0; i < rows; i++) {
        const d = Math.min(closest[i] as number, squaredDistance(data, i * dims, data, pick * dims, dims));
        candidateDist[i] = d;
        candPotential += d;
      }
      if (candPotential < bestPotential) {
        bestPotential = candPotential;
        bestIndex = pick;
        bestDist.set(candidateDist);
      }
    }
    centres.set(data.subarray(bestIndex * dims, bestIndex * dims + dims), c * dims);
    closest.set(bestDist);
    potential = bestPotential;
  }
  return centres;
}

/**
 * Lloyd's algorithm with Hamerly's bounds (one upper bound to the own centre, one lower bound to all
 * others per point), which skips most distance computations after the first iterations and gives the
 * same assignments as plain Lloyd. It follows ml-kmeans step for step (assign, recompute means, an
 * empty cluster keeps its previous centre, stop when no centre moved more than the tolerance), so its
 * results match ml-kmeans started from the same centres; ml-kmeans itself calls a function per
 * point-centre pair over number[][] and was several times too slow for the k search.
 */
export function lloyd(points: Points, initial: Float64Array, maxIterations: number): KMeansRun {
  const { data, rows, dims } = points;
  const k = initial.length / dims;
  let centres = Float64Array.from(initial);
  let next = new Float64Array(k * dims);
  const labels = new Int32Array(rows);
  const upper = new Float64Array(rows);
  const lower = new Float64Array(rows);
  const half = new Float64Array(k);
  const moved = new Float64Array(k);
  const counts = new Int32Array(k);

  // First assignment is a full scan; it seeds the bounds.
  for (let i = 0; i < rows; i++) {
    let best = Number.POSITIVE_INFINITY;
    let second = Number.POSITIVE_INFINITY;
    let arg = 0;
    for (let c = 0; c < k; c++) {
      const d = squaredDistance(data, i * dims, centres, c * dims, dims);
      if (d < best) {
        second = best;
        best = d;
        arg = c;
      } else if (d < second) second = d;
    }
    labels[i] = arg;
    upper[i] = Math.sqrt(best);
    lower[i] = Math.sqrt(second);
  }

  let iterations = 0;
  let converged = false;
  while (!converged && iterations < Math.max(1, maxIterations)) {
    iterations++;
    if (iterations > 1) {
      for (let c = 0; c < k; c++) {
        let m = Number.POSITIVE_INFINITY;
        for (let c2 = 0; c2 < k; c2++) {
          if (c2 === c) continue;
          const d = squaredDistance(centres, c * dims, centres, c2 * dims, dims);
          if (d < m) m = d;
        }
        half[c] = Math.sqrt(m) / 2;
      }
      for (let i = 0; i < rows; i++) {
        const a = labels[i] as number;
        const bound = Math.max(half[a] as number, lower[i] as number);
        if ((upper[i] as number) <= bound) continue;
        upper[i] = Math.sqrt(squaredDistance(data, i * dims, centres, a * dims, dims));
        if ((upper[i] as number) <= bound) continue;
        let best = Number.POSITIVE_INFINITY;
        let second = Number.POSITIVE_INFINITY;
        let arg = 0;
        for (let c = 0; c < k; c++) {
          const d = squaredDistance(data, i * dims, centres, c * dims, dims);
          if (d < best) {
            second = best;
            best = d;
            arg = c;
          } else if (d < second) second = d;
        }
        labels[i] = arg;
        upper[i] = Math.sqrt(best);
        lower[i] = Math.sqrt(second);
      }
    }

    next.fill(0);
    counts.fill(0);
    for (let i = 0; i < rows; i++) {
      const a = labels[i] as number;
      counts[a] = (counts[a] as number) + 1;
      const o = a * dims;
      const p = i * dims;
      for (let j = 0; j < dims; j++) next[o + j] = (next[o + j] as number) + (data[p + j] as number);
    }
    converged = true;
    let maxMove = 0;
    let maxAt = -1;
    let secondMove = 0;
    for (let c = 0; c < k; c++) {
      const o = c * dims;
      const n = counts[c] as number;
      if (n === 0) for (let j = 0; j < dims; j++) next[o + j] = centres[o + j] as number;
      else for (let j = 0; j < dims; j++) next[o + j] = (next[o + j] as number) / n;
      const m2 = squaredDistance(next, o, centres, o, dims);
      if (m2 > KMEANS_TOLERANCE) converged = false;
      const m = Math.sqrt(m2);
      moved[c] = m;
      if (m > maxMove) {
        secondMove = maxMove;
        maxMove = m;
        maxAt = c;
      } else if (m > secondMove) secondMove = m;
    }
    for (let i = 0; i < rows; i++) {
      const a = labels[i] as number;
      upper[i] = (upper[i] as number) + (moved[a] as number);
      lower[i] = (lower[i] as number) - (a === maxAt ? secondMove : maxMove);
    }
    const swap = centres;
    centres = next;
    next = swap;
  }

  let inertia = 0;
  for (let i = 0; i < rows; i++) inertia += squaredDistance(data, i * dims, centres, (labels[i] as number) * dims, dims);
  return { k, labels, centroids: centres, inertia, iterations, converged };
}

/** Candidates drawn for the one new centre of a warm start: one step, so it can afford more than k-means++. */
const WARM_CANDIDATES = 24;

/**
 * Warm start for k from the best k - 1 solution: keep its centres and add the point, among D^2-sampled
 * candidates, that lowers the k-means potential most (the "fast global k-means" step of Likas et al.
 * 2003). This is what finds small, far groups: k-means++ seeds one of a handful of points with
 * probability proportional to their share of the potential, so a 4-member role far from everything is
 * often missed by all restarts, while its potential reduction ranks it first here. A lone outlier ranks
 * low, since it only removes its own distance.
 */
export function warmStart(points: Points, previous: Float64Array, rng: Random): Float64Array | null {
  const { data, rows, dims } = points;
  const kPrev = previous.length / dims;
  const closest = new Float64Array(rows);
  let potential = 0;
  for (let i = 0; i < rows; i++) {
    let best = Number.POSITIVE_INFINITY;
    for (let c = 0; c < kPrev; c++) best = Math.min(best, squaredDistance(data, i * dims, previous, c * dims, dims));
    closest[i] = best;
    potential += best;
  }
  if (!(potential > 0)) return null;
  let bestGain = 0;
  let bestIndex = -1;
  for (let t = 0; t < WARM_CANDIDATES; t++) {
    const target = rng.next() * potential;
    let acc = 0;
    let pick = -1;
    for (let i = 0; i < rows; i++) {
      const w = closest[i] as number;
      if (w <= 0) continue;
      pick = i;
      acc += w;
      if (acc > target) break;
    }
    let gain = 0;
    for (let i = 0; i < rows; i++) {
      const d = squaredDistance(data, i * dims, data, pick * dims, dims);
      const c = closest[i] as number;
      if (d < c) gain += c - d;
    }
    if (gain > bestGain) {
      bestGain = gain;
      bestIndex = pick;
    }
  }
  if (bestIndex < 0) return null;
  const out = new Float64Array(previous.length + dims);
  out.set(previous, 0);
  out.set(data.subarray(bestIndex * dims, bestIndex * dims + dims), previous.length);
  return out;
}

/**
 * Best of `restarts` seeded k-means++ runs and, when the best k - 1 solution is given, one warm start
 * from it; lowest inertia wins. With fewer than k distinct points the result has as many clusters as
 * there are distinct points (run.k < k), since no more can be non-empty.
 */
export function kmeansBestOf(
  points: Points,
  k: number,
  seed: number,
  restarts: number,
  maxIterations: number,
  previous?: KMeansRun,
): KMeansRun {
  let best: KMeansRun | null = null;
  for (let r = 0; r < Math.max(1, restarts); r++) {
    const init = kmeansPlusPlus(points, k, new Random(restartSeed(seed, k, r)));
    const run = lloyd(points, init, maxIterations);
    // Short seeding means too few distinct points, which no other start can change.
    if (init.length < k * points.dims) return run;
    // Strict < keeps the earliest start on ties, so the choice does not depend on float noise order.
    if (best === null || run.inertia < best.inertia) best = run;
  }
  if (previous !== undefined && previous.k === k - 1) {
    const init = warmStart(points, previous.centroids, new Random(restartSeed(seed, k, -1)));
    if (init !== null) {
      const run = lloyd(points, init, maxIterations);
      if (best === null || run.inertia < best.inertia) best = run;
    }
  }
  return best as KMeansRun;
}

/**
 * Solutions for k = 2, 3, ..., kTo, each warm-started (k = 2 from the grand mean) from the previous one as well as restarted, so
 * that the solution for a given k is the same whether k was fixed or searched. `visit` sees each run;
 * the path stops early when the data has fewer distinct points than k.
 */
export function kmeansPath(
  points: Points,
  kTo: number,
  seed: number,
  restarts: number,
  maxIterations: number,
  visit: (run: KMeansRun) => void,
): void {
  const { data, rows, dims } = points;
  const mean = new Float64Array(dims);
  for (let i = 0; i < rows; i++) for (let j = 0; j < dims; j++) mean[j] = (mean[j] as number) + (data[i * dims + j] as number);
  for (let j = 0; j < dims; j++) mean[j] = (mean[j] as number) / Math.max(1, rows);
  let previous: KMeansRun = lloyd(points, mean, 1);
  for (let k = 2; k <= kTo; k++) {
    const run = kmeansBestOf(points, k, seed, restarts, maxIterations, previous);
    if (run.k < k) return;
    visit(run);
    previous = run;
  }
}
