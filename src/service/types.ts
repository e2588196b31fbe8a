/**
 * What the edges (HTTP, Kafka) see of the running service. The composition root implements it with the
 * pipeline, the clusterer and the run history; tests may implement it with a replayed run.
 */
import type { AttributionCounters } from '../attribution/address-map.ts';
import type { HeldFlowCounters } from '../attribution/held-flows.ts';
import type { TenantAttributes, VmAttributes } from '../contract/records.ts';
import type { RejectionSummary } from '../contract/rejections.ts';
import type { ClusteringRun } from '../runs/clustering-run.ts';
import type { HistoryDocument, RunRecord } from '../runs/history.ts';
import type { ModelDocument } from '../runs/model-document.ts';
import type { SecurityGroupsDocument } from '../security-groups/types.ts';

export interface VmView {
  vmId: string;
  tenantId: string | null;
  attributes: VmAttributes | null;
  /** Current feature values over the window, by feature name; null when the VM has no traffic yet. */
  features: Record<string, number> | null;
  /** Event time of the newest record that mentioned it. */
  lastSeen: number;
}

export interface RunStatus {
  runId: string;
  /** Wall-clock start, epoch ms. */
  startedAt: number;
  reason: 'schedule' | 'request' | 'final';
}

export interface ReclusterOptions {
  /** Search k even when the fleet has not drifted (a fixed k still never searches). */
  search?: boolean;
}

export interface ReclusterRequestOutcome {
  runId: string;
  /** False when a run was already in progress: its id is returned and no second run starts. */
  started: boolean;
}

export interface IngestStats {
  messages: number;
  records: { flows: number; vmAttributes: number; tenantAttributes: number };
  rejected: RejectionSummary;
  watermark: number | null;
  vmsTracked: number;
  tenantsTracked: number;
  /** The fleet state's own counters: expiries, caps hit, stale attributes (FleetCounters). */
  fleet?: Readonly<Record<string, number>>;
  /** The security groups' connection log: connections held, its cap, new ones refused at the cap. */
  connections?: { held: number; max: number; refused: number };
  /** Flow ends by how they were attributed to VMs, or why not, and the address map's size and cap hits. */
  attribution?: AttributionCounters & { claims: number };
  /** Address-only flows held for late VM attributes: held now (flows, estimated bytes) and the hold's counters. */
  heldFlows?: HeldFlowCounters & { flows: number; bytes: number };
}

export interface ServiceView {
  /** The newest completed run, or null before the first one. */
  latestRun(): ClusteringRun | null;
  runInProgress(): RunStatus | null;
  /** Live state of one VM (not deleted); null when unknown. */
  vm(vmId: string): VmView | null;
  tenant(tenantId: string): TenantAttributes | null;
  requestRecluster(options?: ReclusterOptions): ReclusterRequestOutcome;
  ingestStats(): IngestStats;
  /** True once the inputs are connected (Kafka consumer joined, or the embedded trace loaded). */
  inputsReady(): boolean;
  /**
   * Why the input is held although connected (its dead letters cannot be written), one sentence; null
   * when it is not. Optional: views without a Kafka input have none.
   */
  inputsHeld?(): string | null;
  /**
   * Why the inputs are not ready, one sentence, when the view knows more than "not connected" (a scale-out
   * member: joining its groups, reading a table, restoring windows); null when they are. Optional.
   */
  inputsNotReady?(): string | null;
  /**
   * True once a clustering run has completed in this process or was restored with the service's state.
   * A loaded model's provisional placement is served by latestRun() but does not count: it is a guess.
   */
  firstRunCompleted(): boolean;
  /** Summaries and changes of the most recent completed runs, oldest first. */
  runHistory(): readonly RunRecord[];
  /**
   * Security groups learned for the latest run and its check against the latest window
   * (docs/security-groups.md); null before the first run. Optional: views without a connection log have none.
   * The service computes it in slices, so it may answer with a promise.
   */
  securityGroups?(): Promise<SecurityGroupsDocument | null> | SecurityGroupsDocument | null;
}

/** Where each run's model goes (src/model-store/ writes files); the service only hands documents over. */
export interface ModelSink {
  save(model: ModelDocument): Promise<unknown>;
}

/** Where the run history goes after each run (src/model-store/ writes a file). */
export interface HistorySink {
  save(history: HistoryDocument): Promise<unknown>;
}
