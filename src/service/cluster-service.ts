/**
 * The running service's core: the pipeline's state, the schedule of clustering runs (event time, on
 * request, optionally wall clock), at most one run in flight, and the read model the edges serve.
 */
import { EventEmitter } from 'node:events';
import type { TenantAttributes } from '../contract/records.ts';
import { extractVmFeatures, VM_FEATURE_COUNT, VM_FEATURES } from '../features/vm-features.ts';
import type { Pipeline } from '../pipeline/pipeline.ts';
import type { ClusteringRun, RunOptions } from '../runs/clustering-run.ts';
import type { Clusterer } from './clusterer.ts';
import type { IngestStats, RecluterRequestOutcome, RunStatus, ServiceView, VmView } from './types.ts';

export interface ClusterServiceEvents {
  run: [ClusteringRun];
  runFailed: [RunStatus, Error];
}

export class ClusterService extends EventEmitter<ClusterServiceEvents> implements ServiceView {
  private latest: ClusteringRun | null = null;
  private inFlight: { status: RunStatus; done: Promise<void> } | null = null;
  private runCount = 0;
  private ready = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly pipeline: Pipeline,
    private readonly clusterer: Clusterer,
    private readonly runOptions: RunOptions,
    private readonly now: () => number = Date.now,
  ) {
    super();
  }

  /** Applies one message (a Kafka value or a trace line's value) and starts a run when one is due. */
  ingestMessage(topic: string, text: string, source: string): void {
    this.pipeline.ingestMessage(topic, text, source);
    if (this.pipeline.runDue()) this.startRun('schedule');
  }

  ingestTraceLine(line: string, source: string): void {
    this.pipeline.ingestTraceLine(line, source);
    if (this.pipeline.runDue()) this.startRun('schedule');
  }

  /** Also runs every `intervalMs` of wall-clock time, for quiet periods in which event time stands still. */
  startWallClockSchedule(intervalMs: number): void {
    this.stopWallClockSchedule();
    if (intervalMs > 0) {
      this.timer = setInterval(() => this.startRun('schedule'), intervalMs);
      this.timer.unref();
    }
  }

  stopWallClockSchedule(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Starts a run unless one is in flight, in which case that run's id is returned. */
  startRun(reason: RunStatus['reason']): RecluterRequestOutcome {
    if (this.inFlight) return { runId: this.inFlight.status.runId, started: false };
    this.runCount++;
    const status: RunStatus = { runId: `run-${String(this.runCount).padStart(6, '0')}`, startedAt: this.now(), reason };
    const snapshot = this.pipeline.snapshot();
    const done = this.clusterer.run(snapshot, status.runId, this.runOptions).then(
      (run) => {
        this.latest = run;
        this.inFlight = null;
        this.emit('run', run);
      },
      (err: unknown) => {
        this.inFlight = null;
        this.emit('runFailed', status, err instanceof Error ? err : new Error(String(err)));
      },
    );
    this.inFlight = { status, done };
    return { runId: status.runId, started: true };
  }

  /** Resolves once no run is in flight. */
  async whenIdle(): Promise<void> {
    while (this.inFlight) await this.inFlight.done;
  }

  markInputsReady(ready = true): void {
    this.ready = ready;
  }

  async close(): Promise<void> {
    this.stopWallClockSchedule();
    await this.whenIdle();
    await this.clusterer.close();
  }

  // ServiceView

  latestRun(): ClusteringRun | null {
    return this.latest;
  }

  runInProgress(): RunStatus | null {
    return this.inFlight?.status ?? null;
  }

  requestRecluster(): RecluterRequestOutcome {
    return this.startRun('request');
  }

  vm(vmId: string): VmView | null {
    const fleet = this.pipeline.fleet;
    const e = fleet.vms.get(vmId);
    if (!e) return null;
    let features: Record<string, number> | null = null;
    if (Number.isFinite(fleet.watermark)) {
      const { first, last } = fleet.windowRange();
      const row = new Float64Array(VM_FEATURE_COUNT);
      extractVmFeatures(e, first, last, fleet.config.windowMs / 60_000, row, 0, undefined, (serial) => fleet.vmBySerial(serial));
      features = {};
      VM_FEATURES.forEach((name, i) => {
        const v = row[i]!;
        if (features && Number.isFinite(v)) features[name] = v;
      });
    }
    return { vmId, tenantId: e.tenantId, attributes: e.attributes, features, lastSeen: e.lastSeen };
  }

  tenant(tenantId: string): TenantAttributes | null {
    return this.pipeline.fleet.tenants.get(tenantId) ?? null;
  }

  ingestStats(): IngestStats {
    const p = this.pipeline;
    return {
      messages: p.messagesIn,
      records: { ...p.recordsIn },
      rejected: p.rejections.summary(),
      watermark: Number.isFinite(p.fleet.watermark) ? p.fleet.watermark : null,
      vmsTracked: p.fleet.vms.size,
      tenantsTracked: p.fleet.tenants.size,
    };
  }

  inputsReady(): boolean {
    return this.ready;
  }
}
