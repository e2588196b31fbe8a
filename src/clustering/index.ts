import { driftReason, measureDrift, type SearchReason, type SearchRecord, searchBeforeFit, warmCentres } from './drift.ts';
import { dbscan, INDEX_AXES, KNEE_SAMPLE, KNEE_SAMPLE_ABOVE, kDistances, kneeEps } from './dbscan.ts';
import { KdIndex } from './kd-index.ts';
import { defaultStability, stability } from './stability.ts';
import { type KMeansRun, KMEANS_RELATIVE_TOLERANCE, kmeansPath, kmeansTolerance, lloyd, type Points } from './kmeans.ts';
import { principalComponents } from './pca.ts';
import { calinskiHarabasz, type DistanceSample, distanceSample, sampleIndices, silhouette, silhouetteDetail, totalSumOfSquares, clusterSilhouetteExact } from './quality.ts';
import { chooseK } from './select-k.ts';
import { standardize } from './standardize.ts';
import { relabel, summarize } from './summarize.ts';
import { type ClusteringOptions, type ClusteringOutcome, defaultClusteringOptions, type FeatureMatrix, type KCandidate } from './types.ts';

export * from './types.ts';
export * from './drift.ts';
export { selectK, selectKByStability, selectKByTolerance } from './select-k.ts';

/** The weakest-cluster rule ignores clusters smaller than this: see the comment where it is used. */
const MIN_SCORED_CLUSTER = 3;

/** Nested option groups are merged one level deep so `{ pca: { enabled: true } }` keeps the other defaults. */
function resolveOptions(options: Partial<ClusteringOptions> = {}): ClusteringOptions {
  return {
    ...defaultClusteringOptions,
    ...options,
    pca: { ...defaultClusteringOptions.pca, ...options.pca },
    dbscan: { ...defaultClusteringOptions.dbscan, ...options.dbscan },
    drift: { ...defaultClusteringOptions.drift, ...options.drift },
  };
}

function validate(matrix: FeatureMatrix, o: ClusteringOptions): void {
  const { rows, cols, data, names } = matrix;
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0) throw new RangeError(`bad matrix shape ${rows}x${cols}`);
  if (data.length !== rows * cols) throw new RangeError(`matrix data has ${data.length} values, expected ${rows}x${cols}`);
  if (names.length !== cols) throw new RangeError(`matrix has ${names.length} names for ${cols} columns`);
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i] as number)) throw new RangeError(`non-finite feature value at row ${Math.floor(i / cols)}, column ${i % cols}`);
  }
  if (o.weights && o.weights.length !== cols) throw new RangeError(`${o.weights.length} weights for ${cols} columns`);
  if (o.minScales && o.minScales.length !== cols) throw new RangeError(`${o.minScales.length} minimum scales for ${cols} columns`);
  if (o.k !== undefined && !(Number.isInteger(o.k) && o.k >= 1)) throw new RangeError(`k must be a positive integer, got ${o.k}`);
}

function timed<T>(timings: Record<string, number>, stage: string, fn: () => T): T {
  const start = performance.now();
  const value = fn();
  timings[stage] = (timings[stage] ?? 0) + (performance.now() - start);
  return value;
}

/** The given rows of `points`, as a new flat array. */
function takeRows(points: Points, indices: Int32Array): Points {
  const { data, dims } = points;
  const out = new Float64Array(indices.length * dims);
  for (let r = 0; r < indices.length; r++) out.set(data.subarray(indices[r]! * dims, indices[r]! * dims + dims), r * dims);
  return { data: out, rows: indices.length, dims };
}

function rowsToArrays(flat: Float64Array, rows: number, dims: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < rows; i++) out.push(Array.from(flat.subarray(i * dims, i * dims + dims)));
  return out;
}

/** A cluster with fewer sampled members than this gets its silhouette computed exactly. */
const MIN_SAMPLED_MEMBERS = 10;

/** Up to MIN_SAMPLED_MEMBERS members (the first by row) of each cluster the sample under-represents. */
function membersOfUnderSampled(run: KMeansRun, sampled: Int32Array): Map<number, number[]> {
  const sizes = new Int32Array(run.k);
  for (const l of run.labels) sizes[l] = (sizes[l] as number) + 1;
  const out = new Map<number, number[]>();
  for (let c = 0; c < run.k; c++) if ((sampled[c] as number) < Math.min(MIN_SAMPLED_MEMBERS, sizes[c] as number)) out.set(c, []);
  if (out.size === 0) return out;
  run.labels.forEach((l, i) => {
    const list = out.get(l);
    if (list && list.length < MIN_SAMPLED_MEMBERS) list.push(i);
  });
  return out;
}

/** Every row in one cluster: the answer when there is nothing to split. */
function singleCluster(points: Points): KMeansRun {
  const { data, rows, dims } = points;
  const centroid = new Float64Array(dims);
  for (let i = 0; i < rows; i++) for (let j = 0; j < dims; j++) centroid[j] = (centroid[j] as number) + (data[i * dims + j] as number);
  if (rows > 0) for (let j = 0; j < dims; j++) centroid[j] = (centroid[j] as number) / rows;
  return { k: rows > 0 ? 1 : 0, labels: new Int32Array(rows), centroids: centroid, inertia: totalSumOfSquares(points), iterations: 0, converged: true };
}

/**
 * Standardise, weight, optionally project with PCA, then cluster with k-means (fixed or automatic k)
 * or DBSCAN. Pure and deterministic: the same matrix and options give the same outcome, bit for bit,
 * apart from `timings`.
 */
export function cluster(matrix: FeatureMatrix, options: Partial<ClusteringOptions> = {}): ClusteringOutcome {
  const o = resolveOptions(options);
  validate(matrix, o);
  const { rows, cols } = matrix;
  const timings: Record<string, number> = {};
  const weights = o.weights ?? new Float64Array(cols).fill(1);

  const std = timed(timings, 'standardize', () => standardize(matrix.data, rows, cols, weights, o.minScales));
  const projection = timed(timings, 'pca', () =>
    o.pca.enabled ? principalComponents(std.data, rows, cols, o.pca.varianceToKeep, o.pca.maxComponents) : null,
  );
  const points: Points = projection ? { data: projection.data, rows, dims: projection.components } : { data: std.data, rows, dims: cols };

  const parameters: Record<string, number | string | boolean> = {
    algorithm: o.algorithm,
    seed: o.seed,
    rows,
    cols,
    weighted: o.weights !== undefined,
    pca: projection !== null,
    pcaRequested: o.pca.enabled,
    pcaVarianceToKeep: o.pca.varianceToKeep,
    pcaMaxComponents: o.pca.maxComponents,
    pcaComponents: projection?.components ?? 0,
    pcaVarianceKept: projection ? projection.explained.reduce((s, v) => s + v, 0) : 1,
    silhouetteSampleSize: o.silhouetteSampleSize,
  };

  const sampleOf = (eligible: Int32Array): DistanceSample =>
    timed(timings, 'silhouette', () => distanceSample(points, sampleIndices(eligible, Math.max(2, o.silhouetteSampleSize), o.seed)));

  let rawLabels: Int32Array;
  let rawK: number;
  let inertia: number | null = null;
  let noise = 0;
  const candidates: KCandidate[] = [];
  let searchSampleOfAllRows: DistanceSample | null = null;
  let search: SearchRecord | undefined;
  let warmFitUsed = false;

  switch (o.algorithm) {
    case 'kmeans': {
      const fixedK = o.k !== undefined;
      const warm = o.warm;
      let searchReason: SearchReason = fixedK ? 'fixed-k' : (searchBeforeFit(warm, o.forceSearch, o.drift) ?? 'no-drift');
      let drift: SearchRecord['drift'] = null;
      if (warm !== undefined && warm.k >= 2 && (fixedK ? warm.k === o.k : searchReason === 'no-drift') && rows > 1) {
        // One fit from the previous clusters, on all rows: the whole cost of a run on an unchanged fleet.
        const start = warmCentres(points, warm);
        if (start.k >= 2 && (!fixedK || start.k === o.k)) {
          const fit = timed(timings, 'kmeans', () => lloyd(points, start.centres, o.maxIterations, kmeansTolerance(points)));
          drift = measureDrift(warm, start, fit.labels, fit.inertia, totalSumOfSquares(points));
          if (!fixedK) searchReason = driftReason(drift, warm.referenceUnexplained, o.drift);
          if (searchReason === 'no-drift' || searchReason === 'fixed-k') {
            warmFitUsed = true;
            search = { searched: false, reason: searchReason, runsSinceSearch: warm.runsSinceSearch + 1, referenceUnexplained: warm.referenceUnexplained, drift };
            parameters.restarts = o.restarts;
            parameters.maxIterations = o.maxIterations;
            parameters.relativeTolerance = KMEANS_RELATIVE_TOLERANCE;
            parameters.kSelection = fixedK ? 'fixed' : 'warm';
            if (fixedK) parameters.kRequested = o.k as number;
            parameters.warmSilhouetteSampleSize = o.warmSilhouetteSampleSize;
            rawLabels = fit.labels;
            rawK = fit.k;
            inertia = fit.inertia;
            break;
          }
        } else if (!fixedK) {
          searchReason = 'cluster-lost';
        }
      }
      // The search for k runs on a seeded sample when the data is large; the chosen k is then fitted on
      // every row, warm-started from the sample's solution. Searching every k on all rows is what made
      // 10k VMs take 10 s.
      const sampled = rows > o.searchSampleSize;
      const searchRowIndices = sampled ? sampleIndices(Int32Array.from({ length: rows }, (_, i) => i), o.searchSampleSize, o.seed ^ 0x2545f491) : null;
      const searchPoints: Points = searchRowIndices ? takeRows(points, searchRowIndices) : points;
      const total = totalSumOfSquares(searchPoints);
      const searchRows = searchPoints.rows;
      const allRows = Int32Array.from({ length: searchRows }, (_, i) => i);
      let searchSample: DistanceSample | null = null;
      const score = (run: KMeansRun): KCandidate => {
        searchSample ??= timed(timings, 'silhouette', () =>
          distanceSample(searchPoints, sampleIndices(allRows, Math.max(2, o.silhouetteSampleSize), o.seed)),
        );
        const s = searchSample;
        const sil = timed(timings, 'silhouette', () => silhouetteDetail(s, run.labels, run.k));
        let weakest = Number.POSITIVE_INFINITY;
        if (sil !== null) {
          const members = membersOfUnderSampled(run, sil.sampled);
          const sizes = new Int32Array(run.k);
          for (let i = 0; i < run.labels.length; i++) sizes[run.labels[i]!]!++;
          for (let c = 0; c < run.k; c++) {
            // Outliers isolated in clusters of one or two score 0 by definition; they say nothing of k.
            if (sizes[c]! < MIN_SCORED_CLUSTER) continue;
            const few = members.get(c);
            const v = few ? timed(timings, 'silhouette', () => clusterSilhouetteExact(searchPoints, run.labels, run.k, few)) : (sil.perCluster[c] as number);
            if (v < weakest) weakest = v;
          }
        }
        const candidate: KCandidate = {
          k: run.k,
          silhouette: sil?.mean ?? -1,
          inertia: run.inertia,
          calinskiHarabasz: calinskiHarabasz(total, run.inertia, searchRows, run.k),
          minClusterSilhouette: Number.isFinite(weakest) ? weakest : -1,
        };
        if (o.kSelection === 'stability' && o.k === undefined) {
          candidate.stability = timed(timings, 'stability', () =>
            stability(searchPoints, run, { ...defaultStability, maxIterations: o.maxIterations, tolerance: kmeansTolerance(searchPoints), seed: o.seed }),
          );
        }
        return candidate;
      };
      parameters.restarts = o.restarts;
      parameters.maxIterations = o.maxIterations;
      parameters.relativeTolerance = KMEANS_RELATIVE_TOLERANCE;
      parameters.searchSampled = sampled;
      parameters.searchSampleSize = o.searchSampleSize;
      const runs = new Map<number, KMeansRun>();
      let kTo: number;
      if (o.k !== undefined) {
        parameters.kSelection = 'fixed';
        parameters.kRequested = o.k;
        kTo = Math.min(o.k, searchRows);
      } else {
        const kMin = Math.max(2, o.kMin);
        kTo = Math.min(o.kMax, searchRows - 1);
        parameters.kSelection = o.kSelection;
        if (o.kSelection === 'weakest-cluster') parameters.minClusterSilhouette = o.minClusterSilhouette;
        else if (o.kSelection === 'stability') {
          parameters.stabilityTolerance = o.stabilityTolerance;
          parameters.stabilityResamples = defaultStability.resamples;
          parameters.stabilityShare = defaultStability.share;
        } else parameters.silhouetteTolerance = o.silhouetteTolerance;
        parameters.kMin = kMin;
        parameters.kMax = kTo;
      }
      const kMin = o.k !== undefined ? kTo : Math.max(2, o.kMin);
      if (total > 0 && kTo >= 2) {
        const kmeansStart = performance.now();
        const silhouetteBefore = timings.silhouette ?? 0;
        kmeansPath(searchPoints, kTo, o.seed, o.restarts, o.maxIterations, (run) => {
          runs.set(run.k, run);
          if (run.k >= kMin && o.k === undefined) candidates.push(score(run));
        });
        // Scoring ran inside the path; its time is booked under 'silhouette'.
        timings.kmeans = performance.now() - kmeansStart - ((timings.silhouette ?? 0) - silhouetteBefore);
      }
      const k = o.k !== undefined ? (runs.has(kTo) ? kTo : Math.max(0, ...runs.keys())) : chooseK(candidates, o.kSelection, o);
      let chosen = (k === null ? undefined : runs.get(k)) ?? singleCluster(points);
      if (sampled && chosen.k >= 2) {
        const fromSample = chosen;
        // Only the sample's solution is refined on all rows. Fresh k-means++ restarts on all rows (two, until
        // 2026-11) cost 1.3 s of the 4.4 s at 100k VMs and ended 15% above the refined sample solution there:
        // a 3,000-row sample with its warm-started path is a better start than any single seeding.
        chosen = timed(timings, 'kmeans', () => lloyd(points, fromSample.centroids, o.maxIterations, kmeansTolerance(points)));
      } else if (sampled) {
        chosen = singleCluster(points);
      }
      const searched = runs.get(chosen.k);
      if (o.k !== undefined && searched && chosen.k >= 2 && chosen.k < searchRows) candidates.push(score(searched));
      const scored = searchSample as DistanceSample | null;
      if (searchRowIndices && scored) searchSampleOfAllRows = { indices: scored.indices.map((i) => searchRowIndices[i]!), distances: scored.distances };
      rawLabels = chosen.labels;
      rawK = chosen.k;
      inertia = chosen.inertia;
      const allTotal = totalSumOfSquares(points);
      search = {
        searched: !fixedK,
        reason: searchReason === 'no-drift' ? 'no-previous-run' : searchReason,
        runsSinceSearch: fixedK && warm !== undefined ? warm.runsSinceSearch + 1 : 0,
        referenceUnexplained: allTotal > 0 ? chosen.inertia / allTotal : 0,
        drift,
      };
      break;
    }
    case 'dbscan': {
      const minPoints = Math.max(1, Math.floor(o.dbscan.minPoints));
      const index = timed(timings, 'dbscan', () => new KdIndex(points, INDEX_AXES));
      // The knee needs only the shape of the k-distance curve: a seeded sample of rows draws it at scale.
      const kneeRows = rows > KNEE_SAMPLE_ABOVE ? sampleIndices(Int32Array.from({ length: rows }, (_, i) => i), KNEE_SAMPLE, o.seed ^ 0x6a09e667) : undefined;
      const eps = o.dbscan.eps ?? timed(timings, 'dbscan', () => kneeEps(kDistances(points, minPoints, index, kneeRows)));
      parameters.eps = eps;
      parameters.epsSource = o.dbscan.eps === undefined ? 'k-distance-knee' : 'given';
      if (o.dbscan.eps === undefined) parameters.kneeRows = kneeRows?.length ?? rows;
      parameters.minPoints = minPoints;
      const result = timed(timings, 'dbscan', () => dbscan(points, eps, minPoints, index));
      rawLabels = result.labels;
      rawK = result.rawK;
      noise = result.noise;
      break;
    }
    default: {
      const unknown: never = o.algorithm;
      throw new RangeError(`unknown clustering algorithm ${String(unknown)}`);
    }
  }

  const { labels, k, centroids } = timed(timings, 'summarize', () => relabel(points, rawLabels, rawK));
  let quality: number | null = null;
  if (o.algorithm === 'kmeans' && warmFitUsed) {
    quality =
      k >= 2
        ? timed(timings, 'silhouette', () =>
            silhouette(
              distanceSample(points, sampleIndices(Int32Array.from({ length: rows }, (_, i) => i), Math.max(2, o.warmSilhouetteSampleSize), o.seed)),
              labels,
              k,
            ),
          )
        : null;
  } else if (o.algorithm === 'kmeans') {
    // After a sampled search the final fit differs from the sample's: score it afresh, on the search's
    // own distance sample (its rows are a seeded uniform sample of all rows), so no second O(m^2) pass.
    quality =
      parameters.searchSampled === true && k >= 2
        ? timed(timings, 'silhouette', () => silhouette(searchSampleOfAllRows ?? sampleOf(Int32Array.from({ length: rows }, (_, i) => i)), labels, k))
        : (candidates.find((c) => c.k === k)?.silhouette ?? null);
  } else if (k >= 2) {
    const clustered = Int32Array.from(labels.keys()).filter((i) => (labels[i] as number) >= 0);
    const s = sampleOf(clustered);
    quality = timed(timings, 'silhouette', () => silhouette(s, labels, k));
  }
  parameters.k = k;
  if (search !== undefined) {
    parameters.searched = search.searched;
    parameters.searchReason = search.reason;
  }
  parameters.silhouetteSampled = o.algorithm === 'kmeans' ? rows > o.silhouetteSampleSize : rows - noise > o.silhouetteSampleSize;

  const clusters = timed(timings, 'summarize', () => summarize(matrix, labels, k, std.means, std.scales, std.constant));
  return {
    algorithm: o.algorithm,
    parameters,
    labels,
    k,
    quality: { silhouette: quality, inertia, noise, candidates },
    clusters,
    model: {
      means: Array.from(std.means),
      scales: Array.from(std.scales),
      weights: Array.from(weights),
      constant: Array.from(std.constant),
      pcaComponents: projection ? projection.basis.map((v) => v.slice()) : null,
      centroids: rowsToArrays(centroids, k, points.dims),
    },
    ...(search === undefined ? {} : { search }),
    timings,
  };
}
