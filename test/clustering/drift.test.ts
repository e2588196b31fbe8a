import { describe, expect, it } from 'vitest';
import { alignLabels, cluster, type ClusteringOutcome, defaultDriftPolicy, type FeatureMatrix, type WarmStart } from '../../src/clustering/index.ts';
import { kmeansPlusPlus, lloyd, type Points } from '../../src/clustering/kmeans.ts';
import { Random } from '../../src/core/random.ts';
import { makeBlobs } from './synthetic.ts';

const SPECS = Array.from({ length: 6 }, (_, b) => ({ size: 40 + 10 * b, spread: 0.6 }));
const blobs = makeBlobs(7, 8, SPECS);
const OPTIONS = { seed: 3, kMin: 2, kMax: 10, restarts: 3 };

/** The warm start a run of `outcome` gives the next run over the same rows. */
function warmFrom(outcome: ClusteringOutcome, labels: Int32Array = outcome.labels): WarmStart {
  const search = outcome.search!;
  return { labels, k: outcome.k, referenceUnexplained: search.referenceUnexplained, runsSinceSearch: search.runsSinceSearch };
}

function rowsOf(matrix: FeatureMatrix, count: number): FeatureMatrix {
  return { ...matrix, rows: count, data: matrix.data.slice(0, count * matrix.cols) };
}

describe('warm runs', () => {
  const first = cluster(blobs.matrix, OPTIONS);

  it('a run without a previous one searches, and records why', () => {
    expect(first.search).toEqual({ searched: true, reason: 'no-previous-run', runsSinceSearch: 0, referenceUnexplained: first.search!.referenceUnexplained, drift: null });
    expect(first.k).toBe(6);
    expect(first.parameters.searched).toBe(true);
    expect(first.parameters.searchReason).toBe('no-previous-run');
  });

  it('on an unchanged fleet fits once from the previous clusters: same partition, no search, no candidates', () => {
    const warm = cluster(blobs.matrix, { ...OPTIONS, warm: warmFrom(first) });
    expect(warm.search?.searched).toBe(false);
    expect(warm.search?.reason).toBe('no-drift');
    expect(warm.search?.runsSinceSearch).toBe(1);
    expect(warm.search?.drift).toEqual({ unexplained: first.search!.referenceUnexplained, moved: 0, newRows: 0, lostClusters: 0 });
    expect(Array.from(warm.labels)).toEqual(Array.from(first.labels));
    expect(warm.k).toBe(6);
    expect(warm.quality.candidates).toEqual([]);
    expect(warm.parameters.kSelection).toBe('warm');
    expect(warm.timings.kmeans).toBeLessThan(first.timings.kmeans!);
  });

  it('searches at the latest maxRunsBetweenSearches runs after the last search', () => {
    const warm = { ...warmFrom(first), runsSinceSearch: 10 };
    expect(cluster(blobs.matrix, { ...OPTIONS, warm }).search?.reason).toBe('no-drift');
    const capped = cluster(blobs.matrix, { ...OPTIONS, warm: { ...warm, runsSinceSearch: 11 } });
    expect(capped.search).toMatchObject({ searched: true, reason: 'run-cap', runsSinceSearch: 0 });
    expect(cluster(blobs.matrix, { ...OPTIONS, warm, drift: { ...defaultDriftPolicy, maxRunsBetweenSearches: 3 } }).search?.reason).toBe('run-cap');
  });

  it('a forced search gives exactly the cold run', () => {
    const forced = cluster(blobs.matrix, { ...OPTIONS, warm: warmFrom(first), forceSearch: 'requested' });
    expect(forced.search).toMatchObject({ searched: true, reason: 'requested', drift: null });
    expect(Array.from(forced.labels)).toEqual(Array.from(first.labels));
    expect(forced.quality).toEqual(first.quality);
  });

  it('searches when a previous cluster lost all its members', () => {
    // The previous run had one more cluster, whose members are gone.
    const labels = Int32Array.from(first.labels);
    const warm = { ...warmFrom(first, labels), k: first.k + 1 };
    const run = cluster(blobs.matrix, { ...OPTIONS, warm });
    expect(run.search).toMatchObject({ searched: true, reason: 'cluster-lost', drift: { lostClusters: 1, moved: 0, newRows: 0 } });
  });

  it('searches when more than newShare of the rows are new, and not below', () => {
    const labels = Int32Array.from(first.labels);
    const n = blobs.matrix.rows;
    // 20% new exactly: at the threshold, not above it.
    const fifth = Math.round(n * 0.2);
    for (let i = 0; i < fifth; i++) labels[i] = -1;
    const at = cluster(blobs.matrix, { ...OPTIONS, warm: warmFrom(first, labels) });
    expect(at.search?.drift?.newRows).toBeCloseTo(fifth / n, 12);
    expect(at.search?.reason).toBe(fifth / n > 0.2 ? 'new-rows' : 'no-drift');
    labels[fifth] = -1;
    labels[fifth + 1] = -1;
    expect(cluster(blobs.matrix, { ...OPTIONS, warm: warmFrom(first, labels) }).search?.reason).toBe('new-rows');
  });

  it('searches when more than movedShare of the rows change cluster', () => {
    // The previous partition cut two blobs differently: a fifth of the rows sit in a wrong cluster.
    const labels = Int32Array.from(first.labels);
    let moved = 0;
    for (let i = 0; i < labels.length && moved < labels.length * 0.15; i++) {
      if (labels[i] === 0) {
        labels[i] = 1;
        moved++;
      }
    }
    const run = cluster(blobs.matrix, { ...OPTIONS, warm: warmFrom(first, labels) });
    expect(run.search?.reason).toBe('moved');
    expect(run.search!.drift!.moved).toBeGreaterThan(0.1);
  });

  it('searches when the unexplained share rises by more than unexplainedRise', () => {
    // A reference far below what any fit of this data reaches: the fleet looks much less clustered than it was.
    const warm = { ...warmFrom(first), referenceUnexplained: first.search!.referenceUnexplained! / 1.2 };
    expect(cluster(blobs.matrix, { ...OPTIONS, warm }).search?.reason).toBe('unexplained-rise');
    expect(cluster(blobs.matrix, { ...OPTIONS, warm, drift: { ...defaultDriftPolicy, unexplainedRise: 0.25 } }).search?.reason).toBe('no-drift');
  });

  it('with a fixed k never searches: a warm fit when the previous run had that k', () => {
    const fixed = cluster(blobs.matrix, { ...OPTIONS, k: 6 });
    expect(fixed.search).toMatchObject({ searched: false, reason: 'fixed-k', runsSinceSearch: 0 });
    const warm = cluster(blobs.matrix, { ...OPTIONS, k: 6, warm: { ...warmFrom(fixed), runsSinceSearch: 50 } });
    expect(warm.search).toMatchObject({ searched: false, reason: 'fixed-k', runsSinceSearch: 51 });
    expect(warm.parameters.kSelection).toBe('fixed');
    expect(Array.from(warm.labels)).toEqual(Array.from(fixed.labels));
    const forced = cluster(blobs.matrix, { ...OPTIONS, k: 6, warm: warmFrom(fixed), forceSearch: 'requested' });
    expect(forced.search?.searched).toBe(false);
  });

  it('new rows join the nearest previous cluster in the warm fit', () => {
    const fewer = rowsOf(blobs.matrix, blobs.matrix.rows - 30);
    const before = cluster(fewer, OPTIONS);
    const labels = new Int32Array(blobs.matrix.rows).fill(-1);
    labels.set(before.labels);
    const after = cluster(blobs.matrix, { ...OPTIONS, warm: warmFrom(before, labels) });
    expect(after.search?.reason).toBe('no-drift');
    expect(after.search?.drift?.newRows).toBeCloseTo(30 / blobs.matrix.rows, 12);
    // Blobs are well apart: every row is with its blob.
    const byTruth = new Map<number, number>();
    for (let i = 0; i < after.labels.length; i++) {
      const t = blobs.truth[i]!;
      if (!byTruth.has(t)) byTruth.set(t, after.labels[i]!);
      expect(after.labels[i]).toBe(byTruth.get(t));
    }
  });
});

describe('alignLabels', () => {
  it('maps the previous labels by id, -1 for ids the previous run did not have', () => {
    expect(Array.from(alignLabels(['a', 'b', 'c'], Int32Array.from([2, 0, 1]), ['c', 'x', 'a']))).toEqual([1, -1, 2]);
  });
});

/** Lloyd's algorithm with no bounds at all: every distance, every iteration, the rules of lloyd(). */
function plainLloyd(points: Points, initial: Float64Array, maxIterations: number, tolerance: number) {
  const { data, rows, dims } = points;
  const k = initial.length / dims;
  let centres = Float64Array.from(initial);
  const labels = new Int32Array(rows);
  let iterations = 0;
  let converged = false;
  const assign = () => {
    for (let i = 0; i < rows; i++) {
      let best = Number.POSITIVE_INFINITY;
      let arg = 0;
      for (let c = 0; c < k; c++) {
        let s = 0;
        for (let j = 0; j < dims; j++) {
          const d = data[i * dims + j]! - centres[c * dims + j]!;
          s += d * d;
        }
        const dist = Math.sqrt(s);
        if (dist < best) {
          best = dist;
          arg = c;
        }
      }
      labels[i] = arg;
    }
  };
  assign();
  while (!converged && iterations < maxIterations) {
    iterations++;
    if (iterations > 1) assign();
    const next = new Float64Array(k * dims);
    const counts = new Int32Array(k);
    for (let i = 0; i < rows; i++) {
      counts[labels[i]!]!++;
      for (let j = 0; j < dims; j++) next[labels[i]! * dims + j]! += data[i * dims + j]!;
    }
    let shift = 0;
    for (let c = 0; c < k; c++) {
      for (let j = 0; j < dims; j++) next[c * dims + j] = counts[c]! === 0 ? centres[c * dims + j]! : next[c * dims + j]! / counts[c]!;
      for (let j = 0; j < dims; j++) shift += (next[c * dims + j]! - centres[c * dims + j]!) ** 2;
    }
    converged = shift <= tolerance;
    centres = next;
  }
  return { labels, centroids: centres, iterations, converged };
}

describe('lloyd with bounds', () => {
  it('gives exactly the assignments, centres and iterations of plain Lloyd for the same starts', () => {
    const hard = makeBlobs(11, 12, Array.from({ length: 12 }, (_, b) => ({ size: 30 + 7 * b, spread: 1.5 + (b % 3), ...(b > 6 ? { near: b - 6 } : {}) })));
    const points: Points = { data: hard.matrix.data, rows: hard.matrix.rows, dims: hard.matrix.cols };
    let differentStarts = 0;
    for (const k of [2, 5, 9, 16]) {
      for (let r = 0; r < 3; r++) {
        const init = kmeansPlusPlus(points, k, new Random(100 * k + r));
        const fast = lloyd(points, init, 100, 1e-6);
        const plain = plainLloyd(points, init, 100, 1e-6);
        expect(Array.from(fast.labels)).toEqual(Array.from(plain.labels));
        expect(Array.from(fast.centroids)).toEqual(Array.from(plain.centroids));
        expect(fast.iterations).toBe(plain.iterations);
        expect(fast.converged).toBe(plain.converged);
        if (fast.iterations > 2) differentStarts++;
      }
    }
    // The bounds were exercised: most fits took several iterations.
    expect(differentStarts).toBeGreaterThan(6);
  });
});
