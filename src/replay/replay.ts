/**
 * Offline replay: a trace file through the same pipeline and clustering runs as the live service, in event
 * time, with a final run at the end. Deterministic: the result depends only on the trace and the options.
 */
import type { RejectedRecord } from '../contract/rejections.ts';
import { Pipeline, type PipelineConfig } from '../pipeline/pipeline.ts';
import { type ClusteringRun, defaultRunOptions, type RunOptions, runClustering } from '../runs/clustering-run.ts';
import { buildResult, type ReplayResult } from '../runs/result.ts';
import { readTraceChunks } from '../trace/trace-reader.ts';

export interface ReplayOptions {
  pipeline: PipelineConfig;
  run: RunOptions;
  onReject?: (r: RejectedRecord) => void;
  /** Called after each clustering run (periodic and final). */
  onRun?: (run: ClusteringRun) => void;
}

export interface ReplayOutcome {
  result: ReplayResult;
  lastRun: ClusteringRun | null;
  pipeline: Pipeline;
  runs: number;
  timings: { ingestMs: number; clusteringMs: number; totalMs: number };
}

export async function replayTrace(path: string, options: ReplayOptions): Promise<ReplayOutcome> {
  const started = performance.now();
  const pipeline = new Pipeline(options.pipeline, options.onReject);
  const runOptions = options.run ?? defaultRunOptions;
  let runs = 0;
  let clusteringMs = 0;
  let lastRun: ClusteringRun | null = null;
  let lines = 0;

  const runNow = (): void => {
    const t = performance.now();
    runs++;
    lastRun = runClustering(pipeline.snapshot(), `run-${String(runs).padStart(6, '0')}`, runOptions);
    clusteringMs += performance.now() - t;
    options.onRun?.(lastRun);
  };

  for await (const chunk of readTraceChunks(path, options.pipeline.limits.maxMessageBytes)) {
    let oversize = 0;
    for (let i = 0; i < chunk.lines.length; i++) {
      const line = chunk.lines[i]!;
      const source = `line ${chunk.firstLine + i}`;
      if (line === null) {
        const o = chunk.oversize[oversize++]!;
        pipeline.ingestOversize(o.bytes, o.head, source);
        continue;
      }
      if (line.length === 0) continue;
      lines++;
      pipeline.ingestTraceLine(line, source);
      if (pipeline.runDue()) runNow();
    }
  }
  runNow();

  const final = lastRun as ClusteringRun | null;
  const stats: Record<string, number> = {
    lines,
    messages: pipeline.messagesIn,
    flow_records: pipeline.recordsIn.flows,
    vm_attribute_records: pipeline.recordsIn.vmAttributes,
    tenant_attribute_records: pipeline.recordsIn.tenantAttributes,
    flows_applied: pipeline.fleet.counters.flowsApplied,
    flows_for_deleted_vms: pipeline.fleet.counters.flowsForDeletedVms,
    vms_deleted: pipeline.fleet.counters.vmsDeleted,
    vms_live: final?.vms.ids.length ?? 0,
    tenants_live: final?.tenants.ids.length ?? 0,
    runs,
    watermark: Number.isFinite(pipeline.fleet.watermark) ? pipeline.fleet.watermark : 0,
  };
  const totalMs = performance.now() - started;
  return {
    result: buildResult(final, pipeline.rejections.summary(), stats),
    lastRun: final,
    pipeline,
    runs,
    timings: { ingestMs: totalMs - clusteringMs, clusteringMs, totalMs },
  };
}
