/**
 * Offline replay: a trace file through the same pipeline and clustering runs as the live service, in event
 * time, with a final run at the end. Deterministic: the result depends only on the trace and the options.
 */
import type { RejectedRecord } from '../contract/rejections.ts';
import { FileModelStore } from '../model-store/model-store.ts';
import { Pipeline, type PipelineConfig } from '../pipeline/pipeline.ts';
import { type ClusteringRun, defaultRunOptions, type RunOptions } from '../runs/clustering-run.ts';
import type { RunRecord } from '../runs/history.ts';
import { InlineClusterer } from '../service/clusterer.ts';
import { ClusterService } from '../service/cluster-service.ts';
import { buildResult, type ReplayResult } from '../runs/result.ts';
import { feedTrace } from '../trace/trace-feed.ts';
import type { SecurityGroupsOutcome } from '../security-groups/recommend.ts';

/** Stats of valid records that were not applied because newer state superseded them. */
export const SUPERSEDED_STATS = ['flows_for_deleted_vms', 'vm_attributes_stale', 'vm_attributes_expired', 'tenant_attributes_stale'] as const;
/** Stats of the bounded resources' limits (docs/operations.md "Bounded resources"). */
export const LIMIT_STATS = ['vms_refused', 'vm_pairs_refused', 'peer_sets_sketched', 'tenant_labels_refused', 'deleted_evicted'] as const;

export interface ReplayOptions {
  pipeline: PipelineConfig;
  run: RunOptions;
  onReject?: (r: RejectedRecord) => void;
  /** Called after each clustering run (periodic and final). */
  onRun?: (run: ClusteringRun) => void;
  /** Where to write each run's model; none by default, so that a replay leaves no files behind. */
  modelsDir?: string;
  /** Called after each block read from the file (a progress bar's figures). */
  onProgress?: (p: ReplayProgress) => void;
}

export interface ReplayProgress {
  /** Bytes of the file read so far (compressed bytes for a gzip file) and its size. */
  bytesRead: number;
  fileBytes: number;
  /** Records decoded so far, of every topic. */
  records: number;
}

export interface ReplayOutcome {
  result: ReplayResult;
  lastRun: ClusteringRun | null;
  pipeline: Pipeline;
  runs: number;
  /** Every run's summary and changes, oldest first. */
  history: readonly RunRecord[];
  timings: { ingestMs: number; clusteringMs: number; totalMs: number; securityGroupsMs: number };
  /** Security groups learned from the final run and the trace's connections; null without a run. */
  securityGroups: SecurityGroupsOutcome | null;
}

function heldStats(pipeline: Pipeline): Record<string, number> {
  const h = pipeline.held.counters;
  if (h.held + h.refused === 0) return {};
  return { flows_held: h.held, flows_held_refused: h.refused, flows_held_expired: h.expired, flow_ends_attributed_late: h.endsAttributedLate };
}

export async function replayTrace(path: string, options: ReplayOptions): Promise<ReplayOutcome> {
  const started = performance.now();
  const pipeline = new Pipeline(options.pipeline, options.onReject);
  // The service's own core, with runs inline instead of in a worker thread: the same code path.
  const service = new ClusterService(pipeline, new InlineClusterer(), options.run ?? defaultRunOptions, Date.now, {
    historySize: Number.MAX_SAFE_INTEGER,
    models: options.modelsDir === undefined ? null : new FileModelStore(options.modelsDir),
  });
  let modelError: Error | null = null;
  service.on('modelFailed', (err) => {
    modelError ??= err;
  });
  // A run must never fail; if one does, a result from an older run (or none) would pass for this trace's.
  let runError: Error | null = null;
  service.on('runFailed', (status, err) => {
    runError ??= new Error(`clustering run ${status.runId} failed: ${err.message}`, { cause: err });
  });
  let runs = 0;
  let clusteringMs = 0;
  service.on('run', (run) => {
    runs++;
    clusteringMs += run.durationMs;
    options.onRun?.(run);
  });

  const onProgress = options.onProgress;
  const onRead = onProgress
    ? (bytesRead: number, fileBytes: number) => {
        const r = service.recordsIn();
        onProgress({ bytesRead, fileBytes, records: r.flows + r.vmAttributes + r.tenantAttributes });
      }
    : undefined;
  const lines = await feedTrace(path, service, { maxLineBytes: options.pipeline.limits.maxMessageBytes, ...(onRead ? { onRead } : {}) });
  // Nothing more can come for the flows still held for late attributes: they count as they now resolve.
  pipeline.releaseHeld();
  await service.whenIdle();
  service.startRun('final');
  await service.whenIdle();
  if (runError) throw runError;
  if (modelError) throw modelError;

  const final = service.latestRun();
  const ingested = service.ingestStats();
  const c = ingested.fleet;
  const a = ingested.attribution!;
  const stats: Record<string, number> = {
    lines,
    messages: ingested.messages,
    flow_records: ingested.records.flows,
    vm_attribute_records: ingested.records.vmAttributes,
    tenant_attribute_records: ingested.records.tenantAttributes,
    flows_applied: c.flowsApplied,
    vm_attributes_applied: c.vmAttributesApplied,
    tenant_attributes_applied: c.tenantAttributesApplied,
    // Valid records that changed nothing (SUPERSEDED_STATS); rejected ones are counted in `rejected`.
    flows_for_deleted_vms: c.flowsForDeletedVms,
    vm_attributes_stale: c.vmAttributesStale,
    vm_attributes_expired: c.vmAttributesExpired,
    tenant_attributes_stale: c.tenantAttributesStale,
    // Limits hit (LIMIT_STATS): VM mentions refused at max_vms (a flow with one tracked end is still
    // applied to it), pairs the affinity graph could not hold, peer sets counted by a sketch, tenant
    // messages applied without their labels, tombstones forgotten early.
    vms_refused: c.vmsRefused,
    vm_pairs_refused: c.vmPairsRefused,
    peer_sets_sketched: c.peerSetsSketched,
    tenant_labels_refused: c.tenantLabelsRefused,
    deleted_evicted: c.deletedEvicted,
    vms_deleted: c.vmsDeleted,
    // Attribution of flow ends to VMs (docs/exporters.md): named by the flow, found by address, or why not.
    flow_ends_named: a.endsNamed,
    flow_ends_outside: a.endsOutside,
    flow_ends_by_address: a.endsByAddress,
    flow_ends_unknown_address: a.unattributed.unknown_address,
    flow_ends_ambiguous_no_vni: a.unattributed.ambiguous_no_vni,
    flow_ends_conflicting_claims: a.unattributed.conflicting_claims,
    address_claims_refused: a.claimsRefused,
    // Only when a flow was held for late attributes, so that the results of traces without any stay as they were.
    ...heldStats(pipeline),
    vms_live: final?.vms.ids.length ?? 0,
    tenants_live: final?.tenants.ids.length ?? 0,
    runs,
    watermark: ingested.watermark ?? 0,
  };
  const securityGroups = final === null ? null : service.learnSecurityGroups(final);
  const totalMs = performance.now() - started;
  return {
    result: buildResult(final, ingested.rejected, stats, securityGroups?.document ?? null),
    lastRun: final,
    pipeline,
    runs,
    history: service.runHistory(),
    timings: { ingestMs: totalMs - clusteringMs - (securityGroups?.durationMs ?? 0), clusteringMs, totalMs, securityGroupsMs: securityGroups?.durationMs ?? 0 },
    securityGroups,
  };
}
