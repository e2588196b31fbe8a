import { describe, expect, it } from 'vitest';
import { dbscan, dbscanBruteForce, kDistances, kDistancesBruteForce, kneeEps } from '../../src/clustering/dbscan.ts';
import type { Points } from '../../src/clustering/kmeans.ts';
import { Random } from '../../src/core/random.ts';
import { rolesLike } from './synthetic.ts';

/** rolesLike blobs plus uniform noise rows and exact duplicates: cores, borders, noise and ties all occur. */
function pointsOf(seed: number, dims: number): Points {
  const blobs = rolesLike(seed, dims).matrix;
  const rng = new Random(seed + 100);
  const extra = 60;
  const dups = 30;
  const rows = blobs.rows + extra + dups;
  const data = new Float64Array(rows * dims);
  data.set(blobs.data);
  for (let i = blobs.rows; i < blobs.rows + extra; i++) for (let j = 0; j < dims; j++) data[i * dims + j] = rng.uniform(-12, 12);
  for (let i = blobs.rows + extra; i < rows; i++) {
    const src = rng.int(0, blobs.rows - 1);
    data.copyWithin(i * dims, src * dims, src * dims + dims);
  }
  return { data, rows, dims };
}

describe('index-backed DBSCAN', () => {
  // The brute-force version (density-clustering) is the reference: same labels, same numbering, same noise.
  for (const [seed, dims] of [
    [1, 20],
    [2, 3],
    [3, 45],
    [4, 1],
  ] as const) {
    it(`labels equal the brute-force version (seed ${seed}, ${dims} dims)`, () => {
      const points = pointsOf(seed, dims);
      for (const minPoints of [1, 4, 5, 12]) {
        const knee = kneeEps(kDistancesBruteForce(points, minPoints));
        for (const eps of [knee, knee * 0.5, knee * 2, 1e-12]) {
          const fast = dbscan(points, eps, minPoints);
          const slow = dbscanBruteForce(points, eps, minPoints);
          expect(fast.rawK).toBe(slow.rawK);
          expect(fast.noise).toBe(slow.noise);
          expect(Array.from(fast.labels)).toEqual(Array.from(slow.labels));
        }
      }
    });

    it(`k-distances equal the brute-force ones bit for bit (seed ${seed}, ${dims} dims)`, () => {
      const points = pointsOf(seed, dims);
      for (const minPoints of [1, 5, 9]) expect(Array.from(kDistances(points, minPoints))).toEqual(Array.from(kDistancesBruteForce(points, minPoints)));
    });
  }

  it('handles data without variance', () => {
    const points: Points = { data: new Float64Array(40 * 4).fill(2), rows: 40, dims: 4 };
    expect(Array.from(dbscan(points, 0.5, 5).labels)).toEqual(Array.from(dbscanBruteForce(points, 0.5, 5).labels));
    expect(Array.from(kDistances(points, 5))).toEqual(Array.from(kDistancesBruteForce(points, 5)));
  });
});
