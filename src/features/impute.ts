/**
 * Replaces unknown values (NaN) with the mean of the known values of their column, in place, so that a
 * VM whose attributes never arrived sits at the average instead of pulling its cluster. Returns the number
 * of values imputed.
 */
export function imputeColumnMeans(data: Float64Array, rows: number, cols: number): number {
  let imputed = 0;
  for (let j = 0; j < cols; j++) {
    let sum = 0;
    let known = 0;
    for (let i = 0; i < rows; i++) {
      const v = data[i * cols + j]!;
      if (!Number.isNaN(v)) {
        sum += v;
        known++;
      }
    }
    const mean = known > 0 ? sum / known : 0;
    for (let i = 0; i < rows; i++) {
      if (Number.isNaN(data[i * cols + j]!)) {
        data[i * cols + j] = mean;
        imputed++;
      }
    }
  }
  return imputed;
}
