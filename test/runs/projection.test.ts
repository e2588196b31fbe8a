import { describe, expect, test } from 'vitest';
import type { ClusteringModel } from '../../src/clustering/project.ts';
import type { FeatureMatrix } from '../../src/clustering/types.ts';
import { Random } from '../../src/core/random.ts';
import { projectFleet } from '../../src/runs/projection.ts';

function matrix(rows: number[][]): FeatureMatrix {
  const cols = rows[0]!.length;
  return { rows: rows.length, cols, data: Float64Array.from(rows.flat()), names: Array.from({ length: cols }, (_, j) => `f${j}`) };
}

/** Float32 coordinates from float64 sums: equal to 6 decimals. */
function expectCoordinates(actual: Float32Array, expected: number[]): void {
  expect(actual.length).toBe(expected.length);
  for (const [i, v] of expected.entries()) expect(actual[i]).toBeCloseTo(v, 6);
}

function correlation(a: Float32Array, b: Float32Array): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]! / n;
    mb += b[i]! / n;
  }
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    ab += (a[i]! - ma) * (b[i]! - mb);
    aa += (a[i]! - ma) ** 2;
    bb += (b[i]! - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

function identityModel(cols: number, constant: number[] = new Array(cols).fill(0)): ClusteringModel {
  return { means: new Array(cols).fill(0), scales: new Array(cols).fill(1), weights: new Array(cols).fill(1), constant, pcaComponents: null, centroids: [] };
}

describe('projectFleet', () => {
  test('points on a line lie on the first axis, at their distance along it', () => {
    const rows = [-2, -1, 0, 1, 2].map((t) => [t, t, 0]);
    const p = projectFleet(matrix(rows), identityModel(3));
    expectCoordinates(p.x, [-2, -1, 0, 1, 2].map((t) => t * Math.SQRT2));
    expectCoordinates(p.y, [0, 0, 0, 0, 0]);
    expect(p.explained).toEqual([1, 0]);
  });

  test('the model standardises and weights before projecting; constant columns count for nothing', () => {
    // Column 0 in units 10 times larger with scale 10; column 1 weighted 0; column 2 flagged constant.
    const rows = [-2, -1, 0, 1, 2].map((t) => [10 * t + 5, 7 * t, 99 * t]);
    const model: ClusteringModel = { ...identityModel(3, [0, 0, 1]), means: [5, 0, 0], scales: [10, 1, 1], weights: [1, 0, 1] };
    const p = projectFleet(matrix(rows), model);
    expectCoordinates(p.x, [-2, -1, 0, 1, 2]);
    expect(p.explained).toEqual([1, 0]);
  });

  test('two independent directions: x along the wider, y along the narrower', () => {
    const rows = [
      [3, 0],
      [-3, 0],
      [0, 1],
      [0, -1],
    ];
    const p = projectFleet(matrix(rows), identityModel(2));
    expectCoordinates(p.x, [3, -3, 0, 0]);
    expectCoordinates(p.y, [0, 0, 1, -1]);
    expect(p.explained[0]).toBeCloseTo(0.9, 12);
    expect(p.explained[1]).toBeCloseTo(0.1, 12);
  });

  test('axes from a seeded sample: every VM placed, the same placement twice, close to the full computation', () => {
    const rng = new Random(7);
    const rows = Array.from({ length: 3000 }, () => {
      const t = rng.next() * 10 - 5;
      const u = rng.next() * 2 - 1;
      return [t + 0.1 * u, t - 0.1 * u, u, 0.01 * rng.next()];
    });
    const m = matrix(rows);
    const sampled = projectFleet(m, identityModel(4), { sampleSize: 500, seed: 3 });
    const again = projectFleet(m, identityModel(4), { sampleSize: 500, seed: 3 });
    const full = projectFleet(m, identityModel(4), { sampleSize: 3000 });
    expect(sampled.x.length).toBe(3000);
    expect(Array.from(sampled.x)).toEqual(Array.from(again.x));
    // The sample's centre and axes differ a little from the fleet's: a small shift, not another picture.
    expect(correlation(sampled.x, full.x)).toBeGreaterThan(0.9999);
    expect(correlation(sampled.y, full.y)).toBeGreaterThan(0.999);
  });

  test('fewer than two VMs, or a model for other features, give the origin', () => {
    expect(projectFleet(matrix([[1, 2]]), identityModel(2))).toEqual({ x: new Float32Array(1), y: new Float32Array(1), explained: [0, 0] });
    expect(Array.from(projectFleet(matrix([[1, 2], [3, 4]]), identityModel(3)).x)).toEqual([0, 0]);
  });
});
