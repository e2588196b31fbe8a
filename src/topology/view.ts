/**
 * What the HTTP API sees of a scale-out member: the runs every member reads from the runs topic (through
 * the ClusterService that holds them), the tenant table, and the member's readiness. A VM's features and
 * attributes are the latest run's (published with it): its windows live on whichever member owns its partition.
 */
import type { TenantAttributes } from '../contract/records.ts';
import { runIndex } from '../http/run-index.ts';
import type { ClusteringRun } from '../runs/clustering-run.ts';
import type { RunRecord } from '../runs/history.ts';
import type { SecurityGroupsDocument } from '../security-groups/types.ts';
import type { ClusterService } from '../service/cluster-service.ts';
import type { IngestStats, ReclusterRequestOutcome, ReclusterOptions, RunStatus, ServiceView, VmView } from '../service/types.ts';
import type { ScaleOutMember } from './member.ts';

export class ScaleOutView implements ServiceView {
  constructor(
    private readonly service: ClusterService,
    private readonly member: ScaleOutMember,
  ) {}

  latestRun(): ClusteringRun | null {
    return this.service.latestRun();
  }

  runInProgress(): RunStatus | null {
    return this.service.runInProgress();
  }

  vm(vmId: string): VmView | null {
    const run = this.service.latestRun();
    if (run === null) return null;
    // The API's index of the run (built in slices before a run read from the topic is served).
    const row = runIndex(run).vmRow.get(vmId);
    if (row === undefined) return null;
    const m = run.vms.features;
    const features: Record<string, number> = {};
    for (let c = 0; c < m.cols; c++) {
      const v = m.data[row * m.cols + c]!;
      if (Number.isFinite(v)) features[m.names[c]!] = v;
    }
    return { vmId, tenantId: run.vmTenants[row] ?? null, attributes: this.member.vmAttributes(vmId), features, lastSeen: run.computedAt };
  }

  tenant(tenantId: string): TenantAttributes | null {
    return this.member.tenant(tenantId);
  }

  /** Any member takes the request; the leader runs it once every partition has published its features. */
  requestRecluster(options: ReclusterOptions = {}): ReclusterRequestOutcome {
    const inFlight = this.service.runInProgress();
    if (inFlight !== null) return { runId: inFlight.runId, started: false };
    this.member.requestRun(options.search === true);
    const next = this.service.exportState().runCount + 1;
    return { runId: `run-${String(next).padStart(6, '0')}`, started: true };
  }

  ingestStats(): IngestStats {
    const s = this.member.status();
    const run = this.service.latestRun();
    return {
      messages: 0,
      records: { ...s.records },
      rejected: { count: s.rejected.count, by_reason: { ...s.rejected.by_reason } },
      watermark: run?.computedAt ?? null,
      vmsTracked: s.vms,
      tenantsTracked: run?.tenants.ids.length ?? 0,
      // This member's routers' attributions (the records and rejects above are every member's).
      attribution: this.member.attribution(),
      // This member's routers' hold (each input partition's router holds its own flows).
      heldFlows: { ...s.held },
    };
  }

  inputsReady(): boolean {
    return this.member.notReadyReason() === null;
  }

  /** The route held by dead letters it cannot write (/readyz's `dead_letters`), or null. */
  inputsHeld(): string | null {
    return this.member.deadLettersHeld();
  }

  /** What the member is still doing before it is ready (under `inputs`: `inputsHeld` is only for dead letters). */
  inputsNotReady(): string | null {
    return this.member.notReadyReason();
  }

  firstRunCompleted(): boolean {
    return this.service.firstRunCompleted();
  }

  runHistory(): readonly RunRecord[] {
    return this.service.runHistory();
  }

  securityGroups(): SecurityGroupsDocument | null {
    return this.member.securityGroups();
  }
}
