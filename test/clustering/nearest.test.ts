import { describe, expect, it } from 'vitest';
import { kthNearest, kthNearestBruteForce } from '../../src/clustering/nearest.ts';
import { sampleIndices } from '../../src/clustering/quality.ts';
import { Random } from '../../src/core/random.ts';
import { rolesLike } from './synthetic.ts';

describe('kthNearest', () => {
  // The anomaly scores depend on these values: the index must give the brute-force scan's, bit for bit.
  for (const [seed, dims] of [
    [1, 20],
    [2, 45],
    [3, 2],
  ] as const) {
    it(`equals the brute-force scan (seed ${seed}, ${dims} dims)`, () => {
      const m = rolesLike(seed, dims).matrix;
      const rng = new Random(seed);
      // Exact duplicates of some rows, so that zero distances and ties occur.
      const data = new Float64Array((m.rows + 20) * dims);
      data.set(m.data);
      for (let i = m.rows; i < m.rows + 20; i++) data.copyWithin(i * dims, rng.int(0, m.rows - 1) * dims, rng.int(0, m.rows - 1) * dims + dims);
      const rows = m.rows + 20;
      const all = Int32Array.from({ length: rows }, (_, i) => i);
      for (const refs of [all, sampleIndices(all, 300, seed), sampleIndices(all, 70, seed + 1)]) {
        for (const k of [1, 2, 5]) {
          expect(Array.from(kthNearest(data, rows, dims, k, refs))).toEqual(Array.from(kthNearestBruteForce(data, rows, dims, k, refs)));
        }
      }
    });
  }
});
