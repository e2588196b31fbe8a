import { Random } from '../../src/core/random.ts';
import type { FeatureMatrix } from '../../src/clustering/types.ts';

export interface BlobSpec {
  size: number;
  /** Standard deviation of every coordinate. */
  spread: number;
  /** Place this blob near the centre of an earlier blob (its index) instead of at random. */
  near?: number;
}

export interface Blobs {
  matrix: FeatureMatrix;
  truth: Int32Array;
}

/**
 * Gaussian blobs with known membership. Centres are drawn uniformly in a box of half-width `box`;
 * a blob with `near` sits close to that blob's centre, to make hierarchical structure (groups of
 * groups): at `nearScale` * (larger spread) * sqrt(dims), where sigma * sqrt(2 * dims) is the typical
 * distance between two members of one blob, so nearScale 2 means the pair is separable but much closer
 * than unrelated blobs. Rows are shuffled so no algorithm can lean on input order.
 */
export function makeBlobs(seed: number, dims: number, specs: readonly BlobSpec[], box = 10, nearScale = 2): Blobs {
  const rng = new Random(seed);
  const centres: number[][] = [];
  for (const spec of specs) {
    const base = spec.near === undefined ? undefined : centres[spec.near];
    if (base === undefined) {
      centres.push(Array.from({ length: dims }, () => rng.uniform(-box, box)));
    } else {
      const dir = Array.from({ length: dims }, () => rng.normal());
      const norm = Math.hypot(...dir);
      const other = specs[spec.near as number] as BlobSpec;
      const distance = nearScale * Math.max(spec.spread, other.spread) * Math.sqrt(dims);
      centres.push(base.map((v, j) => v + ((dir[j] as number) / norm) * distance));
    }
  }
  const rows: Array<{ label: number; values: number[] }> = [];
  specs.forEach((spec, b) => {
    const centre = centres[b] as number[];
    for (let i = 0; i < spec.size; i++) rows.push({ label: b, values: centre.map((c) => rng.normal(c, spec.spread)) });
  });
  rng.shuffle(rows);
  const data = new Float64Array(rows.length * dims);
  const truth = new Int32Array(rows.length);
  rows.forEach((r, i) => {
    data.set(r.values, i * dims);
    truth[i] = r.label;
  });
  return { matrix: { rows: rows.length, cols: dims, data, names: Array.from({ length: dims }, (_, j) => `f${j}`) }, truth };
}

/** Unequal sizes and spreads, a few tiny groups, and two pairs of nearby blobs. */
export function rolesLike(seed: number, dims = 20): Blobs {
  return makeBlobs(seed, dims, [
    { size: 400, spread: 1.0 },
    { size: 250, spread: 0.8 },
    { size: 150, spread: 1.2 },
    { size: 120, spread: 0.6, near: 0 },
    { size: 80, spread: 0.7 },
    { size: 60, spread: 0.5 },
    { size: 40, spread: 0.9, near: 2 },
    { size: 25, spread: 0.4 },
    { size: 12, spread: 0.5 },
    { size: 8, spread: 0.3 },
    { size: 5, spread: 0.3 },
    { size: 4, spread: 0.2 },
  ]);
}
