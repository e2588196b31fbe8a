/**
 * npm run crosscheck [-- --trace FILE] [--scale ROWS] [--k N] [--restarts N] [--eps X] [--min-points N] [--skip-dbscan]
 * [--out FILE] [--matrix-out FILE.npy] [--sklearn-threads N]: clusters the VM feature matrix of a trace with ours (src/clustering) and with scikit-learn
 * (bench/crosscheck.py, in a venv under .cache/crosscheck-venv installed on first use; never a runtime
 * dependency) and reports k-means inertia ours / scikit-learn's, DBSCAN label agreement (ARI) and PCA
 * explained variance agreement, with the timings of both sides. Figures go to bench/results/crosscheck.json.
 * With --scale ROWS the matrix is the scale bench's (`npm run bench -- scale`): the trace's (default
 * bench-1m's) VM feature vectors replicated with jitter up to ROWS rows, e.g. --scale 100000.
 * `npm run crosscheck -- placement [...]` runs the placement advice's check instead (bench/placement-crosscheck.ts).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cluster, type FeatureMatrix, warmCentres } from '../src/clustering/index.ts';
import { sampleIndices } from '../src/clustering/quality.ts';
import { greedyTrials, KMEANS_RELATIVE_TOLERANCE, kmeansBestOf, kmeansTolerance } from '../src/clustering/kmeans.ts';
import { principalComponents } from '../src/clustering/pca.ts';
import { standardize } from '../src/clustering/standardize.ts';
import { defaultClusteringOptions } from '../src/clustering/types.ts';
import { imputeColumnMeans } from '../src/features/impute.ts';
import { vmFeatureMinScales, vmFeatureWeights } from '../src/features/vm-features.ts';
import { defaultPipelineConfig, Pipeline } from '../src/pipeline/pipeline.ts';
import { takeRunInput } from '../src/runs/run-input.ts';
import { readTraceChunks } from '../src/trace/trace-reader.ts';
import { replicate } from './scale-bench.ts';

const VENV = '.cache/crosscheck-venv';
const VENV_PYTHON = join(VENV, 'bin', 'python');
const RESULTS = 'bench/results/crosscheck.json';
const SEED = 1;
const SKLEARN_RANDOM_STATE = 0;
/** scikit-learn is also run with these seeds (untimed) to show how much its own best of n_init varies. */
const OTHER_RANDOM_STATES = [1, 2, 3, 4];

const SCALE_TRACE = 'fixtures/generated/bench-1m.jsonl.gz';
/** Above this many rows scikit-learn's DBSCAN runs brute force (BLAS): its kd-tree took minutes at 100k. */
const SKLEARN_KD_TREE_MAX_ROWS = 20_000;

interface Args {
  trace: string;
  /** Replicate the trace's VMs up to this many rows, as the scale bench does. */
  scale: number | undefined;
  k: number;
  restarts: number;
  eps: number | undefined;
  minPoints: number;
  skipDbscan: boolean;
  out: string;
  /** OpenMP/BLAS threads for scikit-learn; 1 by default, like our single-threaded clustering. */
  sklearnThreads: number;
  /** Also keep the matrix as .npy here (to rerun bench/crosscheck.py or explore it by hand). */
  matrixOut: string | undefined;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    trace: '',
    scale: undefined,
    k: 20,
    restarts: defaultClusteringOptions.restarts,
    eps: undefined,
    minPoints: defaultClusteringOptions.dbscan.minPoints,
    skipDbscan: false,
    out: RESULTS,
    matrixOut: undefined,
    sklearnThreads: 1,
  };
  const number = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n)) throw new RangeError(`${flag} needs a number`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--trace') args.trace = argv[++i] ?? args.trace;
    else if (a === '--scale') args.scale = number(a, argv[++i]);
    else if (a === '--k') args.k = number(a, argv[++i]);
    else if (a === '--restarts') args.restarts = number(a, argv[++i]);
    else if (a === '--eps') args.eps = number(a, argv[++i]);
    else if (a === '--min-points') args.minPoints = number(a, argv[++i]);
    else if (a === '--skip-dbscan') args.skipDbscan = true;
    else if (a === '--out') args.out = argv[++i] ?? args.out;
    else if (a === '--sklearn-threads') args.sklearnThreads = number(a, argv[++i]);
    else if (a === '--matrix-out') args.matrixOut = argv[++i];
    else throw new RangeError(`unknown argument ${a}`);
  }
  if (!Number.isInteger(args.k) || args.k < 2) throw new RangeError('--k must be an integer >= 2');
  if (args.scale !== undefined && !(Number.isInteger(args.scale) && args.scale >= 1)) throw new RangeError('--scale must be a positive integer');
  if (args.trace === '') args.trace = args.scale === undefined ? 'fixtures/medium.jsonl.gz' : SCALE_TRACE;
  if (!Number.isInteger(args.restarts) || args.restarts < 1) throw new RangeError('--restarts must be a positive integer');
  return args;
}

/** The VM feature matrix of the trace's final run: replay, snapshot, impute, as a run does. */
async function featureMatrix(trace: string): Promise<FeatureMatrix> {
  const pipeline = new Pipeline(defaultPipelineConfig);
  for await (const chunk of readTraceChunks(trace, defaultPipelineConfig.limits.maxMessageBytes)) {
    let oversize = 0;
    for (let i = 0; i < chunk.lines.length; i++) {
      const line = chunk.lines[i];
      const source = `line ${chunk.firstLine + i}`;
      if (line === null || line === undefined) {
        const o = chunk.oversize[oversize++];
        if (o) pipeline.ingestOversize(o.bytes, o.head, source);
        continue;
      }
      if (line.length > 0) pipeline.ingestTraceLine(line, source);
    }
  }
  const matrix = takeRunInput(pipeline.fleet).vmFeatures;
  imputeColumnMeans(matrix.data, matrix.rows, matrix.cols);
  return matrix;
}

/** A .npy file (format 1.0, little-endian float64, C order) of a row-major matrix. */
function npyBytes(data: Float64Array, rows: number, cols: number): Buffer {
  let header = `{'descr': '<f8', 'fortran_order': False, 'shape': (${rows}, ${cols}), }`;
  // Magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple of 64, ending in \n.
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64);
  header += '\n';
  const out = Buffer.alloc(10 + header.length + data.length * 8);
  out.write('\x93NUMPY', 0, 'latin1');
  out[6] = 1;
  out[7] = 0;
  out.writeUInt16LE(header.length, 8);
  out.write(header, 10, 'latin1');
  for (let i = 0; i < data.length; i++) out.writeDoubleLE(data[i] as number, 10 + header.length + i * 8);
  return out;
}

function venvReady(): boolean {
  if (!existsSync(VENV_PYTHON)) return false;
  return spawnSync(VENV_PYTHON, ['-c', 'import sklearn, numpy'], { stdio: 'ignore' }).status === 0;
}

/** scikit-learn in a venv of its own, installed once; exits with a clear message when pip cannot. */
function ensureVenv(): string {
  if (venvReady()) return VENV_PYTHON;
  process.stderr.write(`installing scikit-learn into ${VENV} (once, for the cross-check only)...\n`);
  try {
    if (!existsSync(VENV_PYTHON)) execFileSync('python3', ['-m', 'venv', VENV], { stdio: 'inherit' });
    execFileSync(VENV_PYTHON, ['-m', 'pip', 'install', '--quiet', 'scikit-learn', 'numpy'], { stdio: 'inherit' });
  } catch (err) {
    process.stderr.write(
      `crosscheck: could not install scikit-learn into ${VENV} (${(err as Error).message.split('\n')[0]}).\n` +
        'It needs python3 with the venv module and pip access to PyPI; remove the directory to retry.\n',
    );
    process.exit(2);
  }
  if (!venvReady()) {
    process.stderr.write(`crosscheck: scikit-learn still does not import in ${VENV}; remove the directory to retry.\n`);
    process.exit(2);
  }
  return VENV_PYTHON;
}

interface SklearnOutput {
  sklearn: string;
  numpy: string;
  cpus: number;
  kmeans: { k: number; inertia: number; iterations: number; ms: number; ms_median: number; cpu_ms: number; inertia_other_random_states: number[] };
  dbscan?: {
    algorithm: string;
    eps_given: number;
    eps_used: number;
    min_samples: number;
    clusters: number;
    noise: number;
    ari_noise_as_one_label: number;
    ari_noise_as_singletons: number;
    noise_disagreements: number;
    ms: number;
    cpu_ms: number;
  };
  pca: { explained_variance_ratio: number[]; ms: number };
  warm?: { k: number; inertia: number; iterations: number; ms: number; cpu_ms: number };
  search?: { ms: number; cpu_ms: number; k_range: [number, number]; best_silhouette_k: number; silhouettes: Record<string, number> };
}

/**
 * The value of the first call and the least wall and CPU (user + system) times of `times` calls: the
 * machine may be shared, and CPU time is then the steadier figure on both sides.
 */
function fastest<T>(times: number, fn: () => T): { value: T; ms: number; cpuMs: number } {
  let value: T | undefined;
  let ms = Number.POSITIVE_INFINITY;
  let cpuMs = Number.POSITIVE_INFINITY;
  for (let i = 0; i < times; i++) {
    const start = performance.now();
    const cpu = process.cpuUsage();
    const v = fn();
    ms = Math.min(ms, performance.now() - start);
    const used = process.cpuUsage(cpu);
    cpuMs = Math.min(cpuMs, (used.user + used.system) / 1000);
    if (i === 0) value = v;
  }
  return { value: value as T, ms, cpuMs };
}

const REPEATS = 3;

function rowsOf(flat: Float64Array, rows: number, cols: number): number[][] {
  return Array.from({ length: rows }, (_, i) => Array.from(flat.subarray(i * cols, (i + 1) * cols)));
}

function round(v: number, digits = 6): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

async function main(): Promise<void> {
  // `npm run crosscheck -- placement ...`: the placement advice against an exact ILP (bench/placement-crosscheck.ts).
  if (process.argv[2] === 'placement') {
    await import('./placement-crosscheck.ts');
    return;
  }
  const args = parseArgs(process.argv.slice(2));
  const python = ensureVenv();

  process.stderr.write(`building the VM feature matrix of ${args.trace}...\n`);
  let start = performance.now();
  const base = await featureMatrix(args.trace);
  // The scale bench's replication (same jitter, same seed: the row count) for the figures at 10k-100k VMs.
  const raw = args.scale === undefined ? base : replicate(base, args.scale, args.scale);
  const replayMs = performance.now() - start;
  const { rows, cols } = raw;
  const weights = vmFeatureWeights();
  const minScales = vmFeatureMinScales();
  // Exactly what cluster() clusters (without PCA): standardised, floored scales, weighted.
  const std = standardize(raw.data, rows, cols, weights, minScales);
  const points = { data: std.data, rows, dims: cols };

  process.stderr.write(`ours on ${rows} x ${cols}: k-means k=${args.k}...\n`);
  const options = { weights, minScales, seed: SEED, restarts: args.restarts };
  let kmeansStageMs = Number.POSITIVE_INFINITY;
  const { value: ours, ms: oursClusterMs, cpuMs: oursClusterCpuMs } = fastest(REPEATS, () => {
    const outcome = cluster(raw, { ...options, k: args.k });
    kmeansStageMs = Math.min(kmeansStageMs, outcome.timings.kmeans ?? Number.POSITIVE_INFINITY);
    return outcome;
  });
  const oursInertia = ours.quality.inertia ?? Number.NaN;
  // The plain best of the same k-means++ restarts (no warm start from k - 1, no sample): like for like,
  // with plain seeding (one candidate per centre) and with scikit-learn's greedy seeding.
  const plainRepeats = rows > 20_000 ? 1 : REPEATS;
  const { value: plain, ms: plainMs } = fastest(plainRepeats, () =>
    kmeansBestOf(points, args.k, SEED, args.restarts, defaultClusteringOptions.maxIterations, kmeansTolerance(points)),
  );
  const { value: greedy, ms: greedyMs } = fastest(plainRepeats, () =>
    kmeansBestOf(points, args.k, SEED, args.restarts, defaultClusteringOptions.maxIterations, kmeansTolerance(points), undefined, greedyTrials(args.k)),
  );

  let oursDbscan: { eps: number; epsSource: string; labels: Int32Array; clusters: number; noise: number; ms: number; callMs: number; callCpuMs: number } | null =
    null;
  if (!args.skipDbscan) {
    process.stderr.write('ours: DBSCAN...\n');
    start = performance.now();
    const cpu = process.cpuUsage();
    const db = cluster(raw, { ...options, algorithm: 'dbscan', dbscan: { eps: args.eps, minPoints: args.minPoints } });
    const ms = performance.now() - start;
    const used = process.cpuUsage(cpu);
    oursDbscan = {
      eps: Number(db.parameters.eps),
      epsSource: String(db.parameters.epsSource),
      labels: db.labels,
      clusters: db.k,
      noise: db.quality.noise,
      // The DBSCAN stage (with the knee's k-distances when eps is not given), without silhouette and summaries.
      ms: db.timings.dbscan ?? ms,
      callMs: ms,
      callCpuMs: (used.user + used.system) / 1000,
    };
  }

  // A searching run (k from kMin to kMax, restarts, silhouettes on a sample, the search on a row sample
  // above searchSampleSize rows) and then a periodic run on the same, unchanged matrix: one warm fit.
  process.stderr.write('ours: a searching run, then a warm run on the unchanged matrix...\n');
  const auto = { ...options, kMin: defaultClusteringOptions.kMin, kMax: defaultClusteringOptions.kMax };
  const { value: searched, ms: searchMs, cpuMs: searchCpuMs } = fastest(REPEATS, () => cluster(raw, auto));
  const warmStart = {
    labels: searched.labels,
    k: searched.k,
    referenceUnexplained: searched.search?.referenceUnexplained ?? null,
    runsSinceSearch: 0,
  };
  let warmFitMs = Number.POSITIVE_INFINITY;
  const { value: warmRun, ms: warmMs, cpuMs: warmCpuMs } = fastest(10, () => {
    const outcome = cluster(raw, { ...auto, warm: warmStart });
    warmFitMs = Math.min(warmFitMs, outcome.timings.kmeans ?? Number.POSITIVE_INFINITY);
    return outcome;
  });
  // The centres the warm fit starts from, for scikit-learn's init (the clustering space is the same: no PCA).
  const start0 = warmCentres(points, warmStart);
  const warmInit = rowsOf(start0.centres, start0.k, cols);
  const searchRows =
    rows > defaultClusteringOptions.searchSampleSize
      ? Array.from(sampleIndices(Int32Array.from({ length: rows }, (_, i) => i), defaultClusteringOptions.searchSampleSize, SEED ^ 0x2545f491))
      : [];

  const { value: projection, ms: oursPcaMs } = fastest(REPEATS, () => principalComponents(std.data, rows, cols, 1, cols));
  const oursRatios = projection?.explained ?? [];

  const dir = await mkdtemp(join(tmpdir(), 'crosscheck-'));
  let ref: SklearnOutput;
  try {
    const matrixPath = join(dir, 'matrix.npy');
    const paramsPath = join(dir, 'params.json');
    const npy = npyBytes(std.data, rows, cols);
    await writeFile(matrixPath, npy);
    if (args.matrixOut !== undefined) await writeFile(args.matrixOut, npy);
    await writeFile(
      paramsPath,
      JSON.stringify({
        k: args.k,
        restarts: args.restarts,
        max_iter: defaultClusteringOptions.maxIterations,
        tol: KMEANS_RELATIVE_TOLERANCE,
        random_state: SKLEARN_RANDOM_STATE,
        other_random_states: OTHER_RANDOM_STATES,
        dbscan: oursDbscan
          ? { eps: oursDbscan.eps, min_samples: args.minPoints, algorithm: rows > SKLEARN_KD_TREE_MAX_ROWS ? 'brute' : 'kd_tree', our_labels: Array.from(oursDbscan.labels) }
          : null,
        pca: true,
        warm: { init: warmInit, repeats: 10 },
        search: {
          rows: searchRows,
          k_min: defaultClusteringOptions.kMin,
          k_max: Math.min(defaultClusteringOptions.kMax, (searchRows.length || rows) - 1),
          restarts: args.restarts,
          sample_size: defaultClusteringOptions.silhouetteSampleSize,
          our_k: searched.k,
        },
      }),
    );
    process.stderr.write('scikit-learn...\n');
    start = performance.now();
    const text = execFileSync(python, ['bench/crosscheck.py', matrixPath, paramsPath], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, OMP_NUM_THREADS: String(args.sklearnThreads), OPENBLAS_NUM_THREADS: String(args.sklearnThreads), MKL_NUM_THREADS: String(args.sklearnThreads) },
    });
    process.stderr.write(`scikit-learn process: ${Math.round(performance.now() - start)} ms including Python start-up\n`);
    ref = JSON.parse(text) as SklearnOutput;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  const refRatios = ref.pca.explained_variance_ratio;
  let pcaMaxAbs = 0;
  for (let c = 0; c < refRatios.length; c++) pcaMaxAbs = Math.max(pcaMaxAbs, Math.abs((oursRatios[c] ?? 0) - (refRatios[c] ?? 0)));

  const figures = {
    measured: new Date().toISOString(),
    machine: { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', sklearn: ref.sklearn, numpy: ref.numpy, sklearn_threads: args.sklearnThreads },
    trace: args.trace,
    matrix: {
      rows,
      cols,
      source: args.scale === undefined ? 'the final run of the trace' : `the trace's ${base.rows} VMs replicated to ${rows} rows as in npm run bench -- scale`,
      constant_columns: std.constant.reduce((s, v) => s + v, 0),
      replay_ms: Math.round(replayMs),
    },
    kmeans: {
      k: args.k,
      restarts: args.restarts,
      max_iterations: defaultClusteringOptions.maxIterations,
      relative_tolerance: KMEANS_RELATIVE_TOLERANCE,
      sklearn_inertia: round(ref.kmeans.inertia, 4),
      ours_inertia: round(oursInertia, 4),
      inertia_ratio: round(oursInertia / ref.kmeans.inertia),
      ours_plain_best_of_restarts_inertia: round(plain.inertia, 4),
      plain_inertia_ratio: round(plain.inertia / ref.kmeans.inertia),
      ours_greedy_best_of_restarts_inertia: round(greedy.inertia, 4),
      greedy_inertia_ratio: round(greedy.inertia / ref.kmeans.inertia),
      ours_ms: Math.round(Number.isFinite(kmeansStageMs) ? kmeansStageMs : oursClusterMs),
      ours_cluster_call_ms: Math.round(oursClusterMs),
      time_ratio_cluster_call: round(oursClusterMs / ref.kmeans.ms, 3),
      time_ratio_kmeans_stage: round((Number.isFinite(kmeansStageMs) ? kmeansStageMs : oursClusterMs) / ref.kmeans.ms, 3),
      ours_cluster_call_cpu_ms: Math.round(oursClusterCpuMs),
      sklearn_cpu_ms: Math.round(ref.kmeans.cpu_ms),
      cpu_time_ratio_cluster_call: round(oursClusterCpuMs / ref.kmeans.cpu_ms, 3),
      ours_plain_ms: Math.round(plainMs),
      ours_greedy_ms: Math.round(greedyMs),
      sklearn_ms: Math.round(ref.kmeans.ms),
      sklearn_ms_median: Math.round(ref.kmeans.ms_median),
      timing: `least of ${REPEATS} runs for ours (${plainRepeats} for the plain and greedy bests of restarts), of the ${1 + OTHER_RANDOM_STATES.length} seeds' fits for scikit-learn`,
      sklearn_iterations: ref.kmeans.iterations,
      sklearn_inertia_other_random_states: ref.kmeans.inertia_other_random_states.map((v) => round(v, 4)),
      inertia_ratio_range_over_sklearn_seeds: [
        round(oursInertia / Math.max(ref.kmeans.inertia, ...ref.kmeans.inertia_other_random_states)),
        round(oursInertia / Math.min(ref.kmeans.inertia, ...ref.kmeans.inertia_other_random_states)),
      ],
    },
    dbscan:
      oursDbscan && ref.dbscan
        ? {
            eps: oursDbscan.eps,
            eps_source: oursDbscan.epsSource,
            sklearn_eps: ref.dbscan.eps_used,
            sklearn_algorithm: ref.dbscan.algorithm,
            min_points: args.minPoints,
            ours_clusters: oursDbscan.clusters,
            sklearn_clusters: ref.dbscan.clusters,
            ours_noise: oursDbscan.noise,
            sklearn_noise: ref.dbscan.noise,
            noise_disagreements: ref.dbscan.noise_disagreements,
            ari_noise_as_one_label: round(ref.dbscan.ari_noise_as_one_label),
            ari_noise_as_singletons: round(ref.dbscan.ari_noise_as_singletons),
            ours_ms: Math.round(oursDbscan.ms),
            ours_cluster_call_ms: Math.round(oursDbscan.callMs),
            sklearn_ms: Math.round(ref.dbscan.ms),
            ours_cluster_call_cpu_ms: Math.round(oursDbscan.callCpuMs),
            sklearn_cpu_ms: Math.round(ref.dbscan.cpu_ms),
          }
        : 'skipped',
    warm_run: ref.warm
      ? {
          what: 'a periodic run on the unchanged matrix: ours cluster() with the previous (searching) run as warm start, against KMeans(n_init=1, init=the same centres)',
          k: warmRun.k,
          searched: warmRun.search?.searched ?? null,
          reason: warmRun.search?.reason ?? null,
          ours_inertia: round(warmRun.quality.inertia ?? Number.NaN, 4),
          sklearn_inertia: round(ref.warm.inertia, 4),
          sklearn_iterations: ref.warm.iterations,
          ours_fit_ms: round(warmFitMs, 2),
          ours_cluster_call_ms: round(warmMs, 2),
          ours_cluster_call_cpu_ms: round(warmCpuMs, 2),
          sklearn_ms: round(ref.warm.ms, 2),
          sklearn_cpu_ms: round(ref.warm.cpu_ms, 2),
          time_ratio_fit: round(warmFitMs / ref.warm.ms, 3),
          time_ratio_cluster_call: round(warmMs / ref.warm.ms, 3),
          goal: 'at most 1.5',
          timing: 'least of 10 runs on both sides',
        }
      : 'not run',
    searching_run: ref.search
      ? {
          what: 'a searching run: k from kMin to kMax with the restarts and silhouettes on a sample of silhouetteSampleSize, on the search rows, then the chosen k on all rows; scikit-learn: KMeans + silhouette_score(sample_size) per k, then KMeans(n_init=1) from the chosen centres',
          k_range: ref.search.k_range,
          search_rows: searchRows.length || rows,
          ours_k: searched.k,
          sklearn_best_silhouette_k: ref.search.best_silhouette_k,
          ours_cluster_call_ms: Math.round(searchMs),
          ours_cluster_call_cpu_ms: Math.round(searchCpuMs),
          ours_stage_ms: Object.fromEntries(Object.entries(searched.timings).map(([k, v]) => [k, Math.round(v)])),
          sklearn_ms: Math.round(ref.search.ms),
          sklearn_cpu_ms: Math.round(ref.search.cpu_ms),
          time_ratio: round(searchMs / ref.search.ms, 3),
          cpu_time_ratio: round(searchCpuMs / ref.search.cpu_ms, 3),
          goal: 'at most 2',
          timing: `least of ${REPEATS} runs for ours, one for scikit-learn`,
        }
      : 'not run',
    pca: {
      components_ours: oursRatios.length,
      components_sklearn: refRatios.length,
      max_abs_ratio_difference: pcaMaxAbs,
      first_ratios_ours: oursRatios.slice(0, 5).map((v) => round(v)),
      first_ratios_sklearn: refRatios.slice(0, 5).map((v) => round(v)),
      ours_ms: round(oursPcaMs, 2),
      sklearn_ms: round(ref.pca.ms, 2),
    },
  };

  // One section per trace, so a run on another trace keeps the others' figures.
  let previous: Record<string, unknown> = {};
  try {
    previous = JSON.parse(await readFile(args.out, 'utf8')) as Record<string, unknown>;
  } catch {
    // first run
  }
  await mkdir('bench/results', { recursive: true });
  const section = args.scale === undefined ? args.trace : `${args.trace} x ${args.scale} rows`;
  await writeFile(args.out, `${JSON.stringify({ ...previous, [section]: figures }, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\nwritten to ${args.out}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`crosscheck: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
