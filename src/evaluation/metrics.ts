/**
 * External clustering quality: agreement of a predicted partition with a known one. Label values are
 * only compared for equality, so any names or numbers work (and -1 noise is just one more group, as in
 * scikit-learn).
 */

export interface Contingency {
  /** rows = truth classes, cols = predicted clusters, row-major counts. */
  table: Float64Array;
  rows: number;
  cols: number;
  rowSums: Float64Array;
  colSums: Float64Array;
  n: number;
}

function encode(labels: ArrayLike<string | number>): { codes: Int32Array; count: number } {
  const seen = new Map<string | number, number>();
  const codes = new Int32Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i] as string | number;
    let c = seen.get(v);
    if (c === undefined) {
      c = seen.size;
      seen.set(v, c);
    }
    codes[i] = c;
  }
  return { codes, count: seen.size };
}

export function contingency(truth: ArrayLike<string | number>, predicted: ArrayLike<string | number>): Contingency {
  if (truth.length !== predicted.length) throw new RangeError(`label arrays differ in length: ${truth.length} vs ${predicted.length}`);
  const t = encode(truth);
  const p = encode(predicted);
  const table = new Float64Array(t.count * p.count);
  const rowSums = new Float64Array(t.count);
  const colSums = new Float64Array(p.count);
  for (let i = 0; i < truth.length; i++) {
    const r = t.codes[i] as number;
    const c = p.codes[i] as number;
    table[r * p.count + c] = (table[r * p.count + c] as number) + 1;
    rowSums[r] = (rowSums[r] as number) + 1;
    colSums[c] = (colSums[c] as number) + 1;
  }
  return { table, rows: t.count, cols: p.count, rowSums, colSums, n: truth.length };
}

/**
 * Adjusted Rand index through the pair confusion matrix, as scikit-learn computes it; the products are
 * taken in BigInt because they exceed 2^53 past roughly 10^4 points.
 */
export function adjustedRandIndex(truth: ArrayLike<string | number>, predicted: ArrayLike<string | number>): number {
  const c = contingency(truth, predicted);
  const n = BigInt(c.n);
  let sumSquares = 0n;
  for (const v of c.table) sumSquares += BigInt(v) * BigInt(v);
  // sum over cells of n_ij * (size of its predicted cluster), and of n_ij * (size of its true class).
  let byPredicted = 0n;
  let byTruth = 0n;
  for (let r = 0; r < c.rows; r++) {
    for (let k = 0; k < c.cols; k++) {
      const v = BigInt(c.table[r * c.cols + k] as number);
      if (v === 0n) continue;
      byPredicted += v * BigInt(c.colSums[k] as number);
      byTruth += v * BigInt(c.rowSums[r] as number);
    }
  }
  const tp = sumSquares - n;
  const fp = byPredicted - sumSquares;
  const fn = byTruth - sumSquares;
  const tn = n * n - fp - fn - sumSquares;
  // Identical partitions (including the degenerate all-one and all-singleton cases) agree perfectly.
  if (fn === 0n && fp === 0n) return 1;
  return (2 * Number(tp * tn - fn * fp)) / Number((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn));
}

function entropy(sizes: Float64Array, n: number): number {
  let h = 0;
  for (const s of sizes) if (s > 0) h -= (s / n) * (Math.log(s) - Math.log(n));
  return h;
}

function mutualInformationOf(c: Contingency): number {
  if (c.rows === 1 || c.cols === 1) return 0;
  const logN = Math.log(c.n);
  let mi = 0;
  for (let r = 0; r < c.rows; r++) {
    for (let k = 0; k < c.cols; k++) {
      const v = c.table[r * c.cols + k] as number;
      if (v === 0) continue;
      const p = v / c.n;
      const term = p * (Math.log(v) - logN) + p * (-Math.log((c.rowSums[r] as number) * (c.colSums[k] as number)) + 2 * logN);
      // scikit-learn zeroes terms below machine epsilon; doing the same keeps the values comparable.
      if (Math.abs(term) >= Number.EPSILON) mi += term;
    }
  }
  return Math.max(0, mi);
}

/** Normalised mutual information with the arithmetic mean of the two entropies (scikit-learn's default). */
export function normalizedMutualInformation(truth: ArrayLike<string | number>, predicted: ArrayLike<string | number>): number {
  const c = contingency(truth, predicted);
  // Both trivial (one group each, or no points): identical by definition.
  if ((c.rows === 1 && c.cols === 1) || (c.rows === 0 && c.cols === 0)) return 1;
  const mi = mutualInformationOf(c);
  if (mi === 0) return 0;
  const normalizer = (entropy(c.rowSums, c.n) + entropy(c.colSums, c.n)) / 2;
  return mi / normalizer;
}
