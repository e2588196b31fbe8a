import type { Points } from './kmeans.ts';
import type { ClusterSummary, FeatureMatrix } from './types.ts';

export interface Relabelled {
  labels: Int32Array;
  k: number;
  /** Row-major k * dims, in the clustering space, in the new label order. */
  centroids: Float64Array;
}

/**
 * Renumber clusters by descending size, then by centroid (lexicographic), then by first member, so
 * labels do not depend on which restart or seed order produced them. Empty clusters are dropped and
 * noise (-1) is kept as is.
 */
export function relabel(points: Points, labels: Int32Array, rawK: number): Relabelled {
  const { data, rows, dims } = points;
  const sizes = new Int32Array(rawK);
  const first = new Int32Array(rawK).fill(-1);
  const sums = new Float64Array(rawK * dims);
  for (let i = 0; i < rows; i++) {
    const l = labels[i] as number;
    if (l < 0) continue;
    sizes[l] = (sizes[l] as number) + 1;
    if (first[l] === -1) first[l] = i;
    for (let j = 0; j < dims; j++) sums[l * dims + j] = (sums[l * dims + j] as number) + (data[i * dims + j] as number);
  }
  const order: number[] = [];
  for (let c = 0; c < rawK; c++) {
    if ((sizes[c] as number) === 0) continue;
    for (let j = 0; j < dims; j++) sums[c * dims + j] = (sums[c * dims + j] as number) / (sizes[c] as number);
    order.push(c);
  }
  order.sort((a, b) => {
    const bySize = (sizes[b] as number) - (sizes[a] as number);
    if (bySize !== 0) return bySize;
    for (let j = 0; j < dims; j++) {
      const d = (sums[a * dims + j] as number) - (sums[b * dims + j] as number);
      if (d !== 0) return d;
    }
    return (first[a] as number) - (first[b] as number);
  });
  const map = new Int32Array(rawK).fill(-1);
  const centroids = new Float64Array(order.length * dims);
  order.forEach((c, newIndex) => {
    map[c] = newIndex;
    centroids.set(sums.subarray(c * dims, c * dims + dims), newIndex * dims);
  });
  const out = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const l = labels[i] as number;
    out[i] = l < 0 ? -1 : (map[l] as number);
  }
  return { labels: out, k: order.length, centroids };
}

const DISTINGUISHING = 5;

/**
 * Per cluster: size, mean in original units and the features that set it apart, as z-scores of the
 * cluster mean against the overall mean in overall standard deviations (constant features score 0).
 */
export function summarize(
  matrix: FeatureMatrix,
  labels: Int32Array,
  k: number,
  means: Float64Array,
  scales: Float64Array,
  constant: Uint8Array,
): ClusterSummary[] {
  const { rows, cols, data, names } = matrix;
  const sizes = new Int32Array(k);
  const sums = new Float64Array(k * cols);
  for (let i = 0; i < rows; i++) {
    const l = labels[i] as number;
    if (l < 0) continue;
    sizes[l] = (sizes[l] as number) + 1;
    for (let j = 0; j < cols; j++) sums[l * cols + j] = (sums[l * cols + j] as number) + (data[i * cols + j] as number);
  }
  const out: ClusterSummary[] = [];
  for (let c = 0; c < k; c++) {
    const size = sizes[c] as number;
    const centroid: number[] = [];
    const scored: Array<{ feature: string; value: number; overall: number; z: number; j: number }> = [];
    for (let j = 0; j < cols; j++) {
      const value = size > 0 ? (sums[c * cols + j] as number) / size : 0;
      centroid.push(value);
      const overall = means[j] as number;
      const z = constant[j] === 1 ? 0 : (value - overall) / (scales[j] as number);
      scored.push({ feature: names[j] ?? `f${j}`, value, overall, z, j });
    }
    // Column order breaks ties so the list is stable.
    scored.sort((a, b) => Math.abs(b.z) - Math.abs(a.z) || a.j - b.j);
    const distinguishing = scored.slice(0, DISTINGUISHING).map(({ feature, value, overall, z }) => ({ feature, value, overall, z }));
    out.push({ index: c, size, centroid, distinguishing });
  }
  return out;
}

/**
 * Summaries of clusters found in a transformed space (square roots, say), told in the units of `matrix`:
 * the same rows and columns before the transform. Centroids and each distinguishing feature's cluster and
 * overall means become means of `matrix`; the z-scores, and so which features are listed and in what order,
 * stay those of the space the clustering compared.
 */
export function inUnitsOf(clusters: readonly ClusterSummary[], matrix: FeatureMatrix, labels: Int32Array): ClusterSummary[] {
  const { rows, cols, data, names } = matrix;
  const k = clusters.length;
  const sizes = new Int32Array(k);
  const sums = new Float64Array(k * cols);
  const overall = new Float64Array(cols);
  for (let i = 0; i < rows; i++) {
    const l = labels[i] as number;
    for (let j = 0; j < cols; j++) overall[j] = (overall[j] as number) + (data[i * cols + j] as number);
    if (l < 0 || l >= k) continue;
    sizes[l] = (sizes[l] as number) + 1;
    for (let j = 0; j < cols; j++) sums[l * cols + j] = (sums[l * cols + j] as number) + (data[i * cols + j] as number);
  }
  if (rows > 0) for (let j = 0; j < cols; j++) overall[j] = (overall[j] as number) / rows;
  const column = new Map(names.map((name, j) => [name, j]));
  return clusters.map((c) => {
    const size = sizes[c.index] as number;
    const centroid = Array.from({ length: cols }, (_, j) => (size > 0 ? (sums[c.index * cols + j] as number) / size : 0));
    const distinguishing = c.distinguishing.map((d) => {
      const j = column.get(d.feature);
      return j === undefined ? d : { ...d, value: centroid[j] as number, overall: overall[j] as number };
    });
    return { ...c, centroid, distinguishing };
  });
}
