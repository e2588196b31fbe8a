/**
 * Two-dimensional coordinates of each VM for a scatter plot (`evaluate --plot`), written into the replay
 * result. A run that computed the dashboard's projection (the clustering space's first two principal
 * components, src/runs/projection.ts) gives it as is; otherwise the VMs' features are projected here with
 * ml-pca, each standardised (z-scores; unknown values at the column mean, constant columns left out).
 */
import { PCA } from 'ml-pca';
import type { FeatureMatrix } from '../clustering/types.ts';
import { imputeColumnMeans } from '../features/impute.ts';
import type { ClusteringRun } from '../runs/clustering-run.ts';

export interface ResultProjection {
  /** 'clustering-space': the run's own projection; 'features': z-scored features, projected here. */
  method: 'clustering-space' | 'features';
  /** Share of the standardised features' variance along each axis. */
  explained_variance: [number, number];
  /** VM id -> [pc1, pc2]. */
  points: Record<string, [number, number]>;
}

const round = (x: number): number => Number(x.toPrecision(4));

export function projectRun(run: ClusteringRun): ResultProjection {
  const p = run.vmProjection;
  if (p === undefined) return projectVms(run.vms.features, run.vms.ids);
  const points: Record<string, [number, number]> = {};
  run.vms.ids.forEach((id, i) => {
    points[id] = [round(p.x[i]!), round(p.y[i]!)];
  });
  return { method: 'clustering-space', explained_variance: [round(p.explained[0]), round(p.explained[1])], points };
}

export function projectVms(features: FeatureMatrix, ids: readonly string[]): ResultProjection {
  const { rows, cols } = features;
  if (rows < 3) {
    // Too few points for two components: place them on the first axis in order.
    return { method: 'features', explained_variance: [1, 0], points: Object.fromEntries(ids.map((id, i) => [id, [i, 0]])) };
  }
  const data = Float64Array.from(features.data);
  imputeColumnMeans(data, rows, cols);
  const matrix = Array.from({ length: rows }, (_, i) => Array.from(data.subarray(i * cols, (i + 1) * cols)));
  const pca = new PCA(matrix, { method: 'covarianceMatrix', center: true, scale: true, ignoreZeroVariance: true });
  const projected = pca.predict(matrix, { nComponents: 2 });
  const explained = pca.getExplainedVariance();
  const points: Record<string, [number, number]> = {};
  ids.forEach((id, i) => {
    points[id] = [round(projected.get(i, 0)), round(projected.columns > 1 ? projected.get(i, 1) : 0)];
  });
  return { method: 'features', explained_variance: [round(explained[0] ?? 0), round(explained[1] ?? 0)], points };
}
