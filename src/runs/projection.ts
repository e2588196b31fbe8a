/**
 * A picture of the fleet in two dimensions, for the dashboard's scatter: every VM on the first two principal
 * components of the space the run clustered in (standardised and weighted features, before any clustering
 * PCA). Computed in the run, so in the worker thread, once per run rather than per request.
 *
 * The axes come from a seeded sample of rows: the covariance is the costly part (rows x cols^2), and two
 * components of 45 features are as well estimated from a few thousand VMs as from 100k. Every VM is then
 * projected on them. Pure and deterministic.
 */
import { principalComponents } from '../clustering/pca.ts';
import type { ClusteringModel } from '../clustering/project.ts';
import { sampleIndices } from '../clustering/quality.ts';
import type { FeatureMatrix } from '../clustering/types.ts';

export interface ProjectionOptions {
  /** Rows the axes are estimated from when the fleet is larger. */
  sampleSize: number;
  seed: number;
}

const defaultProjectionOptions: ProjectionOptions = { sampleSize: 5000, seed: 1 };

/** Plain typed arrays so that they cross the worker-thread boundary. */
export interface FleetProjection {
  /** Coordinates of each VM on the first and second component, parallel to the run's ids. */
  x: Float32Array;
  y: Float32Array;
  /** Share of the sample's variance each axis explains (0 for an axis the data does not have). */
  explained: [number, number];
}

/** One row standardised and weighted with the run's model; constant columns are zero whatever the value. */
function standardRow(model: ClusteringModel, data: Float64Array, offset: number, out: Float64Array): void {
  for (let j = 0; j < out.length; j++) {
    out[j] = model.constant[j] === 1 ? 0 : ((data[offset + j]! - model.means[j]!) / model.scales[j]!) * model.weights[j]!;
  }
}

export function projectFleet(features: FeatureMatrix, model: ClusteringModel, options: Partial<ProjectionOptions> = {}): FleetProjection {
  const o = { ...defaultProjectionOptions, ...options };
  const { rows, cols, data } = features;
  const x = new Float32Array(rows);
  const y = new Float32Array(rows);
  if (rows < 2 || cols === 0 || model.means.length !== cols) return { x, y, explained: [0, 0] };

  const sample = sampleIndices(Int32Array.from({ length: rows }, (_, i) => i), o.sampleSize, o.seed);
  const centred = new Float64Array(sample.length * cols);
  const row = new Float64Array(cols);
  const mean = new Float64Array(cols);
  sample.forEach((r, s) => {
    standardRow(model, data, r * cols, row);
    centred.set(row, s * cols);
    for (let j = 0; j < cols; j++) mean[j] = mean[j]! + row[j]! / sample.length;
  });
  // The run's means centre the whole fleet; a sample needs its own for its covariance.
  for (let i = 0; i < centred.length; i++) centred[i] = centred[i]! - mean[i % cols]!;
  const pca = principalComponents(centred, sample.length, cols, 1, 2);
  if (pca === null) return { x, y, explained: [0, 0] };

  const [first, second] = pca.basis;
  for (let i = 0; i < rows; i++) {
    standardRow(model, data, i * cols, row);
    let a = 0;
    let b = 0;
    for (let j = 0; j < cols; j++) {
      a += (row[j]! - mean[j]!) * first![j]!;
      if (second !== undefined) b += (row[j]! - mean[j]!) * second[j]!;
    }
    x[i] = a;
    y[i] = b;
  }
  return { x, y, explained: [pca.explained[0] ?? 0, pca.explained[1] ?? 0] };
}
