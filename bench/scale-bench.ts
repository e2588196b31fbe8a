/**
 * Clustering at 10k, 50k and 100k VMs: the stages of one run (standardise, PCA, k-means with fixed and
 * automatic k, DBSCAN, explanations, anomalies, affinity groups, identity matching) and peak RSS.
 *
 * How the VMs are made: the 1M-record trace is ingested once through the real pipeline (11.6k VMs), and
 * its run input's feature matrix is replicated row by row up to the target size with Gaussian jitter of
 * JITTER x each column's standard deviation (values kept >= 0 where the column has no negatives), so the
 * rows keep the trace's realistic structure without being exact duplicates. The traffic graph for the
 * affinity groups is the trace's graph copied once per replica (disjoint copies). Feature extraction
 * (the run input) and the windows' memory are therefore measured on the real 11.6k-VM fleet only;
 * generating a 100k-VM trace would take about 70 s and 2 GB per run of the bench.
 *
 * The stage figures add up to an estimate (full_run_estimate_ms); the run_* figures are whole runs on the
 * replicated run input, through the service's WorkerClusterer (its two threads) and inline.
 */
import { loadavg } from 'node:os';
import { dbscanBruteForce, kDistancesBruteForce, kneeEps } from '../src/clustering/dbscan.ts';
import { cluster } from '../src/clustering/index.ts';
import { standardize } from '../src/clustering/standardize.ts';
import type { ClusteringOptions, ClusteringOutcome, FeatureMatrix } from '../src/clustering/types.ts';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../src/config/pipeline-options.ts';
import { Random } from '../src/core/random.ts';
import { imputeColumnMeans } from '../src/features/impute.ts';
import { vmFeatureMinScales, vmFeatureWeights } from '../src/features/vm-features.ts';
import { Pipeline } from '../src/pipeline/pipeline.ts';
import { affinityGroups } from '../src/runs/affinity.ts';
import { scoreAnomalies } from '../src/runs/anomalies.ts';
import { type RunOptions, runClustering, type Side } from '../src/runs/clustering-run.ts';
import { explainVms, nameClusters } from '../src/runs/explain.ts';
import { matchSide, sideClusters } from '../src/runs/identity.ts';
import type { RunInput, VmPairs } from '../src/runs/run-input.ts';
import { WorkerClusterer } from '../src/service/clusterer.ts';
import { readTraceChunks } from '../src/trace/trace-reader.ts';

const JITTER = 0.05;
/** Share of VMs moved to another cluster in the "slightly perturbed copy" the identity matching is timed on. */
const MOVED_SHARE = 0.02;
/**
 * The brute-force DBSCAN (density-clustering, O(n^2) region queries plus an O(n^2) k-distance knee) is
 * timed up to this size only, as the reference the index-backed one replaced: 10k points already take
 * about 19 s, 100k would take many minutes.
 */
const BRUTE_FORCE_MAX_ROWS = 10_000;

export interface ScaleFigures {
  vms: number;
  features: number;
  k_chosen: number;
  standardize_ms: number;
  pca_ms: number;
  pca_components: number;
  kmeans_auto_k_total_ms: number;
  kmeans_auto_k_cpu_ms: number;
  kmeans_fixed_k_cpu_ms: number;
  dbscan_cpu_ms: number | null;
  full_run_estimate_cpu_ms: number;
  /** 1-minute load average of the machine when this size started and ended (2 cores). */
  load_average: [number, number];
  kmeans_auto_k_stages_ms: Record<string, number>;
  kmeans_fixed_k_total_ms: number;
  dbscan_total_ms: number | null;
  dbscan_stages_ms: Record<string, number>;
  /** The brute-force DBSCAN it replaced (density-clustering), on the same points, where affordable. */
  dbscan_brute_force_ms: number | null;
  dbscan_note?: string;
  dbscan_clusters?: number;
  dbscan_noise?: number;
  explain_ms: number;
  name_clusters_ms: number;
  anomalies_ms: number;
  affinity_ms: number;
  affinity_edges: number;
  identity_match_ms: number;
  full_run_estimate_ms: number;
  /**
   * A whole run as the service makes it: WorkerClusterer (two worker threads, the affinity groups and
   * tenant clusters beside the VM clusters) on the replicated run input, wall time from the request to the
   * assembled run, with a warm worker. Includes what the estimate leaves out (tenant side, projection,
   * moving the run input and the result between threads).
   */
  run_wall_ms: number;
  /** The same run inline (runClustering, one thread), as replay makes it. */
  run_inline_ms: number;
  /** Stage times of the worker run, from the threads that ran them. */
  run_stages_ms: Record<string, number>;
  run_tenants: number;
  peak_rss_mb: number;
}

export interface ScaleBenchResult {
  method: string;
  source: { trace: string; vms: number; features: number; snapshot_ms: number; window_memory_mb: Record<string, number> };
  sizes: ScaleFigures[];
}

let peakRss = 0;
const sampleRss = (): void => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
};

/** Wall time and this process's CPU time (user + system): on a shared machine the second is the steadier figure. */
function time<T>(fn: () => T): { value: T; ms: number; cpuMs: number } {
  const t = performance.now();
  const c = process.cpuUsage();
  const value = fn();
  const ms = performance.now() - t;
  const used = process.cpuUsage(c);
  sampleRss();
  return { value, ms, cpuMs: (used.user + used.system) / 1000 };
}

function gaussian(rand: Random): number {
  // Box-Muller; 1 - u keeps log away from 0.
  return Math.sqrt(-2 * Math.log(1 - rand.next())) * Math.cos(2 * Math.PI * rand.next());
}

export function replicate(base: FeatureMatrix, rows: number, seed: number): FeatureMatrix {
  const { cols } = base;
  const std = new Float64Array(cols);
  const mean = new Float64Array(cols);
  const nonNegative = new Uint8Array(cols).fill(1);
  for (let i = 0; i < base.rows; i++)
    for (let j = 0; j < cols; j++) {
      const v = base.data[i * cols + j]!;
      mean[j]! += v / base.rows;
      if (v < 0) nonNegative[j] = 0;
    }
  for (let i = 0; i < base.rows; i++)
    for (let j = 0; j < cols; j++) std[j]! += (base.data[i * cols + j]! - mean[j]!) ** 2 / base.rows;
  for (let j = 0; j < cols; j++) std[j] = Math.sqrt(std[j]!);
  const rand = new Random(seed);
  const data = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const src = (i % base.rows) * cols;
    for (let j = 0; j < cols; j++) {
      let v = base.data[src + j]! + JITTER * std[j]! * gaussian(rand);
      if (nonNegative[j] === 1 && v < 0) v = 0;
      data[i * cols + j] = v;
    }
  }
  return { rows, cols, data, names: base.names };
}

function replicatePairs(base: VmPairs, baseRows: number, rows: number): VmPairs {
  const a: number[] = [];
  const b: number[] = [];
  const bytes: number[] = [];
  for (let offset = 0; offset < rows; offset += baseRows) {
    for (let e = 0; e < base.a.length; e++) {
      const x = base.a[e]! + offset;
      const y = base.b[e]! + offset;
      if (y >= rows) continue;
      a.push(x);
      b.push(y);
      bytes.push(base.bytes[e]!);
    }
  }
  return { a: Int32Array.from(a), b: Int32Array.from(b), bytes: Float64Array.from(bytes) };
}

/**
 * The whole run input at `rows` VMs: the replicated feature matrix and traffic graph, the volumes of the
 * replicated row, and each replica's VMs in tenants of their own (disjoint copies of the trace's tenants).
 */
export function replicateRunInput(base: RunInput, rows: number, seed: number): RunInput {
  const n = base.vmIds.length;
  const replica = (i: number): number => Math.floor(i / n);
  const tenantOf = (t: string, r: number): string => (r === 0 ? t : `${t}~${r}`);
  const copies = Math.ceil(rows / n);
  const tenants = Array.from({ length: copies }, (_, r) => base.tenants.map((t) => ({ ...t, tenantId: tenantOf(t.tenantId, r) })))
    .flat()
    .sort((a, b) => (a.tenantId < b.tenantId ? -1 : a.tenantId > b.tenantId ? 1 : 0));
  const volumes = (v: Float64Array): Float64Array => Float64Array.from({ length: rows }, (_, i) => v[i % n]!);
  // Missing values are imputed first, as a run would: a NaN would spread to its whole column's jitter.
  const features = { ...base.vmFeatures, data: base.vmFeatures.data.slice() };
  imputeColumnMeans(features.data, features.rows, features.cols);
  return {
    watermark: base.watermark,
    windowMs: base.windowMs,
    vmIds: Array.from({ length: rows }, (_, i) => `${base.vmIds[i % n]}~${replica(i)}`),
    vmTenants: Array.from({ length: rows }, (_, i) => {
      const t = base.vmTenants[i % n];
      return t == null ? null : tenantOf(t, replica(i));
    }),
    vmVpcs: Array.from({ length: rows }, (_, i) => base.vmVpcs[i % n] ?? null),
    vmFeatures: replicate(features, rows, seed),
    vmBytes: volumes(base.vmBytes),
    vmExternalBytes: volumes(base.vmExternalBytes),
    vmSameTenantBytes: volumes(base.vmSameTenantBytes),
    tenants,
    vmPairs: replicatePairs(base.vmPairs, n, rows),
  };
}

function side(outcome: ClusteringOutcome, features: FeatureMatrix, ids: string[]): Side {
  const labelIds = Array.from({ length: outcome.k }, (_, c) => `vm-${c}`);
  return { ids, clusterIds: Array.from(outcome.labels, (l) => (l < 0 ? 'noise' : labelIds[l]!)), labelIds, outcome, features };
}

const round = (ms: number): number => Math.round(ms);

type RunFigures = Pick<ScaleFigures, 'run_wall_ms' | 'run_inline_ms' | 'run_stages_ms' | 'run_tenants'>;

/** One run through the worker threads, then the same run inline, each on its own copy of the run input. */
async function measureRun(clusterer: WorkerClusterer, base: RunInput, rows: number, options: RunOptions): Promise<RunFigures> {
  // Built before the clock starts: WorkerClusterer transfers the run input's feature buffer away.
  const forWorker = replicateRunInput(base, rows, rows);
  const forInline = replicateRunInput(base, rows, rows);
  let t = performance.now();
  const run = await clusterer.run(forWorker, 'bench', options);
  const wallMs = performance.now() - t;
  sampleRss();
  t = performance.now();
  const inline = runClustering(forInline, 'bench', options);
  const inlineMs = performance.now() - t;
  sampleRss();
  // Both paths must give the same clusters; a difference here would make the comparison meaningless.
  if (inline.vms.clusterIds.join() !== run.vms.clusterIds.join() || inline.affinity?.sizes.join() !== run.affinity?.sizes.join())
    throw new Error(`worker and inline runs differ at ${rows} VMs`);
  const stages = { ...run.vms.outcome.timings, ...Object.fromEntries(Object.entries(run.tenants.outcome.timings).map(([k, v]) => [`tenant_${k}`, v])) };
  return {
    run_wall_ms: round(wallMs),
    run_inline_ms: round(inlineMs),
    run_stages_ms: Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, round(v)])),
    run_tenants: run.tenants.ids.length,
  };
}

function measure(base: FeatureMatrix, basePairs: VmPairs, rows: number, vmOptions: Partial<ClusteringOptions>): Omit<ScaleFigures, keyof RunFigures> {
  peakRss = 0;
  sampleRss();
  const loadBefore = loadavg()[0]!;
  const matrix = replicate(base, rows, rows);
  sampleRss();
  const opts = { ...vmOptions, weights: vmFeatureWeights(), minScales: vmFeatureMinScales() };
  const auto = time(() => cluster(matrix, opts));
  const outcome = auto.value;
  const fixed = time(() => cluster(matrix, { ...opts, k: outcome.k }));
  // PCA is off by default; timed on its own so its cost at scale is known.
  const pca = time(() => cluster(matrix, { ...opts, k: outcome.k, pca: { enabled: true, varianceToKeep: 0.95, maxComponents: 24 } }));

  let dbscanMs: number | null = null;
  let dbscanCpuMs: number | null = null;
  let dbscanNote: string | undefined;
  let dbscanClusters: number | undefined;
  let dbscanNoise: number | undefined;
  const d = time(() => cluster(matrix, { ...opts, algorithm: 'dbscan' }));
  dbscanMs = d.ms;
  dbscanCpuMs = d.cpuMs;
  dbscanClusters = d.value.k;
  dbscanNoise = d.value.quality.noise;
  const dbscanStages = Object.fromEntries(Object.entries(d.value.timings).map(([k, v]) => [k, round(v)]));
  let bruteForceMs: number | null = null;
  if (rows <= BRUTE_FORCE_MAX_ROWS) {
    const points = { data: standardize(matrix.data, rows, matrix.cols, opts.weights, opts.minScales).data, rows, dims: matrix.cols };
    const eps = Number(d.value.parameters.eps);
    const minPoints = Number(d.value.parameters.minPoints);
    // The knee as ours computed it (all rows, or a sample above KNEE_SAMPLE_ABOVE rows), so both cluster at the same eps.
    const kneeFromAllRows = d.value.parameters.kneeRows === rows;
    const brute = time(() => dbscanBruteForce(points, kneeFromAllRows ? kneeEps(kDistancesBruteForce(points, minPoints)) : eps, minPoints));
    bruteForceMs = brute.ms;
    // The index must not change a single label: checked here on the bench's own data as well as in the tests.
    if (brute.value.rawK !== dbscanClusters || brute.value.noise !== dbscanNoise) dbscanNote = `MISMATCH with brute force (eps ${eps})`;
  }

  const explain = time(() => explainVms(outcome, matrix));
  const names = time(() => nameClusters(outcome, matrix));
  const anomalies = time(() => scoreAnomalies(outcome, matrix, explain.value, { seed: 1 }));
  const pairs = replicatePairs(basePairs, base.rows, rows);
  const affinity = time(() => affinityGroups(rows, pairs, { seed: 1 }));

  // Identity matching against a slightly perturbed copy of the same run: MOVED_SHARE of the VMs change cluster.
  const ids = Array.from({ length: rows }, (_, i) => `vm-${i}`);
  const previous = sideClusters(side(outcome, matrix, ids));
  const moved = Int32Array.from(outcome.labels);
  const rand = new Random(7);
  for (let i = 0; i < rows; i++) if (outcome.k > 1 && rand.next() < MOVED_SHARE) moved[i] = (moved[i]! + 1) % outcome.k;
  const current = side({ ...outcome, labels: moved }, matrix, ids);
  const identity = time(() => matchSide(previous, current, 'vm-', outcome.k));

  const stages = Object.fromEntries(Object.entries(outcome.timings).map(([k, v]) => [k, round(v)]));
  return {
    vms: rows,
    features: matrix.cols,
    k_chosen: outcome.k,
    standardize_ms: round(outcome.timings.standardize ?? 0),
    pca_ms: round(pca.value.timings.pca ?? 0),
    pca_components: Number(pca.value.parameters.pcaComponents),
    kmeans_auto_k_total_ms: round(auto.ms),
    kmeans_auto_k_cpu_ms: round(auto.cpuMs),
    kmeans_fixed_k_cpu_ms: round(fixed.cpuMs),
    dbscan_cpu_ms: dbscanCpuMs === null ? null : round(dbscanCpuMs),
    full_run_estimate_cpu_ms: round(auto.cpuMs + explain.cpuMs + names.cpuMs + anomalies.cpuMs + affinity.cpuMs + identity.cpuMs),
    load_average: [Number(loadBefore.toFixed(2)), Number(loadavg()[0]!.toFixed(2))],
    kmeans_auto_k_stages_ms: stages,
    kmeans_fixed_k_total_ms: round(fixed.ms),
    dbscan_total_ms: dbscanMs === null ? null : round(dbscanMs),
    dbscan_stages_ms: dbscanStages,
    dbscan_brute_force_ms: bruteForceMs === null ? null : round(bruteForceMs),
    ...(dbscanNote ? { dbscan_note: dbscanNote } : {}),
    ...(dbscanClusters !== undefined ? { dbscan_clusters: dbscanClusters, dbscan_noise: dbscanNoise } : {}),
    explain_ms: round(explain.ms),
    name_clusters_ms: round(names.ms),
    anomalies_ms: round(anomalies.ms),
    affinity_ms: round(affinity.ms),
    affinity_edges: pairs.a.length,
    identity_match_ms: round(identity.ms),
    // What one default run of the VM side costs at this size (the tenant side is small whatever the VM count).
    full_run_estimate_ms: round(auto.ms + explain.ms + names.ms + anomalies.ms + affinity.ms + identity.ms),
    peak_rss_mb: Math.round(peakRss / 2 ** 20),
  };
}

export async function benchScale(trace: string, sizes: readonly number[] = [10_000, 50_000, 100_000]): Promise<ScaleBenchResult> {
  const pipeline = new Pipeline(toPipelineConfig(PipelineOptions.parse({ reclusterMinutes: 0 })));
  for await (const c of readTraceChunks(trace)) for (const line of c.lines) if (line) pipeline.ingestTraceLine(line, 'bench');
  const snap = time(() => pipeline.runInput());
  const base = snap.value.vmFeatures;
  imputeColumnMeans(base.data, base.rows, base.cols);
  const fleet = pipeline.fleet;
  const windowMemory = {
    ring_slab_mb: Number((fleet.slab.bytes / 2 ** 20).toFixed(1)),
    pair_traffic_mb: Number((fleet.pairs.bytes / 2 ** 20).toFixed(1)),
    pairs: fleet.pairs.size,
  };
  const runOptions = toRunOptions(PipelineOptions.parse({}));
  const clusterer = new WorkerClusterer();
  // The service's workers are long-lived: one untimed run first, so that thread start-up and the
  // workers' module loading are not counted in the first size's figure.
  await clusterer.run(replicateRunInput(snap.value, sizes[0] ?? 10_000, 1), 'warm-up', runOptions);
  const out: ScaleFigures[] = [];
  try {
    for (const rows of sizes) {
      process.stderr.write(`  scale: ${rows} VMs...\n`);
      const stages = measure(base, snap.value.vmPairs, rows, runOptions.vm);
      out.push({ ...stages, ...(await measureRun(clusterer, snap.value, rows, runOptions)), peak_rss_mb: Math.round(peakRss / 2 ** 20) });
    }
  } finally {
    await clusterer.close();
  }
  return {
    method: `feature matrix of ${trace} (${base.rows} VMs, real pipeline) replicated with Gaussian jitter ${JITTER} x column std; traffic graph copied per replica; for the whole runs (run_*), each replica's VMs in their own copies of the trace's tenants; snapshot and window memory measured on the real ${base.rows}-VM fleet; peak RSS sampled after each stage (includes the ingested trace's state)`,
    source: { trace, vms: base.rows, features: base.cols, snapshot_ms: round(snap.ms), window_memory_mb: windowMemory },
    sizes: out,
  };
}
