/**
 * The persisted model: what a restarted service needs to place VMs in the clusters it knew before its
 * first run, and to keep their ids. One versioned JSON document per run; src/model-store/ reads and writes the
 * files. Nothing here depends on wall-clock time, so a replay writes the same documents every time.
 */
import { z } from 'zod';
import { inUnitsOf, summarize } from '../clustering/summarize.ts';
import type { ClusteringOutcome, ClusterSummary, FeatureMatrix } from '../clustering/types.ts';
import { imputeColumnMeans } from '../features/impute.ts';
import { tenantClusteringInput } from '../features/tenant-features.ts';
import { VM_FEATURES, vmFeatureMinScales } from '../features/vm-features.ts';
import { type ClusteringRun, clusterIdOf, NOISE_CLUSTER_ID, type Side } from './clustering-run.ts';
import type { IdentityState } from './identity.ts';
import { type RunInput, tenantMatrixOf } from './run-input.ts';

export const MODEL_SCHEMA = 'alcor-traffic-clusters/model';
/** Bump on any change a reader of the previous version would misread. */
export const MODEL_VERSION = 1;

const Numbers = z.array(z.number());

const ClusterModel = z.object({
  cluster_id: z.string().min(1),
  name: z.string().nullable(),
  size: z.number().int().min(0),
  /** In the clustering space (standardised, weighted, projected). */
  centroid: Numbers,
  /** The members' mean in the features' own units: what the identity matching compares. */
  feature_centroid: Numbers,
});

const SideModel = z
  .object({
    algorithm: z.string(),
    feature_names: z.array(z.string()),
    scaler: z.object({
      means: Numbers,
      scales: z.array(z.number().positive()),
      weights: Numbers,
      /** 1 for a column without variance in the fitted data: it is zeroed, whatever its value. */
      constant: z.array(z.union([z.literal(0), z.literal(1)])),
      /** The floors the scales were fitted with (VMs only); informative, the scales already apply them. */
      min_scales: Numbers.nullable(),
    }),
    /** Rows are unit vectors over the standardised features; null when PCA was off. */
    pca_components: z.array(Numbers).nullable(),
    clusters: z.array(ClusterModel),
  })
  .superRefine((s, ctx) => {
    const cols = s.feature_names.length;
    const problem = (message: string) => ctx.addIssue({ code: 'custom', message });
    for (const key of ['means', 'scales', 'weights', 'constant'] as const)
      if (s.scaler[key].length !== cols) problem(`scaler.${key} has ${s.scaler[key].length} values for ${cols} features`);
    if (s.scaler.min_scales !== null && s.scaler.min_scales.length !== cols) problem(`scaler.min_scales has ${s.scaler.min_scales.length} values for ${cols} features`);
    if (s.pca_components?.some((c) => c.length !== cols)) problem(`a PCA component does not have ${cols} values`);
    const dims = s.pca_components?.length ?? cols;
    for (const c of s.clusters) {
      if (c.centroid.length !== dims) problem(`cluster ${c.cluster_id}: centroid has ${c.centroid.length} values, expected ${dims}`);
      if (c.feature_centroid.length !== cols) problem(`cluster ${c.cluster_id}: feature_centroid has ${c.feature_centroid.length} values, expected ${cols}`);
    }
    if (new Set(s.clusters.map((c) => c.cluster_id)).size !== s.clusters.length) problem('duplicate cluster ids');
  });
export type SideModel = z.infer<typeof SideModel>;

export const ModelDocument = z.object({
  schema: z.literal(MODEL_SCHEMA),
  version: z.literal(MODEL_VERSION),
  run_id: z.string(),
  computed_at: z.string().nullable(),
  window_minutes: z.number().positive(),
  vms: SideModel,
  tenants: SideModel,
  /** The next fresh cluster number per side, so that a restart never hands out an id twice. */
  identity: z.object({ next_vm: z.number().int().min(0), next_tenant: z.number().int().min(0) }),
});
export type ModelDocument = z.infer<typeof ModelDocument>;

/** A cluster's name for people: its most distinguishing features with their direction. */
export function clusterName(c: ClusterSummary): string | null {
  const top = c.distinguishing.filter((d) => Number.isFinite(d.z)).slice(0, 2);
  return top.length === 0 ? null : top.map((d) => `${d.feature} ${d.z >= 0 ? 'high' : 'low'}`).join(', ');
}

function sideModel(side: Side, minScales: Float64Array | null): SideModel {
  const o = side.outcome;
  return {
    algorithm: o.algorithm,
    feature_names: [...side.features.names],
    scaler: {
      means: o.model.means,
      scales: o.model.scales,
      weights: o.model.weights,
      constant: o.model.constant.map((v) => (v === 1 ? 1 : 0)),
      min_scales: minScales ? Array.from(minScales) : null,
    },
    pca_components: o.model.pcaComponents,
    clusters: o.clusters.map((c) => ({
      cluster_id: clusterIdOf(side, c.index),
      name: clusterName(c),
      size: c.size,
      centroid: o.model.centroids[c.index] ?? [],
      feature_centroid: c.centroid,
    })),
  };
}

/** The document for a run whose ids are already the stable ones, with the identity state after it. */
export function buildModelDocument(run: ClusteringRun, identity: IdentityState): ModelDocument {
  return {
    schema: MODEL_SCHEMA,
    version: MODEL_VERSION,
    run_id: run.runId,
    computed_at: Number.isFinite(run.computedAt) ? new Date(run.computedAt).toISOString() : null,
    window_minutes: run.windowMs / 60_000,
    vms: sideModel(run.vms, vmFeatureMinScales()),
    tenants: sideModel(run.tenants, null),
    identity: { next_vm: identity.nextVm, next_tenant: identity.nextTenant },
  };
}

export type ParsedModelDocument = { ok: true; model: ModelDocument } | { ok: false; error: string };

/** Parses and checks a model file's text: valid JSON, this schema and version, today's VM features. */
export function parseModelDocument(text: string): ParsedModelDocument {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `not JSON (${(err as Error).message})` };
  }
  const head = z.object({ schema: z.string(), version: z.number() }).safeParse(json);
  if (!head.success || head.data.schema !== MODEL_SCHEMA) return { ok: false, error: `not a model document (schema must be ${JSON.stringify(MODEL_SCHEMA)})` };
  if (head.data.version !== MODEL_VERSION) return { ok: false, error: `model version ${head.data.version}, this service reads version ${MODEL_VERSION}` };
  const parsed = ModelDocument.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(document)'}: ${i.message}`);
    return { ok: false, error: `invalid model: ${issues.join('; ')}` };
  }
  const names = parsed.data.vms.feature_names;
  if (names.length !== VM_FEATURES.length || names.some((n, i) => n !== VM_FEATURES[i])) {
    return { ok: false, error: 'incompatible model: its VM features differ from this version\'s (retrain: the first run writes a new model)' };
  }
  return { ok: true, model: parsed.data };
}

/** Row i of `data` in the model's clustering space. */
function project(side: SideModel, data: Float64Array, cols: number, i: number, std: Float64Array, out: Float64Array): void {
  const { means, scales, weights, constant } = side.scaler;
  for (let j = 0; j < cols; j++) {
    std[j] = constant[j] === 1 ? 0 : (((data[i * cols + j] as number) - (means[j] as number)) / (scales[j] as number)) * (weights[j] as number);
  }
  const pcs = side.pca_components;
  if (pcs === null) {
    out.set(std);
    return;
  }
  pcs.forEach((v, c) => {
    let s = 0;
    for (let j = 0; j < cols; j++) s += (std[j] as number) * (v[j] as number);
    out[c] = s;
  });
}

/** Index into side.clusters of the nearest centroid of each row; -1 when the model has no cluster. */
function nearestClusters(side: SideModel, matrix: FeatureMatrix): Int32Array {
  const { rows, cols, data } = matrix;
  const dims = side.pca_components?.length ?? cols;
  const std = new Float64Array(cols);
  const point = new Float64Array(dims);
  const labels = new Int32Array(rows).fill(-1);
  for (let i = 0; i < rows; i++) {
    project(side, data, cols, i, std, point);
    let best = Number.POSITIVE_INFINITY;
    side.clusters.forEach((c, l) => {
      let d = 0;
      for (let j = 0; j < dims; j++) {
        const x = (point[j] as number) - (c.centroid[j] as number);
        d += x * x;
      }
      if (d < best) {
        best = d;
        labels[i] = l;
      }
    });
  }
  return labels;
}

/**
 * A side placed by the model: only the clusters that received members, relabelled 0..k-1 in model order.
 * `matrix` is what the model compares (tenants: tenantClusteringInput's); `features`, the side's features
 * as people read them, in whose units the clusters are summarised.
 */
function provisionalSide(side: SideModel, ids: string[], matrix: FeatureMatrix, modelLabels: Int32Array, modelRunId: string, features = matrix): Side {
  const used = new Int32Array(side.clusters.length).fill(-1);
  let k = 0;
  for (const l of modelLabels) if (l >= 0 && used[l] === -1) used[l] = 0;
  const labelIds: string[] = [];
  side.clusters.forEach((c, l) => {
    if (used[l] === -1) return;
    used[l] = k++;
    labelIds.push(c.cluster_id);
  });
  const labels = Int32Array.from(modelLabels, (l) => (l < 0 ? -1 : (used[l] as number)));
  const constant = Uint8Array.from(side.scaler.constant);
  const summaries = summarize(matrix, labels, k, Float64Array.from(side.scaler.means), Float64Array.from(side.scaler.scales), constant);
  const clusters = features === matrix ? summaries : inUnitsOf(summaries, features, labels);
  const outcome: ClusteringOutcome = {
    algorithm: side.algorithm === 'dbscan' ? 'dbscan' : 'kmeans',
    parameters: { provisional: true, modelRunId, k },
    labels,
    k,
    quality: { silhouette: null, inertia: null, noise: 0, candidates: [] },
    clusters,
    model: {
      means: side.scaler.means,
      scales: side.scaler.scales,
      weights: side.scaler.weights,
      constant: side.scaler.constant,
      pcaComponents: side.pca_components,
      centroids: side.clusters.filter((_, l) => used[l] !== -1).map((c) => c.centroid),
    },
    timings: {},
  };
  return {
    ids,
    clusterIds: Array.from(labels, (l) => (l < 0 ? NOISE_CLUSTER_ID : (labelIds[l] as string))),
    labelIds,
    outcome,
    features,
  };
}

/**
 * A cheap run from a saved model, before the first real one: every VM goes to the nearest of the model's
 * clusters and keeps its id, and tenants follow from the mix of VM clusters they hold. It also seeds the
 * identity matching of the first real run. Imputes the input's unknown values in place, as a run would.
 */
export function provisionalRun(model: ModelDocument, input: RunInput, runId: string): ClusteringRun {
  const started = performance.now();
  const vmFeatures = input.vmFeatures;
  imputeColumnMeans(vmFeatures.data, vmFeatures.rows, vmFeatures.cols);
  const vmModelLabels = nearestClusters(model.vms, vmFeatures);
  const vms = provisionalSide(model.vms, input.vmIds, vmFeatures, vmModelLabels, model.run_id);

  // Tenant features hold the mix of VM clusters by the model run's labels, named by its VM cluster ids.
  const vmClusterIds = model.vms.clusters.map((c) => c.cluster_id);
  const { tenantIds, matrix: tenantFeatures } = tenantMatrixOf(input, vmModelLabels, vmClusterIds);
  const names = model.tenants.feature_names;
  const comparable = names.length === tenantFeatures.names.length && names.every((n, i) => n === tenantFeatures.names[i]);
  // A model whose tenant features no longer line up (an older model's, named by label) places no tenant:
  // better none than wrong ones.
  const tenantInput = tenantClusteringInput(tenantFeatures);
  const tenants = comparable
    ? provisionalSide(model.tenants, tenantIds, tenantInput, nearestClusters(model.tenants, tenantInput), model.run_id, tenantFeatures)
    : provisionalSide(model.tenants, [], { rows: 0, cols: tenantFeatures.cols, data: new Float64Array(0), names: tenantFeatures.names }, new Int32Array(0), model.run_id);
  return {
    runId,
    computedAt: input.watermark,
    windowMs: input.windowMs,
    vms,
    tenants,
    vmTenants: input.vmTenants,
    durationMs: performance.now() - started,
  };
}
