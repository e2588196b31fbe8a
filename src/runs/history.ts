/**
 * The service's memory of its recent runs: a summary of each and what changed since the one before, for
 * operators asking "when did this cluster appear, and which VMs moved". Bounded: the oldest run goes first.
 * It outlives the process as a versioned JSON document (src/model-store/ writes the file), checked on reading.
 */
import { z } from 'zod';
import { SEARCH_REASONS, type SearchRecord } from '../clustering/drift.ts';
import type { ClusteringRun, Side } from './clustering-run.ts';
import type { RunChanges } from './identity.ts';

export interface SideRecord {
  /** Entities clustered (VMs or tenants). */
  count: number;
  k: number;
  silhouette: number | null;
  inertia: number | null;
  noise: number;
  /** Whether the run searched k and why (k-means only; absent in runs of older versions). */
  search?: SearchRecord;
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
  return {
    count: side.ids.length,
    k: o.k,
    silhouette: o.quality.silhouette,
    inertia: o.quality.inertia,
    noise: o.quality.noise,
    ...(o.search === undefined ? {} : { search: o.search }),
  };
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

  /** A record whose run is already here (restored from a file and from a snapshot alike) replaces it. */
  add(record: RunRecord): void {
    const same = this.records.findIndex((r) => r.runId === record.runId);
    if (same >= 0) {
      this.records[same] = record;
      return;
    }
    this.records.push(record);
    if (this.records.length > this.capacity) this.records.splice(0, this.records.length - this.capacity);
  }

  /** Drops the records of runs numbered above `last` (runs given back: never published, scale-out). */
  dropAfter(last: number): void {
    for (let i = this.records.length - 1; i >= 0; i--) if ((runNumber(this.records[i]!.runId) ?? 0) > last) this.records.splice(i, 1);
  }

  /** Oldest first. */
  list(): readonly RunRecord[] {
    return this.records;
  }

  get(runId: string): RunRecord | null {
    return this.records.find((r) => r.runId === runId) ?? null;
  }
}

/** The number in a run id (`run-000042`: 42); null for other ids (provisional placements). */
export function runNumber(runId: string): number | null {
  const m = /^run-(\d{1,15})$/.exec(runId);
  return m ? Number(m[1]) : null;
}

export const HISTORY_SCHEMA = 'alcor-traffic-clusters/run-history';
/** Bump on any change a reader of the previous version would misread. */
export const HISTORY_VERSION = 1;

const SideRecordSchema = z.object({
  count: z.number().int().min(0),
  k: z.number().int().min(0),
  silhouette: z.number().nullable(),
  inertia: z.number().nullable(),
  noise: z.number().int().min(0),
  search: z
    .object({
      searched: z.boolean(),
      reason: z.enum(SEARCH_REASONS),
      runsSinceSearch: z.number().int().min(0),
      referenceUnexplained: z.number().nullable(),
      drift: z.object({ unexplained: z.number(), moved: z.number(), newRows: z.number(), lostClusters: z.number().int() }).nullable(),
    })
    .optional(),
});
const SideChangesSchema = z.object({
  events: z.array(
    z.object({
      type: z.enum(['born', 'died', 'split', 'merged']),
      clusterId: z.string(),
      size: z.number().int().min(0),
      from: z.array(z.string()),
      into: z.array(z.string()),
    }),
  ),
  moved: z.array(z.object({ id: z.string(), from: z.string(), to: z.string() })),
});
const RunRecordSchema = z.object({
  runId: z.string().min(1),
  computedAt: z.number().nullable(),
  durationMs: z.number().min(0),
  reason: z.enum(['schedule', 'request', 'final']),
  vms: SideRecordSchema,
  tenants: SideRecordSchema,
  changes: z.object({ runId: z.string(), previousRunId: z.string().nullable(), vms: SideChangesSchema, tenants: SideChangesSchema }),
});

/** The persisted history: the records oldest first, and the number of the last run the service started. */
const HistoryDocument = z.object({
  schema: z.literal(HISTORY_SCHEMA),
  version: z.literal(HISTORY_VERSION),
  /** The next run is numbered after this, even when the run it names failed and left no record. */
  last_run_number: z.number().int().min(0),
  runs: z.array(RunRecordSchema),
});
export type HistoryDocument = z.infer<typeof HistoryDocument>;

export function historyDocument(records: readonly RunRecord[], lastRunNumber: number): HistoryDocument {
  return { schema: HISTORY_SCHEMA, version: HISTORY_VERSION, last_run_number: lastRunNumber, runs: [...records] };
}

export type ParsedHistory = { ok: true; history: HistoryDocument } | { ok: false; error: string };

/** Parses and checks a history file's text: valid JSON, this schema and version, well-formed records. */
export function parseHistory(text: string): ParsedHistory {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `not JSON (${(err as Error).message})` };
  }
  const head = z.object({ schema: z.literal(HISTORY_SCHEMA), version: z.number() }).safeParse(json);
  if (!head.success) return { ok: false, error: `not a run history document (schema "${HISTORY_SCHEMA}" expected)` };
  if (head.data.version !== HISTORY_VERSION) {
    return { ok: false, error: `run history version ${head.data.version}, this service reads version ${HISTORY_VERSION}` };
  }
  const parsed = HistoryDocument.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, error: `malformed run history at ${issue?.path.join('.') || 'the top'}: ${issue?.message ?? 'invalid'}` };
  }
  return { ok: true, history: parsed.data };
}
