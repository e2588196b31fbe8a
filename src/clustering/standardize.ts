export interface Standardized {
  data: Float64Array;
  means: Float64Array;
  scales: Float64Array;
  /** 1 where the column had no variance (scale forced to 1, values all 0). */
  constant: Uint8Array;
}

/**
 * z-score each column, then multiply by its weight. Population standard deviation (as scikit-learn's
 * StandardScaler) so a single row does not divide by zero. Constant columns get scale 1: after centring
 * they are all zeros and so add nothing to any distance. `minScales` floors each column's scale: a
 * feature that is almost constant (a trace of ICMP in a few VMs) would otherwise have its tiny
 * differences blown up to whole standard deviations.
 */
export function standardize(
  data: Float64Array,
  rows: number,
  cols: number,
  weights: Float64Array,
  minScales?: Float64Array,
): Standardized {
  const means = new Float64Array(cols);
  const scales = new Float64Array(cols).fill(1);
  for (let i = 0; i < rows; i++) {
    const o = i * cols;
    for (let j = 0; j < cols; j++) means[j] = (means[j] as number) + (data[o + j] as number);
  }
  if (rows > 0) for (let j = 0; j < cols; j++) means[j] = (means[j] as number) / rows;
  // Two passes (mean first, then squared deviations) to avoid the cancellation of sum(x^2) - n*mean^2.
  const ss = new Float64Array(cols);
  for (let i = 0; i < rows; i++) {
    const o = i * cols;
    for (let j = 0; j < cols; j++) {
      const dv = (data[o + j] as number) - (means[j] as number);
      ss[j] = (ss[j] as number) + dv * dv;
    }
  }
  const constant = new Uint8Array(cols);
  for (let j = 0; j < cols; j++) {
    const sd = rows > 0 ? Math.sqrt((ss[j] as number) / rows) : 0;
    // Relative threshold: a column that differs only by rounding noise is constant for our purpose.
    if (sd > 1e-12 * Math.max(1, Math.abs(means[j] as number))) scales[j] = Math.max(sd, minScales?.[j] ?? 0);
    else constant[j] = 1;
  }
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const o = i * cols;
    for (let j = 0; j < cols; j++) {
      // Constant columns: exact zeros, so rounding residue cannot create spurious structure.
      if (constant[j] === 1) continue;
      const centred = (data[o + j] as number) - (means[j] as number);
      out[o + j] = (centred / (scales[j] as number)) * (weights[j] as number);
    }
  }
  return { data: out, means, scales, constant };
}
