/**
 * What a snapshot of the running service holds and how it is checked on the way back in: the fleet state
 * (windows, attributes, watermark) in the fleet codec's bytes, the pipeline's counters and run schedule,
 * the service's latest run, identities and history, and the Kafka offsets all of that includes. Taken
 * synchronously between two batches, so that state and offsets describe the same moment.
 */
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { ServiceError } from '../errors/catalogue.ts';
import type { FleetState } from '../fleet/fleet-state.ts';
import type { KafkaLogIdentity, PartitionOffset, TopicNames } from '../contract/topics.ts';
import type { PipelineState } from '../pipeline/pipeline.ts';
import type { ConnectionLogState } from '../security-groups/connection-log.ts';
import type { ClusterService, ClusterServiceState } from '../service/cluster-service.ts';
import type { WindowConfig } from '../windows/window-config.ts';
import { decodeSnapshotFile, encodeSnapshotFile, SnapshotFileError } from './snapshot-file.ts';
import type { SnapshotFileProblem, SnapshotStore } from './snapshot-store.ts';

const SNAPSHOT_KIND = 'alcor-traffic-clusters/snapshot';

/** The exact, versioned encoding of the fleet state (src/fleet); kept behind an interface so the two evolve apart. */
export interface FleetCodec {
  encode(fleet: FleetState): Uint8Array;
  /** The same bytes, yielding to the event loop now and then; the caller keeps the state still meanwhile. */
  encodeInSlices?(fleet: FleetState): Promise<Uint8Array>;
  decode(bytes: Uint8Array, config: WindowConfig): FleetState;
}

export interface ServiceSnapshot {
  kind: typeof SNAPSHOT_KIND;
  /** Wall-clock time it was taken, epoch ms. */
  takenAt: number;
  window: WindowConfig;
  topics: TopicNames;
  /** Next offset per partition: every message before it is in the state, none after it. */
  offsets: PartitionOffset[];
  /**
   * The Kafka log those offsets point into (cluster id, partition extents) as seen just before the capture,
   * so that a restart can tell whether they still mean the same records; null without Kafka, when the
   * cluster could not be asked, and in format-1 snapshots.
   */
  kafka: KafkaLogIdentity | null;
  pipeline: PipelineState;
  fleet: Uint8Array;
  service: ClusterServiceState;
  /** The connections security groups are learned from (docs/security-groups.md); null in format-1 and -2 snapshots. */
  connections: ConnectionLogState | null;
}

const Counter = z.number().min(0);
/** The log's columns are checked for shape here and for consistent lengths by ConnectionLog.restore. */
const ConnectionsShape = z.object({
  windowMs: z.number().positive(),
  // Both -Infinity while no connection was recorded (a snapshot taken before any flow was applied, or with every
  // address-only flow still held for late attributes): zod's number refuses it.
  newestEpoch: z.union([z.number(), z.literal(Number.NEGATIVE_INFINITY)]),
  purgedEpoch: z.union([z.number(), z.literal(Number.NEGATIVE_INFINITY)]),
  counters: z.object({ recorded: Counter, refused: Counter, badPort: Counter, noVm: Counter, forgotten: Counter }),
  endVm: z.array(z.string().nullable()),
  endIp: z.array(z.number().int().min(0)),
  ips: z.array(z.string()),
  ints: z.instanceof(Int32Array),
  doubles: z.instanceof(Float64Array),
});

/** Event times of the address map: ended or open claims (Infinity), no sweep yet (-Infinity); never NaN. */
const EventTime = z.custom<number>((v) => typeof v === 'number' && !Number.isNaN(v), { message: 'expected a time' });
const Tally = z.number().int().min(0);
const AddressMapShape = z.object({
  claims: z.array(z.object({ vmId: z.string(), vpc: z.string(), vni: z.number().int().min(0).nullable(), ip: z.string(), from: EventTime, to: EventTime })),
  deleted: z.array(z.tuple([z.string(), EventTime])),
  counters: z.object({
    endsNamed: Tally,
    endsOutside: Tally,
    endsByAddress: Tally,
    unattributed: z.object({ unknown_address: Tally, ambiguous_no_vni: Tally, conflicting_claims: Tally }),
    claimsRefused: Tally,
    claimsForgotten: Tally,
  }),
  prunedAt: EventTime,
});

/** A decoded flow (contract/records.ts FlowRecord) held for late VM attributes, its VM ends still null. */
const HeldFlowShape = z.object({
  flow: z.object({
    ts: z.number(),
    startTs: z.number().nullable(),
    srcVm: z.null(),
    dstVm: z.null(),
    srcIp: z.string(),
    dstIp: z.string(),
    srcPort: z.number().int(),
    dstPort: z.number().int(),
    protocol: z.number().int().min(0),
    bytes: z.number().min(0),
    packets: z.number().min(0),
    vni: z.number().int().min(0).nullable(),
    srcHost: z.string().nullable(),
    dstHost: z.string().nullable(),
  }),
  raw: z.string(),
  index: z.number().int().min(0).nullable(),
  topic: z.string(),
  source: z.string(),
  endsFound: z.number().int().min(0).max(2),
});
const HeldFlowsShape = z.object({
  flows: z.array(HeldFlowShape),
  counters: z.object({ held: Tally, refused: Tally, endsAttributedLate: Tally, expired: Tally }),
});
/** The watermark per input partition (src/pipeline/partition-watermarks.ts); the router's checkpoint has its own in stage-kafka.ts. */
const PartitionWatermarksShape = z.object({
  reader: z.number().nullable(),
  partitions: z.array(z.object({ partition: z.string(), watermark: z.number().nullable() })),
});

const Counts = z.object({ flows: z.number().int().min(0), vmAttributes: z.number().int().min(0), tenantAttributes: z.number().int().min(0) });

/** The outer shape is checked; the nested run and fleet bytes are this build's own (checksummed, versioned). */
const SnapshotShape = z.object({
  kind: z.literal(SNAPSHOT_KIND),
  takenAt: z.number(),
  window: z.record(z.string(), z.unknown()),
  topics: z.object({ flows: z.string(), vmAttributes: z.string(), tenantAttributes: z.string() }),
  offsets: z.array(z.object({ topic: z.string(), partition: z.number().int().min(0), next: z.string().regex(/^\d{1,19}$/) })),
  kafka: z
    .object({
      clusterId: z.string(),
      partitions: z.array(
        z.object({ topic: z.string(), partition: z.number().int().min(0), low: z.string().regex(/^-?\d{1,19}$/), high: z.string().regex(/^-?\d{1,19}$/) }),
      ),
    })
    .nullish()
    .transform((k) => k ?? null),
  pipeline: z.object({
    messagesIn: z.number().int().min(0),
    recordsIn: Counts,
    rejected: z.object({ count: z.number().int().min(0), by_reason: z.record(z.string(), z.number().int().min(0)) }),
    // NaN until the first scheduled run is known (no flow yet, or RECLUSTER_MINUTES=0): zod's number refuses NaN.
    nextRunAt: z.union([z.number(), z.nan()]),
    // Absent in snapshots of builds before attribution: the pipeline rebuilds the map from the VM attributes.
    attribution: AddressMapShape.optional(),
    // Absent in snapshots of builds before the hold for late attributes: none were held.
    held: HeldFlowsShape.optional(),
    // Absent in snapshots of earlier builds (one watermark, the fleet's) and of a trace: the reader starts at the fleet's.
    inputPartitions: PartitionWatermarksShape.optional(),
  }),
  fleet: z.instanceof(Uint8Array),
  service: z.object({
    runCount: z.number().int().min(0),
    identity: z.object({ nextVm: z.number().int().min(0), nextTenant: z.number().int().min(0), previous: z.unknown() }),
    latest: z.unknown(),
    history: z.array(z.unknown()),
  }),
  connections: ConnectionsShape.nullish().transform((c) => c ?? null),
});

/** Everything but the fleet bytes: read at once, so that it describes the same moment as the offsets. */
function snapshotHead(service: ClusterService, offsets: PartitionOffset[], now: number, kafka: KafkaLogIdentity | null): Omit<ServiceSnapshot, 'fleet'> {
  const { window, topics, pipeline, service: state, connections } = service.stateHead();
  return { kind: SNAPSHOT_KIND, takenAt: now, window, topics, offsets, kafka, pipeline, service: state, connections };
}

export function captureSnapshot(
  service: ClusterService,
  offsets: PartitionOffset[],
  codec: FleetCodec,
  now: number,
  kafka: KafkaLogIdentity | null = null,
): ServiceSnapshot {
  return { ...snapshotHead(service, offsets, now, kafka), fleet: service.encodeFleet((fleet) => codec.encode(fleet)) };
}

/**
 * As captureSnapshot, with the fleet encoded in slices when the codec can; the caller applies no input
 * until this resolves, so the head and the fleet are one moment.
 */
export async function captureSnapshotInSlices(
  service: ClusterService,
  offsets: PartitionOffset[],
  codec: FleetCodec,
  now: number,
  kafka: KafkaLogIdentity | null = null,
): Promise<ServiceSnapshot> {
  const encodeInSlices = codec.encodeInSlices?.bind(codec);
  if (!encodeInSlices) return captureSnapshot(service, offsets, codec, now, kafka);
  const head = snapshotHead(service, offsets, now, kafka);
  return { ...head, fleet: await service.encodeFleet((fleet) => encodeInSlices(fleet)) };
}

export function encodeSnapshot(snapshot: ServiceSnapshot): Buffer {
  return encodeSnapshotFile(snapshot);
}

export class SnapshotIncompatibleError extends ServiceError {
  constructor(message: string) {
    super('snapshot_incompatible', message);
    this.name = 'SnapshotIncompatibleError';
  }
}

/** A snapshot this configuration can continue from; throws SnapshotFileError / SnapshotIncompatibleError. */
export function decodeSnapshot(bytes: Uint8Array, expect: { window: WindowConfig; topics: TopicNames }): ServiceSnapshot {
  const parsed = SnapshotShape.safeParse(decodeSnapshotFile(bytes));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SnapshotFileError(`unexpected content at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  const doc = parsed.data as unknown as ServiceSnapshot;
  if (!isDeepStrictEqual({ ...doc.window }, { ...expect.window })) {
    throw new SnapshotIncompatibleError(`taken with window settings ${JSON.stringify(doc.window)}, now ${JSON.stringify(expect.window)}`);
  }
  if (!isDeepStrictEqual(doc.topics, expect.topics)) {
    throw new SnapshotIncompatibleError(`taken for topics ${JSON.stringify(doc.topics)}, now ${JSON.stringify(expect.topics)}`);
  }
  return doc;
}

export interface RestoredState {
  path: string;
  snapshot: ServiceSnapshot;
  fleet: FleetState;
  /** Attributes later than wall clock + the allowed future skew, dropped on the way in (an older build kept them). */
  droppedFuture: { tombstones: number; tenants: number; vmAttributes: number };
}

export interface SnapshotLoad {
  restored: RestoredState | null;
  /** Snapshots skipped on the way, newest first, with the reason. */
  problems: SnapshotFileProblem[];
}

/**
 * The newest snapshot that decodes and fits this configuration; older ones are tried after a bad one,
 * because each carries its own offsets and so still resumes exactly. None: a fresh start.
 * `latestSaneTs` (wall clock + the allowed future skew): a snapshot whose watermark is later was written
 * under a wrong clock or before future event times were rejected; restoring it would reject every record
 * as too late, so it is skipped like a damaged one (docs/event-time.md).
 */
export async function loadLatestSnapshot(
  store: SnapshotStore,
  codec: FleetCodec,
  expect: { window: WindowConfig; topics: TopicNames },
  latestSaneTs: number = Number.POSITIVE_INFINITY,
): Promise<SnapshotLoad> {
  const problems: SnapshotFileProblem[] = [];
  for await (const file of store.newestFirst(problems)) {
    try {
      const snapshot = decodeSnapshot(file.bytes, expect);
      const fleet = codec.decode(snapshot.fleet, expect.window);
      if (fleet.watermark > latestSaneTs) throw new SnapshotIncompatibleError(futureWatermarkProblem(fleet.watermark, latestSaneTs));
      const future = fleet.dropFutureAttributes(latestSaneTs);
      const droppedFuture = { tombstones: future.tombstones.length, tenants: future.tenants.length, vmAttributes: future.vmAttributes.length };
      return { restored: { path: file.path, snapshot, fleet, droppedFuture }, problems };
    } catch (err) {
      problems.push({ path: file.path, error: err instanceof Error ? err.message : String(err) });
    }
  }
  return { restored: null, problems };
}

function futureWatermarkProblem(watermark: number, latestSaneTs: number): string {
  const iso = (ms: number) => (Number.isNaN(new Date(ms).getTime()) ? String(ms) : new Date(ms).toISOString());
  return `its watermark ${iso(watermark)} is later than the wall clock plus the allowed future skew (${iso(latestSaneTs)}): written under a wrong clock or before future_ts rejects; not restored`;
}

/**
 * Puts a restored snapshot's counters, schedule, connection log and runs into a service built on its fleet
 * state; returns why the connection log was not restored (the rest was), or null.
 */
export function applySnapshot(snapshot: ServiceSnapshot, service: ClusterService): string | null {
  return service.restoreSnapshot(snapshot);
}
