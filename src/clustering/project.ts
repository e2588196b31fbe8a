/**
 * Rows in their features' own units, taken into a run's clustering space (standardised, weighted,
 * projected on its principal components when it used them): where its centroids live.
 */
import type { ClusteringOutcome } from './types.ts';

export type ClusteringModel = ClusteringOutcome['model'];

/** Dimensions of the clustering space: components when PCA was used, else features. */
export function modelDims(model: ClusteringModel): number {
  return model.pcaComponents?.length ?? model.means.length;
}

/** One row (length = features) into the clustering space; `out` (length modelDims) is reused when given. */
export function project(model: ClusteringModel, row: ArrayLike<number>, out = new Float64Array(modelDims(model))): Float64Array {
  const cols = model.means.length;
  if (row.length !== cols) throw new RangeError(`row has ${row.length} values, the model ${cols} features`);
  const z = model.pcaComponents === null ? out : new Float64Array(cols);
  for (let j = 0; j < cols; j++) z[j] = ((row[j]! - model.means[j]!) / model.scales[j]!) * model.weights[j]!;
  const basis = model.pcaComponents;
  if (basis !== null) {
    for (let c = 0; c < basis.length; c++) {
      const v = basis[c]!;
      let s = 0;
      for (let j = 0; j < cols; j++) s += z[j]! * v[j]!;
      out[c] = s;
    }
  }
  return out;
}

/** Every row of a row-major matrix (rows x features) into the clustering space, row-major rows x modelDims. */
export function projectRows(model: ClusteringModel, data: Float64Array, rows: number): Float64Array {
  const cols = model.means.length;
  const dims = modelDims(model);
  const out = new Float64Array(rows * dims);
  for (let i = 0; i < rows; i++) project(model, data.subarray(i * cols, i * cols + cols), out.subarray(i * dims, i * dims + dims));
  return out;
}
