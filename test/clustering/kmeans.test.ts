import { describe, expect, it } from 'vitest';
import { kDistances, KNEE_SAMPLE, KNEE_SAMPLE_ABOVE, kneeEps } from '../../src/clustering/dbscan.ts';
import { cluster } from '../../src/clustering/index.ts';
import { greedyTrials, kmeansBestOf, kmeansPlusPlus, kmeansTolerance, type Points } from '../../src/clustering/kmeans.ts';
import { Random } from '../../src/core/random.ts';
import { makeBlobs, rolesLike } from './synthetic.ts';

function pointsOf(seed: number): Points {
  const { matrix } = rolesLike(seed);
  return { data: matrix.data, rows: matrix.rows, dims: matrix.cols };
}

describe('greedy k-means++ seeding', () => {
  it("draws scikit-learn's 2 + floor(ln k) candidates per centre", () => {
    expect([1, 2, 3, 7, 8, 20, 21].map(greedyTrials)).toEqual([2, 2, 3, 3, 4, 4, 5]);
  });

  it('seeds k distinct data rows, the same for the same random sequence', () => {
    const points = pointsOf(7);
    const a = kmeansPlusPlus(points, 12, new Random(3), greedyTrials(12));
    const b = kmeansPlusPlus(points, 12, new Random(3), greedyTrials(12));
    expect(Array.from(a)).toEqual(Array.from(b));
    const rows = new Set<number>();
    for (let c = 0; c < 12; c++) {
      const centre = a.subarray(c * points.dims, (c + 1) * points.dims);
      for (let i = 0; i < points.rows; i++) {
        if (centre.every((v, j) => v === points.data[i * points.dims + j])) {
          rows.add(i);
          break;
        }
      }
    }
    expect(rows.size).toBe(12);
  });

  it('lowers the mean inertia of single k-means runs against plain seeding', () => {
    const points = pointsOf(7);
    const tolerance = kmeansTolerance(points);
    let plain = 0;
    let greedy = 0;
    for (let seed = 1; seed <= 20; seed++) {
      plain += kmeansBestOf(points, 12, seed, 1, 100, tolerance).inertia;
      greedy += kmeansBestOf(points, 12, seed, 1, 100, tolerance, undefined, greedyTrials(12)).inertia;
    }
    expect(greedy).toBeLessThan(plain * 0.97);
  });
});

describe('DBSCAN at scale', () => {
  it('draws the knee from a seeded sample of rows above KNEE_SAMPLE_ABOVE rows, close to the knee of all rows', () => {
    const { matrix } = makeBlobs(5, 4, Array.from({ length: 10 }, (_, i) => ({ size: 2000 + 40 * i, spread: 0.3 + 0.05 * i })));
    expect(matrix.rows).toBeGreaterThan(KNEE_SAMPLE_ABOVE);
    const a = cluster(matrix, { algorithm: 'dbscan' });
    const b = cluster(matrix, { algorithm: 'dbscan' });
    expect(a.parameters.kneeRows).toBe(KNEE_SAMPLE);
    expect(Array.from(a.labels)).toEqual(Array.from(b.labels));
    // The same standardisation cluster() applies (no weights): the knee of every row for comparison.
    const { data, rows, cols } = matrix;
    const std = new Float64Array(data.length);
    for (let j = 0; j < cols; j++) {
      let mean = 0;
      for (let i = 0; i < rows; i++) mean += data[i * cols + j]! / rows;
      let v = 0;
      for (let i = 0; i < rows; i++) v += (data[i * cols + j]! - mean) ** 2 / rows;
      for (let i = 0; i < rows; i++) std[i * cols + j] = (data[i * cols + j]! - mean) / Math.sqrt(v);
    }
    const full = kneeEps(kDistances({ data: std, rows, dims: cols }, 5));
    expect(Math.abs(Number(a.parameters.eps) / full - 1)).toBeLessThan(0.1);
    expect(a.k).toBeGreaterThanOrEqual(10);
  });

  it('draws the knee from every row up to KNEE_SAMPLE_ABOVE rows', () => {
    const { matrix } = makeBlobs(6, 4, Array.from({ length: 6 }, () => ({ size: 1000, spread: 0.5 })));
    expect(matrix.rows).toBeGreaterThan(KNEE_SAMPLE);
    expect(cluster(matrix, { algorithm: 'dbscan' }).parameters.kneeRows).toBe(matrix.rows);
  });
});
