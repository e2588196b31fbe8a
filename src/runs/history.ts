/**
 * The service's memory of its recent runs: a summary of each and what changed since the one before, for
 * operators asking "when did this cluster appear, and which VMs moved". Bounded: the oldest run goes first.
 */
import type { ClusteringRun, Side } from './clustering-run.ts';
import type { RunChanges } from './identity.ts';

export interface SideRecord {
  /** Entities clustered (VMs or tenants). */
  count: number;
  k: number;
  silhouette: number | null;
  inertia: number | null;
  noise: number;
}

export interface RunRecord {
  runId: string;
  /** Event time the run describes, epoch ms (NaN-free: null when no flow was seen). */
  computedAt: number | null;
  durationMs: number;
  reason: 'schedule' | 'request' | 'final';
  vms: SideRecord;
  tenants: SideRecord;
  changes: RunChanges;
}

function sideRecord(side: Side): SideRecord {
  const o = side.outcome;
  return { count: side.ids.length, k: o.k, silhouette: o.quality.silhouette, inertia: o.quality.inertia, noise: o.quality.noise };
}

export function runRecord(run: ClusteringRun, changes: RunChanges, reason: RunRecord['reason']): RunRecord {
  return {
    runId: run.runId,
    computedAt: Number.isFinite(run.computedAt) ? run.computedAt : null,
    durationMs: run.durationMs,
    reason,
    vms: sideRecord(run.vms),
    tenants: sideRecord(run.tenants),
    changes,
  };
}

export const DEFAULT_RUN_HISTORY = 50;

export class RunHistory {
  private readonly records: RunRecord[] = [];

  constructor(readonly capacity: number = DEFAULT_RUN_HISTORY) {
    if (!(Number.isInteger(capacity) && capacity >= 1)) throw new RangeError(`run history size must be a positive integer, got ${capacity}`);
  }

  add(record: RunRecord): void {
    this.records.push(record);
    if (this.records.length > this.capacity) this.records.splice(0, this.records.length - this.capacity);
  }

  /** Oldest first. */
  list(): readonly RunRecord[] {
    return this.records;
  }

  get(runId: string): RunRecord | null {
    return this.records.find((r) => r.runId === runId) ?? null;
  }
}
