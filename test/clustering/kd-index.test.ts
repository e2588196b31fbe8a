import { describe, expect, it } from 'vitest';
import { dbscan, dbscanBruteForce, INDEX_AXES, kDistances, kDistancesBruteForce, kneeEps } from '../../src/clustering/dbscan.ts';
import { KdIndex } from '../../src/clustering/kd-index.ts';
import type { Points } from '../../src/clustering/kmeans.ts';
import { Random } from '../../src/core/random.ts';
import { rolesLike } from './synthetic.ts';

/** rolesLike blobs plus uniform noise rows and exact duplicates, as in dbscan-index.test.ts. */
function pointsOf(seed: number, dims: number): Points {
  const blobs = rolesLike(seed, dims).matrix;
  const rng = new Random(seed + 100);
  const rows = blobs.rows + 80;
  const data = new Float64Array(rows * dims);
  data.set(blobs.data);
  for (let i = blobs.rows; i < blobs.rows + 50; i++) for (let j = 0; j < dims; j++) data[i * dims + j] = rng.uniform(-12, 12);
  for (let i = blobs.rows + 50; i < rows; i++) {
    const src = rng.int(0, blobs.rows - 1);
    data.copyWithin(i * dims, src * dims, src * dims + dims);
  }
  return { data, rows, dims };
}

function distance(p: Points, i: number, j: number): number {
  let s = 0;
  for (let t = 0; t < p.dims; t++) s += (p.data[i * p.dims + t]! - p.data[j * p.dims + t]!) ** 2;
  return Math.sqrt(s);
}

/** Every pair i < j at distance < eps, by brute force, as i * rows + j, ascending. */
function truePairs(p: Points, eps: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < p.rows; i++) for (let j = i + 1; j < p.rows; j++) if (distance(p, i, j) < eps) out.push(i * p.rows + j);
  return out;
}

describe('k-d index over principal axes', () => {
  for (const [seed, dims, axes, leaf] of [
    [1, 20, 64, 48],
    [2, 3, 2, 8],
    [3, 45, 64, 4],
    [4, 1, 64, 16],
    [5, 12, 3, 24],
  ] as const) {
    const points = pointsOf(seed, dims);
    const knee = kneeEps(kDistancesBruteForce(points, 5));

    it(`pairs() lists every pair within eps exactly once (seed ${seed}, ${dims} dims, ${axes} axes, leaves of ${leaf})`, () => {
      const index = new KdIndex(points, axes, leaf);
      for (const eps of [knee, knee * 2, 1e-12]) {
        const seen: number[] = [];
        let selfPairs = 0;
        index.pairs(eps, (i, j) => {
          if (i === j) selfPairs++;
          else if (distance(points, i, j) < eps) seen.push(Math.min(i, j) * points.rows + Math.max(i, j));
        });
        expect(selfPairs).toBe(0);
        expect(seen.sort((a, b) => a - b)).toEqual(truePairs(points, eps));
      }
    });

    it(`range() visits a superset of the neighbours, nearest() gives the exact k smallest (seed ${seed})`, () => {
      const index = new KdIndex(points, axes, leaf);
      const out = new Float64Array(4);
      for (let i = 0; i < points.rows; i += 7) {
        const visited = new Set<number>();
        index.range(i, knee, (j) => {
          visited.add(j);
          return true;
        });
        for (let j = 0; j < points.rows; j++) if (distance(points, i, j) < knee) expect(visited.has(j)).toBe(true);
        index.nearest(i, out, (j) => distance(points, i, j) ** 2);
        const all = Array.from({ length: points.rows }, (_, j) => distance(points, i, j) ** 2).sort((a, b) => a - b);
        expect(Array.from(out)).toEqual(all.slice(0, 4));
      }
    });
  }

  it('k-distances of chosen rows equal those rows of the full brute-force k-distances', () => {
    const points = pointsOf(6, 20);
    const all = kDistancesBruteForce(points, 5);
    const queries = Int32Array.from([0, 3, 17, 100, points.rows - 1]);
    const some = kDistances(points, 5, new KdIndex(points, INDEX_AXES), queries);
    expect(Array.from(some)).toEqual(Array.from(queries, (i) => all[i]!));
  });

  it('DBSCAN gives the brute-force labels when its pair list overflows and it queries neighbourhoods instead', () => {
    const points = pointsOf(7, 20);
    const knee = kneeEps(kDistancesBruteForce(points, 5));
    const slow = dbscanBruteForce(points, knee, 5);
    const viaPairs = dbscan(points, knee, 5);
    const viaQueries = dbscan(points, knee, 5, new KdIndex(points, INDEX_AXES), 10);
    expect(Array.from(viaPairs.labels)).toEqual(Array.from(slow.labels));
    expect(Array.from(viaQueries.labels)).toEqual(Array.from(slow.labels));
    expect(viaQueries.noise).toBe(slow.noise);
    expect(slow.rawK).toBeGreaterThan(3);
  });

  it('handles no rows and a single row', () => {
    const empty = new KdIndex({ data: new Float64Array(0), rows: 0, dims: 3 }, INDEX_AXES);
    let calls = 0;
    empty.pairs(1, () => calls++);
    expect(calls).toBe(0);
    const one: Points = { data: Float64Array.from([1, 2, 3]), rows: 1, dims: 3 };
    expect(Array.from(dbscan(one, 1, 1).labels)).toEqual([0]);
    expect(Array.from(dbscan(one, 1, 2).labels)).toEqual([-1]);
  });
});
