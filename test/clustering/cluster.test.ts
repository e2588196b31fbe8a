import { kmeans as mlKmeans } from 'ml-kmeans';
import { describe, expect, it } from 'vitest';
import { cluster, type FeatureMatrix, selectK, selectKByTolerance } from '../../src/clustering/index.ts';
import { kmeansPlusPlus, lloyd } from '../../src/clustering/kmeans.ts';
import { distanceSample, sampleIndices, silhouette } from '../../src/clustering/quality.ts';
import { Random } from '../../src/core/random.ts';
import { adjustedRandIndex } from '../../src/evaluation/metrics.ts';
import { makeBlobs, rolesLike } from './synthetic.ts';

function matrixOf(rows: number[][]): FeatureMatrix {
  const cols = rows[0]?.length ?? 0;
  return { rows: rows.length, cols, data: Float64Array.from(rows.flat()), names: Array.from({ length: cols }, (_, j) => `f${j}`) };
}

function withoutTimings(o: ReturnType<typeof cluster>): unknown {
  const { timings: _timings, ...rest } = o;
  return rest;
}

describe('k-means with automatic k', () => {
  const sets = {
    'roles-like (12 blobs, 4..400 members, two nearby pairs)': rolesLike(7),
    'roles-like, other draw': rolesLike(9),
    '8 blobs, sizes 5..300, spreads 0.4..1.1': makeBlobs(1, 20, [300, 200, 150, 100, 60, 30, 10, 5].map((size, i) => ({ size, spread: 0.4 + 0.1 * i }))),
    '15 blobs, sizes 3..250, two nearby pairs': makeBlobs(
      2,
      20,
      Array.from({ length: 15 }, (_, i) => ({
        size: [250, 120, 80, 40, 20, 10, 6, 3][i % 8] as number,
        spread: 0.3 + 0.06 * i,
        ...(i === 9 ? { near: 0 } : {}),
        ...(i === 12 ? { near: 4 } : {}),
      })),
    ),
  };
  for (const [name, blobs] of Object.entries(sets)) {
    it(`finds the true k and recovers every blob exactly: ${name}`, () => {
      const out = cluster(blobs.matrix, { seed: 1, kSelection: 'weakest-cluster' });
      expect(out.k).toBe(new Set(blobs.truth).size);
      expect(adjustedRandIndex(blobs.truth, out.labels)).toBe(1);
      expect(out.quality.candidates.map((c) => c.k)).toEqual(Array.from({ length: 23 }, (_, i) => i + 2));
    });
  }

  it('recovers overlapping blobs well but not perfectly', () => {
    const blobs = makeBlobs(4, 10, [200, 200, 150, 100].map((size) => ({ size, spread: 2.5 })), 4);
    const out = cluster(blobs.matrix, { seed: 1, k: 4 });
    expect(adjustedRandIndex(blobs.truth, out.labels)).toBeGreaterThan(0.8);
  });

  it('labels clusters by descending size and summarises them', () => {
    const blobs = rolesLike(7);
    const out = cluster(blobs.matrix, { seed: 1 });
    const sizes = out.clusters.map((c) => c.size);
    expect(sizes).toEqual([...sizes].sort((a, b) => b - a));
    expect(sizes.reduce((s, v) => s + v, 0)).toBe(blobs.matrix.rows);
    for (const c of out.clusters) {
      expect(c.centroid).toHaveLength(20);
      expect(c.distinguishing).toHaveLength(5);
      const z = c.distinguishing.map((d) => Math.abs(d.z));
      expect(z).toEqual([...z].sort((a, b) => b - a));
    }
    expect(out.model.centroids).toHaveLength(out.k);
    expect(out.quality.inertia).toBeGreaterThan(0);
    expect(out.parameters.kSelection).toBe('silhouette-tolerance');
  });

  it('is deterministic bit for bit, and a fixed k reproduces the searched solution', () => {
    const blobs = rolesLike(8);
    const a = cluster(blobs.matrix, { seed: 5 });
    const b = cluster(blobs.matrix, { seed: 5 });
    expect(withoutTimings(a)).toEqual(withoutTimings(b));
    const fixed = cluster(blobs.matrix, { seed: 5, k: a.k });
    expect(Array.from(fixed.labels)).toEqual(Array.from(a.labels));
  });

  it('ignores constant columns', () => {
    const blobs = makeBlobs(3, 6, [40, 30, 20].map((size) => ({ size, spread: 0.5 })));
    const { rows, cols, data } = blobs.matrix;
    const wider = new Float64Array(rows * (cols + 2));
    for (let i = 0; i < rows; i++) {
      wider.set(data.subarray(i * cols, i * cols + cols), i * (cols + 2));
      wider[i * (cols + 2) + cols] = 42;
      wider[i * (cols + 2) + cols + 1] = -1e9;
    }
    const names = [...blobs.matrix.names, 'const1', 'const2'];
    const plain = cluster(blobs.matrix, { seed: 2 });
    const padded = cluster({ rows, cols: cols + 2, data: wider, names }, { seed: 2 });
    expect(Array.from(padded.labels)).toEqual(Array.from(plain.labels));
    expect(padded.model.scales.slice(cols)).toEqual([1, 1]);
    for (const c of padded.clusters) for (const d of c.distinguishing) expect(d.feature.startsWith('const')).toBe(false);
  });

  it('applies feature weights after standardisation', () => {
    // Two groups split on f0 only; f1 is noise. Weight 0 on f0 hides the split.
    const rng = new Random(3);
    const rows = Array.from({ length: 60 }, (_, i) => [i < 30 ? 0 : 10, rng.normal()]);
    const out = cluster(matrixOf(rows), { seed: 1, k: 2 });
    expect(adjustedRandIndex(rows.map((r) => r[0] as number), out.labels)).toBe(1);
    const hidden = cluster(matrixOf(rows), { seed: 1, k: 2, weights: Float64Array.from([0, 1]) });
    expect(adjustedRandIndex(rows.map((r) => r[0] as number), hidden.labels)).toBeLessThan(0.2);
    expect(hidden.model.weights).toEqual([0, 1]);
  });
});

describe('edge cases', () => {
  it('handles no rows', () => {
    const out = cluster({ rows: 0, cols: 2, data: new Float64Array(0), names: ['a', 'b'] });
    expect(out.k).toBe(0);
    expect(out.labels).toHaveLength(0);
  });

  it('puts a single row in one cluster', () => {
    const out = cluster(matrixOf([[1, 2, 3]]));
    expect(out.k).toBe(1);
    expect(Array.from(out.labels)).toEqual([0]);
    expect(out.clusters[0]?.centroid).toEqual([1, 2, 3]);
  });

  it('puts two rows in one cluster (k is clamped to rows - 1)', () => {
    const out = cluster(matrixOf([[0, 0], [5, 5]]));
    expect(out.k).toBe(1);
    expect(Array.from(out.labels)).toEqual([0, 0]);
  });

  it('puts identical rows in one cluster, with automatic or fixed k', () => {
    const rows = Array.from({ length: 20 }, () => [3, 1, 4]);
    for (const k of [undefined, 5]) {
      const out = cluster(matrixOf(rows), k === undefined ? {} : { k });
      expect(out.k).toBe(1);
      expect(new Set(out.labels)).toEqual(new Set([0]));
      expect(out.quality.silhouette).toBeNull();
    }
  });

  it('stops at the number of distinct points', () => {
    const rows = [...Array.from({ length: 10 }, () => [0, 0]), ...Array.from({ length: 10 }, () => [9, 9])];
    expect(cluster(matrixOf(rows), { k: 6 }).k).toBe(2);
    expect(cluster(matrixOf(rows)).k).toBe(2);
  });

  it('rejects malformed input', () => {
    expect(() => cluster({ rows: 2, cols: 2, data: new Float64Array(3), names: ['a', 'b'] })).toThrow(RangeError);
    expect(() => cluster(matrixOf([[1, Number.NaN], [2, 3]]))).toThrow(RangeError);
    expect(() => cluster(matrixOf([[1, 2], [2, 3]]), { weights: new Float64Array(1) })).toThrow(RangeError);
  });
});

describe('PCA', () => {
  it('keeps the fewest components that explain the requested variance', () => {
    const blobs = makeBlobs(6, 12, [100, 80, 60, 40, 20].map((size) => ({ size, spread: 0.6 })));
    for (const varianceToKeep of [0.5, 0.8, 0.95]) {
      const out = cluster(blobs.matrix, { seed: 1, k: 5, pca: { enabled: true, varianceToKeep, maxComponents: 16 } });
      const kept = out.parameters.pcaVarianceKept as number;
      expect(kept).toBeGreaterThanOrEqual(varianceToKeep);
      const components = out.parameters.pcaComponents as number;
      expect(out.model.pcaComponents).toHaveLength(components);
      expect(out.model.centroids[0]).toHaveLength(components);
      if (components > 1) {
        const fewer = cluster(blobs.matrix, { seed: 1, k: 5, pca: { enabled: true, varianceToKeep: 0, maxComponents: components - 1 } });
        expect(fewer.parameters.pcaVarianceKept as number).toBeLessThan(varianceToKeep);
      }
      expect(adjustedRandIndex(blobs.truth, out.labels)).toBe(1);
    }
  });

  it('caps the components at maxComponents', () => {
    const blobs = makeBlobs(6, 12, [50, 50].map((size) => ({ size, spread: 3 })));
    const out = cluster(blobs.matrix, { seed: 1, k: 2, pca: { enabled: true, varianceToKeep: 0.999, maxComponents: 3 } });
    expect(out.parameters.pcaComponents).toBe(3);
  });
});

describe('DBSCAN', () => {
  it('finds dense groups and marks scattered points as noise, each point in exactly one', () => {
    const blobs = makeBlobs(8, 5, [120, 80, 60].map((size) => ({ size, spread: 0.4 })));
    const rng = new Random(9);
    const noiseRows = 12;
    const { rows, cols } = blobs.matrix;
    const data = new Float64Array((rows + noiseRows) * cols);
    data.set(blobs.matrix.data);
    for (let i = rows * cols; i < data.length; i++) data[i] = rng.uniform(-25, 25);
    const out = cluster({ rows: rows + noiseRows, cols, data, names: blobs.matrix.names }, { algorithm: 'dbscan' });
    expect(out.parameters.epsSource).toBe('k-distance-knee');
    expect(out.k).toBe(3);
    expect(out.quality.noise).toBeGreaterThanOrEqual(noiseRows);
    expect(out.quality.noise).toBeLessThan(noiseRows + 10);
    const labels = Array.from(out.labels);
    expect(labels.filter((l) => l === -1)).toHaveLength(out.quality.noise);
    expect(labels.slice(rows).every((l) => l === -1)).toBe(true);
    const clustered = labels.slice(0, rows).map((l, i) => [l, blobs.truth[i] as number]).filter(([l]) => l !== -1);
    expect(adjustedRandIndex(clustered.map((p) => p[1] as number), clustered.map((p) => p[0] as number))).toBe(1);
    expect(out.clusters.reduce((s, c) => s + c.size, 0) + out.quality.noise).toBe(rows + noiseRows);
    expect(out.quality.silhouette).toBeGreaterThan(0.5);
  });

  it('uses a given eps and is deterministic', () => {
    const blobs = makeBlobs(8, 5, [50, 50].map((size) => ({ size, spread: 0.4 })));
    const a = cluster(blobs.matrix, { algorithm: 'dbscan', dbscan: { eps: 1.5, minPoints: 4 } });
    const b = cluster(blobs.matrix, { algorithm: 'dbscan', dbscan: { eps: 1.5, minPoints: 4 } });
    expect(a.parameters.eps).toBe(1.5);
    expect(withoutTimings(a)).toEqual(withoutTimings(b));
  });
});

describe('building blocks', () => {
  it('Elkan-accelerated Lloyd gives the same clusters as ml-kmeans from the same start', () => {
    const blobs = makeBlobs(10, 8, [80, 60, 40, 30, 20].map((size) => ({ size, spread: 1.5 })), 3);
    const points = { data: blobs.matrix.data, rows: blobs.matrix.rows, dims: 8 };
    const init = kmeansPlusPlus(points, 7, new Random(1));
    const asArrays = (flat: Float64Array, n: number) => Array.from({ length: n }, (_, i) => Array.from(flat.subarray(i * 8, i * 8 + 8)));
    // Negative tolerances: neither stops early, so both run exactly 12 iterations.
    const ours = lloyd(points, init, 12, -1);
    const theirs = mlKmeans(asArrays(blobs.matrix.data, points.rows), 7, { initialization: asArrays(init, 7), maxIterations: 12, tolerance: -1 });
    expect(Array.from(ours.labels)).toEqual(theirs.clusters);
    const ourCentroids = asArrays(ours.centroids, 7).flat();
    theirs.centroids.flat().forEach((v, i) => {
      expect(ourCentroids[i]).toBeCloseTo(v, 10);
    });
  });

  it('silhouette matches scikit-learn', () => {
    // sklearn.metrics.silhouette_score(X, labels) = 0.6438483120696906
    const rows = [[0, 0], [0, 1], [1, 0], [5, 5], [5, 6], [6, 5], [10, 0]];
    const points = { data: Float64Array.from(rows.flat()), rows: 7, dims: 2 };
    const sample = distanceSample(points, sampleIndices(Int32Array.from([0, 1, 2, 3, 4, 5, 6]), 100, 1));
    expect(silhouette(sample, Int32Array.from([0, 0, 0, 1, 1, 1, 1]), 2)).toBeCloseTo(0.6438483120696906, 12);
  });

  it('samples the silhouette on large inputs and stays fast', () => {
    const blobs = makeBlobs(11, 10, Array.from({ length: 6 }, (_, i) => ({ size: 700 - 100 * i, spread: 0.5 })));
    const start = performance.now();
    const out = cluster(blobs.matrix, { seed: 1, silhouetteSampleSize: 1000, kMax: 10 });
    expect(performance.now() - start).toBeLessThan(5000);
    expect(out.parameters.silhouetteSampled).toBe(true);
    expect(out.k).toBe(6);
    expect(adjustedRandIndex(blobs.truth, out.labels)).toBe(1);
  });

  it('selectK prefers the finest partition whose every cluster stands apart', () => {
    const c = (k: number, silhouette: number, minClusterSilhouette: number) => ({ k, silhouette, inertia: 0, calinskiHarabasz: 0, minClusterSilhouette });
    // Hierarchical: the coarse k = 3 has the best mean silhouette, k = 6 still has well-separated clusters.
    expect(selectK([c(2, 0.7, 0.6), c(3, 0.8, 0.7), c(6, 0.65, 0.4), c(7, 0.5, 0.05)], 0.25)).toBe(6);
    // Nothing qualifies: fall back to the best mean silhouette.
    expect(selectK([c(2, 0.2, 0.1), c(3, 0.3, 0.2), c(4, 0.1, 0)], 0.25)).toBe(3);
    expect(selectK([], 0.25)).toBeNull();
  });
});

describe('selectKByTolerance', () => {
  const c = (k: number, silhouette: number) => ({ k, silhouette, inertia: 0, calinskiHarabasz: 0, minClusterSilhouette: 0 });
  it('takes the largest k within the tolerance of the best mean silhouette', () => {
    expect(selectKByTolerance([c(2, 0.5), c(3, 0.61), c(4, 0.59), c(5, 0.55), c(6, 0.588)], 0.025)).toBe(6);
    expect(selectKByTolerance([c(2, 0.5), c(3, 0.61), c(4, 0.59), c(5, 0.55), c(6, 0.58)], 0.025)).toBe(4);
    expect(selectKByTolerance([c(2, 0.5), c(3, 0.61)], 0)).toBe(3);
    expect(selectKByTolerance([], 0.025)).toBeNull();
  });
});
