import { type DriftPolicy, defaultDriftPolicy, type ForcedSearch, type SearchRecord, type WarmStart } from './drift.ts';

/** A dense numeric table: one row per entity (VM or tenant), one column per traffic feature. */
export interface FeatureMatrix {
  readonly rows: number;
  readonly cols: number;
  /** Row-major, rows * cols values. */
  readonly data: Float64Array;
  readonly names: readonly string[];
}

export type ClusteringAlgorithm = 'kmeans' | 'dbscan';
export type KSelection = 'silhouette-tolerance' | 'weakest-cluster' | 'stability';

export interface ClusteringOptions {
  algorithm: ClusteringAlgorithm;
  seed: number;
  /** Fixed number of clusters; when absent k is chosen automatically within [kMin, kMax]. */
  k?: number;
  kMin: number;
  /** Clamped to rows - 1 (silhouette is undefined when every point is its own cluster). */
  kMax: number;
  /** Seeded k-means++ restarts per candidate k; the lowest inertia wins. */
  restarts: number;
  maxIterations: number;
  /** Per-feature weight applied after standardisation (default all 1). */
  weights?: Float64Array;
  /**
   * Per-feature floor on the standardisation scale: the smallest difference in the feature's own units
   * that should count as a whole standard deviation (default none).
   */
  minScales?: Float64Array;
  pca: { enabled: boolean; varianceToKeep: number; maxComponents: number };
  /** Silhouette is computed on a seeded sample of this many rows when there are more, to avoid O(n^2). */
  silhouetteSampleSize: number;
  /**
   * Above this many rows, the k-means search (every k, every restart) runs on a seeded sample of this
   * size, and only the chosen k is fitted on all rows.
   */
  searchSampleSize: number;
  /** How automatic k is chosen (see select-k.ts): 'silhouette-tolerance' (default), 'weakest-cluster' or 'stability'. */
  kSelection: KSelection;
  /** 'silhouette-tolerance': the largest k whose mean silhouette is within this of the best; default 0.025. */
  silhouetteTolerance: number;
  /** 'weakest-cluster': the largest k whose every cluster has at least this mean silhouette; default 0.25. */
  minClusterSilhouette: number;
  /** 'stability': the largest k whose stability is within this of the most stable k's; default 0.02. */
  stabilityTolerance: number;
  dbscan: { eps?: number; minPoints: number };
  /**
   * k-means only: the previous run's partition aligned to these rows (drift.ts). With it a run fits once
   * from the previous clusters and searches k only on drift; without it every run searches.
   */
  warm?: WarmStart;
  /** Search k even when a warm fit would do, for this reason (an operator's request, say). */
  forceSearch?: ForcedSearch;
  /** When a warm run gives way to a search (drift.ts). */
  drift: DriftPolicy;
  /**
   * The silhouette of a warm run is measured on a seeded sample of at most this many rows: it is reported,
   * not used to choose, and a sample of silhouetteSampleSize would cost many times the warm fit.
   */
  warmSilhouetteSampleSize: number;
}

export const defaultClusteringOptions: ClusteringOptions = {
  algorithm: 'kmeans',
  seed: 1,
  kMin: 2,
  kMax: 24,
  restarts: 5,
  maxIterations: 100,
  pca: { enabled: false, varianceToKeep: 0.95, maxComponents: 16 },
  silhouetteSampleSize: 2000,
  searchSampleSize: 3000,
  kSelection: 'silhouette-tolerance',
  silhouetteTolerance: 0.025,
  minClusterSilhouette: 0.25,
  stabilityTolerance: 0.02,
  dbscan: { minPoints: 5 },
  drift: defaultDriftPolicy,
  warmSilhouetteSampleSize: 300,
};

export interface ClusterSummary {
  /** Cluster label after deterministic relabelling (0 = largest). */
  index: number;
  size: number;
  /** Mean of the members in original feature units. */
  centroid: number[];
  /** Top 5 features by |z| of the cluster mean against the overall mean, in overall standard deviations. */
  distinguishing: Array<{ feature: string; value: number; overall: number; z: number }>;
}

export interface KCandidate {
  k: number;
  silhouette: number;
  inertia: number;
  calinskiHarabasz: number;
  /** Lowest per-cluster mean silhouette: how well the weakest cluster stands apart. */
  minClusterSilhouette: number;
  /** Mean agreement with refits on subsamples (stability.ts); only computed by the 'stability' rule. */
  stability?: number;
}

export interface ClusteringOutcome {
  algorithm: ClusteringAlgorithm;
  /** Everything needed to reproduce the result. */
  parameters: Record<string, number | string | boolean>;
  /** Per row; -1 = noise (DBSCAN only). */
  labels: Int32Array;
  /** Clusters found, noise excluded. */
  k: number;
  quality: {
    silhouette: number | null;
    inertia: number | null;
    noise: number;
    candidates: KCandidate[];
  };
  clusters: ClusterSummary[];
  model: {
    means: number[];
    scales: number[];
    weights: number[];
    /** 1 where the column had no variance: it is zeroed whatever its value, so a saved model must know. */
    constant: number[];
    /** One row per kept component, over the input features; null when PCA was off or skipped. */
    pcaComponents: number[][] | null;
    /** In the clustering space (standardised, weighted, projected). */
    centroids: number[][];
  };
  /** k-means only: whether this run searched k and why (drift.ts). */
  search?: SearchRecord;
  /** Milliseconds per stage; the only part of the outcome that is not reproducible. */
  timings: Record<string, number>;
}
