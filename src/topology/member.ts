/**
 * One member of a scale-out application (docs/scale-out.md): the route, window and leader stages over
 * Kafka, around the pure stages of this folder. Kafka does the coordination: consumer groups assign input
 * partitions (route), by-VM partitions (window) and the single leader partition (leader); transactions make
 * each stage's output and its input offsets one atomic step.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { CompressionTypes, type Consumer, type Kafka, PartitionAssigners, Partitioners, type Producer } from 'kafkajs';
import { z } from 'zod';
import type { KafkaSettings } from '../config/kafka-settings.ts';
import type { RejectedRecord, RejectionSummary } from '../contract/rejections.ts';
import type { HostAttributes, TenantAttributes, VmAttributes } from '../contract/records.ts';
import { FleetState } from '../fleet/fleet-state.ts';
import { type DeadLetterProducer, deadLetterHeldReason } from '../kafka/dead-letter.ts';
import type { KafkaLogger } from '../kafka/options.ts';
import { keepRaw, type PipelineConfig } from '../pipeline/pipeline.ts';
import { hostCapacityFacts } from '../runs/run-input.ts';
import type { ClusteringRun } from '../runs/clustering-run.ts';
import type { ClusterService, ClusterServiceState } from '../service/cluster-service.ts';
import { decodeSnapshotFile, encodeSnapshotFileInSlices } from '../snapshots/snapshot-file.ts';
import { decodeDocumentInSlices, encodeDocumentInSlices } from '../snapshots/sliced-document.ts';
import { DEFAULT_RETAIN_WINDOWS } from '../security-groups/connection-log.ts';
import type { SecurityGroupsDocument } from '../security-groups/types.ts';
import { AddressTable } from './address-table.ts';
import { DEFAULT_MAX_CLAIMS } from '../attribution/address-map.ts';
import { ByVmDecoder, decodeByVm, encodeByVm } from './by-vm.ts';
import { RUN_CHUNK_BYTES, RunAssembler, type RunRecords, runRecordsSteps } from './run-chunks.ts';
import { afterNextPoll, inSlices } from '../core/slices.ts';
import { LocalCheckpointCache, staleReason } from './local-cache.ts';
import { type TopologyConfig, type TopologyTopics, topologyGroups, topologyTopics } from './config.ts';
import { gatherAttributes, gatherSnapshotInSlices } from './gather.ts';
import { stickyLeaderAssigner } from './leader-assignment.ts';
import { stickyWindowAssigner, type WindowClaim } from './window-assignment.ts';
import { tenantInfos } from './local-topology.ts';
import { type PartitionFeatures, PartitionState } from './partition-state.ts';
import { emptyRouteStatus, type HeldStatus, type RouteSeconds, RouteStage, type RouteStatus } from './route-stage.ts';
import { type Attribution, RouteThread, routePipelineData } from './route-thread.ts';
import { isBehind, ownProgress, routeProgress } from './backlog.ts';
import { chooseRun, RUN_CATCH_UP_MS } from './run-choice.ts';
import { newRunRequestId, runRequestSearches } from './run-request.ts';
import { beating, groupTiming, RouterStateShape, retriable, TRANSACTION_TIMEOUT_MS } from './stage-kafka.ts';
import { addressTableReader, tenantTableReader } from './table-readers.ts';
import { TopicReader } from './topic-reader.ts';

export interface MemberOptions {
  kafka: Kafka;
  topology: TopologyConfig;
  pipeline: PipelineConfig;
  /** Serves every member's API; the leader's runs happen in it too. */
  service: ClusterService;
  deadLetter: DeadLetterProducer;
  log: KafkaLogger;
  onReject?: (r: RejectedRecord) => void;
  /** Where the local copies of this member's checkpoints are kept (local-cache.ts); none: every restore reads the changelog. */
  stateDir?: string;
  /** The input topic of host capacities (KAFKA_TOPIC_HOST_ATTRIBUTES), routed to the hosts' table; none: not read. */
  hostAttributesTopic?: string;
  /** Readies what serving a run needs (the API's index of it, in slices) before another member's run is served. */
  prepareRun?: (run: ClusteringRun) => Promise<void>;
  /**
   * Run the route stage in a worker thread with a kafkajs client of its own from these settings (the
   * service does: route-thread.ts); none: in this thread, on `kafka` (tests of the stages themselves).
   */
  routeWorker?: { kafka: KafkaSettings };
  /** CHECKPOINT_EVERY_MS unless given: tests stretch it to hold ticks published without a checkpoint. */
  checkpointEveryMs?: number;
  /** RUN_CHUNK_BYTES unless given: tests shrink it to cut a small run into many chunks. */
  runChunkBytes?: number;
  /** RUN_CATCH_UP_MS unless given: how long a complete tick waits for a newer one while a backlog is read. */
  runCatchUpMs?: number;
}

/** Where a partition's windows came from when this member took it. */
export const RESTORE_SOURCES = ['local', 'changelog', 'input', 'rebuilt'] as const;
export type RestoreSource = (typeof RESTORE_SOURCES)[number];

/** What a member reports of itself (metrics, /v1/stats). */
export interface MemberStatus {
  leader: boolean;
  /** By-VM partitions whose windows this member holds. */
  partitions: number[];
  vms: number;
  /** Tenures of this member as the leader (docs/scale-out.md, "Who leads"): a rebalance it leads through is not one. */
  leaderships: number;
  /** Records of every input partition, from the routers' states committed with their offsets. */
  records: { flows: number; vmAttributes: number; tenantAttributes: number };
  rejected: RejectionSummary;
  /** Address-only flows this member's routers hold for late VM attributes, and their counts. */
  held: HeldStatus;
  /** By-VM messages (offsets) not yet checkpointed, over the partitions held. */
  changelogLag: number;
  /**
   * Partitions taken, by where their windows came from: the local copy, the changelog, the input from its
   * start (no checkpoint yet), or rebuilt from the input because the checkpoint did not match or decode.
   */
  restores: Record<RestoreSource, number>;
  /** Wall time of the last restore (every partition it took), ms. */
  lastRestoreMs: number | null;
  /** Input messages this member's routers routed (committed) since it started: live, unlike `records`. */
  routedMessages: number;
  /** By-VM records (flow halves, VM attributes) those routers wrote. */
  routedRecords: number;
  /** Route transactions those routers committed (a batch's, or a flush of released flows): their round trips bound a member's ingest. */
  routeTransactions: number;
  /** Batches of a flows partition its routers cut for the pace: a bucket ahead of the slowest (docs/event-time.md). */
  routePacedCuts: number;
  /** By-VM records (flow halves, VM attributes) this member's windows applied since it started. */
  appliedRecords: number;
  /** Features records this member's window partitions committed (a tick's once per partition, and requests'). */
  featuresPublished: number;
  /** Ticks replayed after a restore whose features the former owner had committed: computed, not sent again. */
  ticksNotSentAgain: number;
  /** Route workers started again after one ended unasked (0 with the route in the main thread). */
  routeWorkerRestarts: number;
  /** Records of the runs topic this member did not serve: of no format it reads, or a run not whole (a chunk missing, torn). */
  runsNotServed: Record<RunNotServedReason, number>;
  /** Where the route and window stages' wall time went, seconds by phase (ROUTE_PHASES, WINDOW_PHASES). */
  stageSeconds: { route: RouteSeconds; window: WindowSeconds };
}

export const RUN_NOT_SERVED_REASONS = ['unreadable', 'torn'] as const;
export type RunNotServedReason = (typeof RUN_NOT_SERVED_REASONS)[number];

/**
 * Where the window stage's wall time goes: waiting for kafkajs' next batch of by-VM records (its fetch,
 * or none committed yet), applying them to the windows, and publishing a tick (features, checkpoint, offset).
 */
export const WINDOW_PHASES = ['fetch_wait', 'apply', 'publish'] as const;
export type WindowSeconds = Record<(typeof WINDOW_PHASES)[number], number>;

/** A checkpoint: the windows of one by-VM partition and the offset of the first record they do not include. */
interface Checkpoint {
  partition: number;
  offset: string;
  fleet: Uint8Array;
  /** PartitionState.publishedTick (null: none yet; absent in checkpoints of earlier versions). */
  publishedTick?: number | null;
}

/** The runs topic's record: the service's state after a run, and which tick or request it answered. */
export interface PublishedRun {
  /** The member that ran it (a process's random id). */
  member: string;
  state: ClusterServiceState;
  tick: number | null;
  request: string | null;
  /** The run's VMs' latest attributes, as the partitions published them (absent in records of earlier versions). */
  attributes?: Array<[string, VmAttributes]>;
  /** The security groups the leader learned with the run from every routed flow (absent in earlier versions). */
  securityGroups?: SecurityGroupsDocument | null;
}

/**
 * What rides in the window group's offset commit (the checkpoint's offset): the newest tick whose features a
 * committed transaction of the partition holds, so that a successor replaying from an older checkpoint does
 * not publish them again.
 */
const WindowCommitShape = z.object({ sentTick: z.number().nullable() });

const RequestShape = z.object({ req: z.string().min(1).max(200), search: z.boolean() });

/** Longest the run's chunking or assembly (a SHA-256 over its bytes) holds the event loop at once. */
const RUN_ASSEMBLY_SLICE_MS = 4;

/** Tries to publish a run (a broker fault) before it gives way to the newest published run. */
const PUBLISH_ATTEMPTS = 3;

/**
 * Wall time between two checkpoints of a partition at least: while a backlog is read, ticks pass many times
 * a second and each checkpoint is the whole partition; a successor replays at most this much more input.
 */
const CHECKPOINT_EVERY_MS = 10_000;
/** How long the leader's answer to "still reading a backlog?" holds, and how often a tick waiting for it asks again. */
const BACKLOG_FRESH_MS = 250;
const BACKLOG_RECHECK_MS = 500;

const COMPACTED = [{ name: 'cleanup.policy', value: 'compact' }];
/** Checkpoints and features carry whole partitions: far above the broker's 1 MB default. */
const LARGE = [{ name: 'max.message.bytes', value: String(64 * 1024 * 1024) }];

export class ScaleOutMember {
  readonly topics: TopologyTopics;
  private readonly groups: ReturnType<typeof topologyGroups>;
  private readonly tenantTable: FleetState;
  /** Every VM's address claims (the global table of <app>-addresses): what attributes address-only flows. */
  readonly addressTable: AddressTable;
  private readonly windows = new Map<number, PartitionState>();
  private readonly windowProducers = new Map<number, Producer>();
  /** Offsets each held partition has checkpointed and applied up to, for the changelog lag. */
  private readonly checkpointed = new Map<number, bigint>();
  private readonly position = new Map<number, bigint>();
  /** When (wall clock) each held partition last wrote a checkpoint. */
  private readonly checkpointedAt = new Map<number, number>();
  /** The newest tick each held partition's committed features hold (this member's, or its predecessor's as committed). */
  private readonly sentTick = new Map<number, number>();
  /** MemberStatus' counts of the window stage's publishes. */
  private featuresPublished = 0;
  private ticksNotSentAgain = 0;
  private assignedWindows = new Set<number>();
  /**
   * The window group's current join, for the ownership log (docs/scale-out.md, "Rebalance storms"): kafkajs
   * does not report a join's generation, its first heartbeat does (a heartbeat succeeds only in the current
   * one). `applying` lines carry the join and, once known, its generation; `confirmed` maps the one to the other.
   */
  /** The newest window generation a heartbeat confirmed. */
  private windowGeneration = -1;
  private windowJoin: { seq: number; memberId: string; generation: number | null; applying: Set<number> } = { seq: 0, memberId: '', generation: null, applying: new Set() };
  /** The window group's last assignment to this member, under its member id: what it claims at the next join. */
  private windowClaim: WindowClaim | null = null;
  /** The route stage: in a worker thread (the service), or in this one. */
  private route: RouteThread | RouteStage | null = null;
  private windowConsumer: Consumer | null = null;
  private leaderConsumer: Consumer | null = null;
  private plain: Producer | null = null;
  private runsProducer: Producer | null = null;
  private featuresReader: TopicReader | null = null;
  /** Every table reader's fetch wait (SCALE_OUT_READER_WAIT_MS): a stop waits for the fetch in flight. */
  private get readerOptions(): { maxWaitMs: number | undefined } {
    return { maxWaitMs: this.o.topology.readerWaitMs };
  }
  private readonly readers: TopicReader[] = [];
  private leader = false;
  /** What the leader group last said: whether this member holds the leader partition. */
  private leading = false;
  /**
   * This member's id in the leader group while it holds the leader partition: its tenure. The sticky
   * assigner (leader-assignment.ts) keeps the partition with it while it keeps this id.
   */
  private leaderMemberId: string | null = null;
  private leadershipChange: Promise<void> = Promise.resolve();
  /** The runs producer of this tenure was fenced (fencedAsLeader): the next join of the leader group starts a new one if it still leads. */
  private runsFenced = false;
  private leaderships = 0;
  /** The newest run published (this member's as it committed, any other's as read from the runs topic): what a run that could not be published gives way to. */
  private lastPublished: PublishedRun | null = null;
  private joined = { window: false };
  private restoring: Promise<void> | null = null;
  /** Features per tick (or request) and partition, on the leader, until every partition has published. */
  private readonly pending = new Map<string, Map<number, PartitionFeatures>>();
  /** The newest tick and the requests the published runs answered: never run twice (a new leader reads them). */
  private lastRunTick = Number.NEGATIVE_INFINITY;
  private readonly answered = new Set<string>();
  private readonly searches = new Map<string, boolean>();
  private runsCaughtUp = false;
  /** The served run's VM attributes (the leader's own, or those published with another leader's run). */
  private runAttributes = new Map<string, VmAttributes>();
  private tenantsCaughtUp = false;
  private addressesCaughtUp = false;
  private stats: Pick<MemberStatus, 'records' | 'rejected'> = {
    records: { flows: 0, vmAttributes: 0, tenantAttributes: 0 },
    rejected: { count: 0, by_reason: {} },
  };
  private statsTimer: NodeJS.Timeout | null = null;
  private readonly memberId = randomUUID();
  private readonly cache: LocalCheckpointCache | null;
  private readonly restores: Record<RestoreSource, number> = { local: 0, changelog: 0, input: 0, rebuilt: 0 };
  private lastRestoreMs: number | null = null;
  private appliedRecords = 0;
  private readonly windowSeconds: WindowSeconds = { fetch_wait: 0, apply: 0, publish: 0 };
  /**
   * The window loop's by-VM decoder: its records live until the next message is read, which the loop (one
   * batch at a time, kafkajs' default) does only once it has applied the last.
   */
  private readonly byVm = new ByVmDecoder();
  /** When the window stage's last batch handed back to kafkajs (null: none yet). */
  private windowBatchEndedAt: number | null = null;
  private runsRead: Promise<void> = Promise.resolve();
  private runsReader: TopicReader | null = null;
  /** On the leader: the routed flows, fed to its service's connection log (security groups). */
  private connectionsReader: TopicReader | null = null;
  /** The served run's security groups (the leader's own, or those published with another leader's run). */
  private runSecurityGroups: SecurityGroupsDocument | null = null;
  /** A run is being started (the connection log read up to now first): no second one meanwhile. */
  private startingRun = false;
  /** When this member's last run started (performance.now()): a backlog defers the next run up to RUN_CATCH_UP_MS from there (run-choice.ts). */
  private lastRunStartedAt = Number.NEGATIVE_INFINITY;
  private catchUpTimer: NodeJS.Timeout | null = null;
  /** Whether a backlog was still being read when last asked (backlog.ts), and when (performance.now()). */
  private backlog: { behind: boolean; at: number } | null = null;
  private checkingBacklog = false;
  /** Per window partition held, the offset after the last batch kafkajs handed over, markers and aborted records included. */
  private readonly windowRead = new Map<number, bigint>();
  /** The runs topic's chunks read so far, until their header (run-chunks.ts). */
  private readonly runAssembler = new RunAssembler();
  /** Chunks of the last run this member published: the next one tombstones those past its own count. */
  private chunksWritten = 0;
  /** Records of the runs topic not served, by reason: not a record of a known format, or a run not whole. */
  private readonly runsNotServed: Record<RunNotServedReason, number> = { unreadable: 0, torn: 0 };

  constructor(private readonly o: MemberOptions) {
    this.topics = topologyTopics(o.topology.appId);
    this.groups = topologyGroups(o.topology.appId);
    this.tenantTable = new FleetState(o.pipeline.window);
    this.cache = o.stateDir === undefined ? null : new LocalCheckpointCache(join(o.stateDir, 'scale-out', o.topology.appId), o.topology.appId);
    this.addressTable = new AddressTable({
      horizonMs: o.pipeline.window.windowMs + o.pipeline.window.allowedLatenessMs,
      maxClaims: o.pipeline.maxAddressClaims ?? DEFAULT_MAX_CLAIMS,
    });
  }

  /** A VM's attributes as of the latest run this member serves (null when not in it). */
  vmAttributes(vmId: string): VmAttributes | null {
    return this.runAttributes.get(vmId) ?? null;
  }

  /** The security groups learned with the latest run this member serves (null before one). */
  securityGroups(): SecurityGroupsDocument | null {
    return this.runSecurityGroups;
  }

  /** The global table of tenants (every member reads all of them). */
  tenant(tenantId: string): TenantAttributes | null {
    return this.tenantTable.tenants.get(tenantId) ?? null;
  }

  status(): MemberStatus {
    const route = this.routeStatus();
    let vms = 0;
    let lag = 0n;
    const held = [...this.windows.entries()].filter(([p]) => this.assignedWindows.has(p));
    for (const [p, w] of held) {
      vms += w.fleet.vms.size;
      const at = this.position.get(p);
      const saved = this.checkpointed.get(p);
      if (at !== undefined && saved !== undefined && at > saved) lag += at - saved;
    }
    return {
      leader: this.leader,
      partitions: held.map(([p]) => p).sort((a, b) => a - b),
      vms,
      leaderships: this.leaderships,
      ...this.stats,
      held: route.held,
      changelogLag: Number(lag),
      restores: { ...this.restores },
      lastRestoreMs: this.lastRestoreMs,
      routedMessages: route.routedMessages,
      routedRecords: route.routedRecords,
      routeTransactions: route.routeTransactions,
      routePacedCuts: route.pacedCuts,
      appliedRecords: this.appliedRecords,
      featuresPublished: this.featuresPublished,
      ticksNotSentAgain: this.ticksNotSentAgain,
      routeWorkerRestarts: this.route instanceof RouteThread ? this.route.restarts : 0,
      runsNotServed: { ...this.runsNotServed },
      stageSeconds: { route: route.seconds, window: { ...this.windowSeconds } },
    };
  }

  private routeStatus(): RouteStatus {
    return this.route?.status() ?? emptyRouteStatus();
  }

  /** The attribution counters of the address table the routers resolve against (the route worker's, when it runs). */
  attribution(): Attribution {
    if (this.route instanceof RouteThread) {
      const a = this.route.attribution();
      if (a !== null) return a;
    }
    return { ...this.addressTable.map.counters, claims: this.addressTable.map.size };
  }

  /**
   * Null while the route's dead letters can be written; else why not, for /readyz's `dead_letters`. The
   * route flushes them before each commit and a failed flush aborts the batch's transaction: the member
   * routes nothing more until the topic takes them (the batch is routed again with kafkajs' back-off).
   */
  deadLettersHeld(): string | null {
    const blocked = this.route instanceof RouteThread ? this.route.deadLetters() : this.o.deadLetter.blocked;
    return blocked === null ? null : deadLetterHeldReason(blocked, 'with back-off, each time the batch is routed again');
  }

  /** Null when ready to serve; else why not, for /readyz. */
  notReadyReason(): string | null {
    if (!this.routeStatus().joined || !this.joined.window) return 'joining the consumer groups of the route and window stages';
    if (!this.tenantsCaughtUp) return `reading the tenant table (${this.topics.tenants})`;
    if (!this.addressesCaughtUp) return `reading the address table (${this.topics.addresses})`;
    if (!this.runsCaughtUp) return `catching up with the published runs (${this.topics.runs})`;
    if (this.restoring) return `restoring the windows of by-VM partitions ${[...this.assignedWindows].join(', ')} from ${this.topics.changelog}`;
    return null;
  }

  async start(): Promise<void> {
    await this.ensureTopics();
    const { kafka, service } = this.o;
    this.plain = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1 });
    await this.plain.connect();
    // Every member serves every run: the runs topic is read whole, and read on.
    // Decoded in slices (a run of 11.6k VMs is 13 MB): the reads this member serves wait for a slice, not the run.
    const runs = new TopicReader(kafka, this.topics.runs, `${this.o.topology.appId}-runs-reader`, async (m) => {
      const entry = this.runAssembler.offer(m.key, m.value);
      let bytes: Buffer;
      if (entry.kind === 'chunk') return;
      if (entry.kind === 'unreadable') {
        this.runsNotServed.unreadable++;
        this.o.log.error({ offset: m.offset, key: m.key, reason: entry.reason }, `skipping an unreadable record of ${this.topics.runs}`);
        return;
      }
      if (entry.kind === 'whole') bytes = entry.value;
      else {
        // This member's own run is in its service already (writeRun marked it published): neither
        // assembled nor decoded again, which held the leader's loop while it served reads.
        if (entry.header.member === this.memberId) return;
        try {
          bytes = await inSlices(entry.assemble(), RUN_ASSEMBLY_SLICE_MS);
        } catch (err) {
          this.runsNotServed.torn++;
          this.o.log.error({ offset: m.offset, err: String(err) }, `not serving a run of ${this.topics.runs} that is not whole: the previous run stays served`);
          return;
        }
      }
      try {
        const run = (await decodeDocumentInSlices(bytes)) as PublishedRun;
        const latest = run.state.latest;
        if (run.member !== this.memberId && latest !== null) await this.o.prepareRun?.(latest);
        this.adoptRun(run);
      } catch (err) {
        this.o.log.error({ err: String(err), offset: m.offset }, `skipping an unreadable record of ${this.topics.runs}`);
      }
    }, this.readerOptions);
    const tenants = tenantTableReader(kafka, this.topics.tenants, this.o.topology, this.tenantTable, this.o.log);
    const addresses = addressTableReader(kafka, this.topics.addresses, this.o.topology, this.addressTable, this.o.log);
    // Host capacities join the tenants' table (a FleetState): the leader gives them to each run.
    const hosts = new TopicReader(kafka, this.topics.hosts, `${this.o.topology.appId}-hosts-reader`, (m) => {
      if (m.value === null) return;
      try {
        this.tenantTable.applyHostAttributes(JSON.parse(m.value.toString()) as HostAttributes);
      } catch {
        this.o.log.error({ offset: m.offset }, `skipping an unreadable record of ${this.topics.hosts}`);
      }
    }, this.readerOptions);
    this.readers.push(runs, tenants, addresses, hosts);
    this.runsReader = runs;
    this.runsRead = runs.caughtUp;
    await Promise.all([runs.start(), tenants.start(), addresses.start(), hosts.start()]);
    void runs.caughtUp.then(() => {
      this.runsCaughtUp = true;
    });
    void tenants.caughtUp.then(() => {
      this.tenantsCaughtUp = true;
    });
    await this.startWindow();
    // A flow is attributed by the claims read so far: the whole table first, as one process restores its map.
    await addresses.caughtUp;
    this.addressesCaughtUp = true;
    await this.startRoute(tenants);
    await this.startLeader();
    service.on('run', () => void this.publishRun());
    service.on('runFailed', (status) => this.runFailed(status.runId));
    this.statsTimer = setInterval(() => void this.refreshStats().catch((err: unknown) => this.o.log.error({ err: String(err) }, 'could not refresh the member stats')), 2000);
    this.statsTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.statsTimer) clearInterval(this.statsTimer);
    await Promise.all([this.route?.stop(), ...[this.windowConsumer, this.leaderConsumer].map((c) => c?.disconnect().catch(() => undefined))]);
    await this.featuresReader?.stop();
    await this.connectionsReader?.stop();
    await Promise.all(this.readers.map((r) => r.stop()));
    await Promise.all([...this.windowProducers.values()].map((p) => p.disconnect().catch(() => undefined)));
    await this.plain?.disconnect().catch(() => undefined);
    await this.runsProducer?.disconnect().catch(() => undefined);
  }

  /** A run asked for through the API of any member: the leader gets it through its topic. */
  requestRun(search: boolean): void {
    const req = newRunRequestId(search);
    this.plain
      ?.send({ topic: this.topics.leader, messages: [{ key: 'request', value: JSON.stringify({ req, search }) }] })
      .catch((err: unknown) => this.o.log.error({ err: String(err) }, 'could not post the run request to the leader'));
  }

  // ---- topics --------------------------------------------------------------------------------------------

  private async ensureTopics(): Promise<void> {
    const admin = this.o.kafka.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const t = this.topics;
      const P = this.o.topology.partitions;
      const replicationFactor = this.o.topology.replicationFactor;
      const wanted = [
        { topic: t.byVm, numPartitions: P, configEntries: [] as { name: string; value: string }[] },
        { topic: t.changelog, numPartitions: P, configEntries: [...COMPACTED, ...LARGE] },
        { topic: t.tenants, numPartitions: 1, configEntries: COMPACTED },
        { topic: t.addresses, numPartitions: 1, configEntries: COMPACTED },
        { topic: t.hosts, numPartitions: 1, configEntries: COMPACTED },
        { topic: t.held, numPartitions: 1, configEntries: [...COMPACTED, ...LARGE] },
        { topic: t.routeWatermarks, numPartitions: 1, configEntries: COMPACTED },
        // What the connection log can still use: it forgets a connection silent for DEFAULT_RETAIN_WINDOWS windows.
        { topic: t.connections, numPartitions: 1, configEntries: [...LARGE, { name: 'retention.ms', value: String((DEFAULT_RETAIN_WINDOWS + 1) * this.o.pipeline.window.windowMs) }] },
        { topic: t.features, numPartitions: 1, configEntries: [...COMPACTED, ...LARGE] },
        { topic: t.leader, numPartitions: 1, configEntries: [] },
        { topic: t.runs, numPartitions: 1, configEntries: [...COMPACTED, ...LARGE] },
      ].filter((w) => !existing.has(w.topic));
      // Several members starting at once race to create them: whoever loses finds them made.
      if (wanted.length > 0) await admin.createTopics({ waitForLeaders: true, topics: wanted.map((w) => ({ ...w, replicationFactor })) }).catch(() => undefined);
      // Another member may have just created them: wait until every partition has a leader.
      const all = Object.values(t);
      const meta = await retrying(async () => {
        const m = await admin.fetchTopicMetadata({ topics: all });
        if (m.topics.some((x) => x.partitions.length === 0 || x.partitions.some((q) => q.leader < 0))) throw new Error('internal topics have no leaders yet');
        return m;
      });
      const have = meta.topics.find((x) => x.name === t.byVm)?.partitions.length ?? 0;
      if (have !== P) throw new Error(`${t.byVm} has ${have} partitions but SCALE_OUT_PARTITIONS is ${P}: every member must agree with the topic`);
    } finally {
      await admin.disconnect();
    }
  }

  // ---- route ---------------------------------------------------------------------------------------------

  /**
   * The route stage (route-stage.ts), in a worker thread of its own when the member is given its Kafka
   * settings: decoding and validating the input then takes the second core, the windows keep this one.
   */
  private async startRoute(tenants: TopicReader): Promise<void> {
    const { pipeline, topology } = this.o;
    const hosts = this.o.hostAttributesTopic === undefined ? {} : { hostAttributesTopic: this.o.hostAttributesTopic };
    if (this.o.routeWorker !== undefined) {
      const thread = new RouteThread({
        data: { kafka: this.o.routeWorker.kafka, topology, pipeline: routePipelineData(pipeline), ...hosts },
        log: this.o.log,
        ...(this.o.onReject === undefined ? {} : { onReject: this.o.onReject }),
      });
      this.route = thread;
      thread.start();
      return;
    }
    const stage = new RouteStage({
      kafka: this.o.kafka,
      topology,
      pipeline,
      log: this.o.log,
      deadLetter: this.o.deadLetter,
      onReject: (r) => this.o.onReject?.(r),
      ...hosts,
      addressTable: this.addressTable,
      tenantTable: this.tenantTable,
      readTenantsToEnd: () => tenants.readToEnd(),
    });
    this.route = stage;
    await stage.start();
  }

  /** The route worker, when the route runs in one (tests end it to see the member start another). */
  get routeThread(): RouteThread | null {
    return this.route instanceof RouteThread ? this.route : null;
  }

  // ---- window --------------------------------------------------------------------------------------------

  private async startWindow(): Promise<void> {
    const { kafka, topology } = this.o;
    const consumer = kafka.consumer({
      groupId: this.groups.window,
      ...groupTiming(topology),
      // Sticky: a partition stays with its holder (no fence, restore and replay for it); round-robin is what a
      // member of an older version offers.
      partitionAssigners: [stickyWindowAssigner(() => this.windowClaim), PartitionAssigners.roundRobin],
    });
    this.windowConsumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      this.joined.window = true;
      this.windowJoin = { seq: this.windowJoin.seq + 1, memberId: e.payload.memberId, generation: null, applying: new Set() };
      const mine = new Set(e.payload.memberAssignment[this.topics.byVm] ?? []);
      this.windowClaim = { as: e.payload.memberId, held: [...mine] };
      // Where a failover's time goes: from this join to the restored partitions' "holding" lines.
      this.o.log.info({ member_id: e.payload.memberId, partitions: [...mine].sort((a, b) => a - b), held: [...this.windows.keys()].filter((p) => mine.has(p)).sort((a, b) => a - b) }, `joined ${this.groups.window}`);
      this.assignedWindows = mine;
      for (const p of [...this.windows.keys()]) {
        if (mine.has(p)) continue;
        // Moved to another member: its windows are that member's now (restored from the changelog).
        this.windows.delete(p);
        this.position.delete(p);
        this.windowRead.delete(p);
        this.checkpointed.delete(p);
        this.checkpointedAt.delete(p);
        this.sentTick.delete(p);
        const producer = this.windowProducers.get(p);
        this.windowProducers.delete(p);
        void producer?.disconnect().catch(() => undefined);
      }
      if ([...mine].some((p) => !this.windows.has(p))) void this.restoreAssigned();
    });
    consumer.on(consumer.events.HEARTBEAT, (e) => {
      const join = this.windowJoin;
      // A heartbeat of the join before, answered late, names an older generation than this join's.
      if (join.generation !== null || e.payload.memberId !== join.memberId || e.payload.groupGenerationId <= this.windowGeneration) return;
      join.generation = e.payload.groupGenerationId;
      this.windowGeneration = join.generation;
      this.o.log.info({ window_join: join.seq, member_id: join.memberId, generation: join.generation }, `${this.groups.window} generation ${join.generation} confirmed`);
    });
    // Also for a batch of only markers or aborted records, which never reaches eachBatch: how far the
    // windows have read, for the backlog the leader asks about (backlog.ts).
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      const after = BigInt(e.payload.lastOffset) + 1n;
      if (this.assignedWindows.has(e.payload.partition) && after > (this.windowRead.get(e.payload.partition) ?? 0n)) this.windowRead.set(e.payload.partition, after);
    });
    await consumer.connect();
    await consumer.subscribe({ topic: this.topics.byVm, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, heartbeat }) => {
        const started = this.windowBatchStarted();
        // Ms of this batch spent publishing ticks: the rest of it is apply.
        let published = 0;
        const p = batch.partition;
        while (!this.windows.has(p)) {
          await beating(heartbeat, this.restoreAssigned(), groupTiming(this.o.topology).heartbeatInterval);
          if (!this.assignedWindows.has(p)) return this.windowBatchEnded(started, published);
        }
        // The join's first heartbeat before its first records, as kafkajs' own comes only after a batch: it
        // confirms the generation the ownership log names (or, refused, sends the member to rejoin, as any heartbeat).
        if (this.windowJoin.generation === null) await heartbeat();
        const state = this.windows.get(p)!;
        const from = this.checkpointed.get(p) ?? 0n;
        let next = this.position.get(p) ?? from;
        // No gap check against the checkpoint here: transaction markers (and aborted records, which a
        // read_committed consumer never sees) take offsets, so the first record read may lie beyond it.
        let refusedInBatch = false;
        for (const m of batch.messages) {
          const offset = BigInt(m.offset);
          // Offsets in state: what the checkpoint already includes is not applied again.
          if (offset < next) continue;
          if (!this.windowJoin.applying.has(p)) this.applyingIn(p, offset);
          next = offset + 1n;
          this.position.set(p, next);
          const records = m.value === null ? null : this.byVm.decode(m.value);
          if (records === null) {
            this.o.log.error({ partition: p, offset: m.offset }, `skipping a message of ${this.topics.byVm} that is not a by-VM message`);
            continue;
          }
          for (const record of records) {
            const outcome = state.apply(record);
            if (record.k === 'f' || record.k === 'v') this.appliedRecords++;
            if (typeof outcome === 'object' && (record.k === 'v' || record.k === 'f')) {
              // VM attributes refused at this partition's cap (MAX_VMS), a flow's side too late for its rings:
              // dead-lettered like the route's rejects (at least once: a record applied again after a restore
              // is dead-lettered again), and counted by reason in the member's metrics.
              const topic = record.k === 'v' ? this.o.pipeline.topics.vmAttributes : this.o.pipeline.topics.flows;
              const r = { ...outcome.refused, topic, source: `${this.topics.byVm}/${p}@${m.offset}`, index: null, raw: keepRaw(record.r) };
              this.o.deadLetter.add(r);
              this.o.onReject?.(r);
              refusedInBatch = true;
            } else if (outcome === 'publish') {
              const publishing = performance.now();
              // The last record of its message (decodeByVm holds to it): the checkpoint starts at the next message.
              const features = await state.featuresInSlices(record.k === 't' ? record.tick : null, record.k === 'q' ? record.req : null);
              // Computed all the same (it purges the windows as the predecessor's did), but these features are
              // on the topic already: the predecessor committed them after its last checkpoint.
              if (features.tick !== null && features.tick <= (this.sentTick.get(p) ?? Number.NEGATIVE_INFINITY)) {
                this.ticksNotSentAgain++;
                published += performance.now() - publishing;
                continue;
              }
              await this.publishTick(p, state, features, next);
              await heartbeat();
              published += performance.now() - publishing;
            }
          }
        }
        if (refusedInBatch) await this.o.deadLetter.flush().catch((err: unknown) => this.o.log.error({ partition: p, err: String(err) }, 'could not write the dead letters of records refused at the window partition'));
        await heartbeat();
        this.windowBatchEnded(started, published);
      },
    });
  }

  /**
   * The first record this member applies to a partition in the current join, logged before it is applied (a
   * kill -9 right after still leaves the line): two members applying one partition in the same generation
   * would be an assignment that overlaps. A zombie (its session expired unnoticed) applies in its older one.
   */
  private applyingIn(p: number, offset: bigint): void {
    const join = this.windowJoin;
    join.applying.add(p);
    this.o.log.info(
      { window_join: join.seq, member_id: join.memberId, generation: join.generation, partition: p, offset: offset.toString() },
      `applying ${this.topics.byVm}/${p} in generation ${join.generation ?? '(not confirmed yet)'}`,
    );
  }

  /** A window batch starts: the wait since the last one ended is the fetch's (or no committed data's). */
  private windowBatchStarted(): number {
    const now = performance.now();
    if (this.windowBatchEndedAt !== null) this.windowSeconds.fetch_wait += (now - this.windowBatchEndedAt) / 1000;
    return now;
  }

  /** A window batch ends: its time is apply, but for the ms it spent publishing ticks. */
  private windowBatchEnded(started: number, publishedMs: number): void {
    const now = performance.now();
    this.windowSeconds.apply += (now - started - publishedMs) / 1000;
    this.windowSeconds.publish += publishedMs / 1000;
    this.windowBatchEndedAt = now;
  }

  /**
   * Features of a tick, the partition's checkpoint and the window group's offset, in one transaction: a
   * member that lost the partition meanwhile is fenced by its successor's producer and writes none of it.
   */
  private async publishTick(p: number, state: PartitionState, features: PartitionFeatures, next: bigint): Promise<void> {
    // A batch still running for a partition that moved away must not open the producer again: that would
    // fence the new owner's transactions instead of this member's.
    if (!this.assignedWindows.has(p) || this.windows.get(p) !== state) throw new Error(`${this.topics.byVm}/${p} moved to another member during the batch`);
    const producer = await this.windowProducer(p);
    // A checkpoint is the whole partition: at every requested run, and at a tick at most every
    // CHECKPOINT_EVERY_MS of wall time (in real time ticks are 5 minutes apart; a backlog passes many a
    // second). Features without one are safe: a successor replays from the older checkpoint, computes the
    // same features again (their purge is part of the state) and sends none up to the tick committed here.
    const now = Date.now();
    const due = features.tick === null || now - (this.checkpointedAt.get(p) ?? Number.NEGATIVE_INFINITY) >= (this.o.checkpointEveryMs ?? CHECKPOINT_EVERY_MS);
    // In slices: the reads this member serves wait for a slice, not for the whole partition.
    const publishedTick = Number.isFinite(state.publishedTick) ? state.publishedTick : null;
    const checkpoint: Checkpoint | null = due ? { partition: p, offset: next.toString(), fleet: await state.encodeFleetInSlices(), publishedTick } : null;
    const featuresBytes = await encodeDocumentInSlices(features);
    const sent = features.tick ?? this.sentTick.get(p) ?? null;
    // The checkpoint's offset (this one's, or the last one's again) with the tick sent: see WindowCommitShape.
    const offset = checkpoint !== null ? next : this.checkpointed.get(p);
    const metadata = JSON.stringify({ sentTick: sent !== null && Number.isFinite(sent) ? sent : null } satisfies z.infer<typeof WindowCommitShape>);
    const checkpointBytes = checkpoint === null ? null : await encodeSnapshotFileInSlices(checkpoint);
    const txn = await producer.transaction();
    try {
      await txn.send({ topic: this.topics.features, messages: [{ key: String(p), value: featuresBytes }] });
      const [written] = checkpointBytes === null ? [] : await txn.send({ topic: this.topics.changelog, messages: [{ key: String(p), partition: p, value: checkpointBytes }] });
      if (offset !== undefined) {
        // kafkajs sends the metadata; its types omit it.
        const committed = { partition: p, offset: offset.toString(), metadata };
        await txn.sendOffsets({ consumerGroupId: this.groups.window, topics: [{ topic: this.topics.byVm, partitions: [committed] }] });
      }
      await txn.commit();
      this.featuresPublished++;
      if (features.tick !== null) this.sentTick.set(p, features.tick);
      if (checkpoint !== null) {
        this.checkpointed.set(p, next);
        this.checkpointedAt.set(p, now);
        // The local copy, once Kafka holds the checkpoint: a restart restores it if Kafka holds nothing newer.
        if (this.cache !== null && written?.baseOffset !== undefined)
          this.cache
            .save({ partition: p, offset: checkpoint.offset, changelogOffset: written.baseOffset, fleet: checkpoint.fleet, publishedTick })
            .catch((err: unknown) => this.o.log.warn({ partition: p, err: String(err) }, 'could not keep the local copy of a checkpoint: the next restore reads the changelog'));
      }
    } catch (err) {
      await txn.abort().catch(() => undefined);
      // Fenced or failed: this member's copy of the partition is no longer the truth; restore it next time.
      this.windows.delete(p);
      this.position.delete(p);
      this.windowRead.delete(p);
      this.windowProducers.delete(p);
      this.checkpointedAt.delete(p);
      this.sentTick.delete(p);
      void producer.disconnect().catch(() => undefined);
      throw retriable(err);
    }
  }

  /** The transactional producer of a by-VM partition's checkpoints: its id fences a former owner still writing. */
  private async windowProducer(p: number): Promise<Producer> {
    let producer = this.windowProducers.get(p);
    if (producer === undefined) {
      producer = this.o.kafka.producer({ transactionalId: `${this.groups.window}-${p}`, transactionTimeout: TRANSACTION_TIMEOUT_MS, idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      this.windowProducers.set(p, producer);
    }
    return producer;
  }

  /**
   * The restore of the partitions assigned and not held, shared by whoever asks. It never rejects: started
   * from a group event that nobody awaits, a broker fault in it (KafkaJSConnectionClosedError) was an
   * unhandled rejection that ended the member. A failed restore is logged, and the partition's next batch
   * tries again a moment later, with new producers (a failed fence may leave one inside a transaction).
   */
  private restoreAssigned(): Promise<void> {
    this.restoring ??= this.restore()
      .catch(async (err: unknown) => {
        const missing = [...this.assignedWindows].filter((p) => !this.windows.has(p));
        this.o.log.error({ err: String(err), partitions: missing }, `could not restore partitions of ${this.topics.byVm}: trying again`);
        for (const p of missing) {
          void this.windowProducers.get(p)?.disconnect().catch(() => undefined);
          this.windowProducers.delete(p);
        }
        await new Promise((r) => setTimeout(r, 1000));
      })
      .finally(() => {
        this.restoring = null;
      });
    return this.restoring;
  }

  /** The newest checkpoint of every assigned partition not held yet, in one read of the changelog. */
  private async restore(): Promise<void> {
    const wanted = new Set([...this.assignedWindows].filter((p) => !this.windows.has(p)));
    if (wanted.size === 0) return;
    const started = performance.now();
    // Fence the former owners first: after this they commit no checkpoint (nor window offset), so the newest
    // checkpoint read next is final, and the offset the consumer starts from, committed with an older one or
    // with it, never lies beyond it. Read before the fence, a late checkpoint moved the consumer past records
    // that the restored state did not hold: they were lost. (The first transaction initialises the id.)
    await Promise.all([...wanted].map(async (p) => (await (await this.windowProducer(p)).transaction()).abort()));
    // Final after the fence, as the checkpoints are: the ticks the former owners published.
    await this.readSentTicks(wanted);
    // The local copies Kafka still holds as the newest checkpoints: no changelog to read for those.
    for (const p of await this.restoreLocal(wanted)) wanted.delete(p);
    if (wanted.size === 0) {
      this.lastRestoreMs = performance.now() - started;
      return;
    }
    const latest = new Map<number, Checkpoint>();
    const reader = new TopicReader(
      this.o.kafka,
      this.topics.changelog,
      `${this.o.topology.appId}-restore`,
      (m) => {
        if (!wanted.has(m.partition) || m.value === null) return;
        try {
          latest.set(m.partition, decodeSnapshotFile(m.value) as Checkpoint);
        } catch (err) {
          this.o.log.error({ partition: m.partition, offset: m.offset, err: String(err) }, 'skipping an unreadable checkpoint: an older one (or the input) rebuilds the partition');
        }
      },
      { ...this.readerOptions, partitions: wanted },
    );
    try {
      await reader.start();
      await reader.caughtUp;
    } finally {
      await reader.stop();
    }
    const admin = this.o.kafka.admin();
    await admin.connect();
    const extents = await admin.fetchTopicOffsets(this.topics.byVm).finally(() => admin.disconnect());
    for (const p of wanted) {
      // Moved away while the changelog was read: its new owner restores it (and fences this producer).
      if (!this.assignedWindows.has(p)) {
        void this.windowProducers.get(p)?.disconnect().catch(() => undefined);
        this.windowProducers.delete(p);
        continue;
      }
      const c = latest.get(p);
      const extent = extents.find((e) => e.partition === p);
      const low = BigInt(extent?.low ?? '0');
      const high = BigInt(extent?.high ?? '0');
      let state: PartitionState | null = null;
      let from = low;
      let source: RestoreSource = c === undefined ? 'input' : 'rebuilt';
      if (c !== undefined) {
        const offset = BigInt(c.offset);
        if (offset > high || offset < low) {
          // The by-VM topic was recreated or truncated under the checkpoint: it describes other records.
          this.o.log.error(
            { partition: p, checkpoint: c.offset, low: low.toString(), high: high.toString() },
            `the checkpoint of ${this.topics.byVm}/${p} does not match the topic (offset ${c.offset} outside ${low}..${high}): rebuilding the partition from the start of the topic`,
          );
        } else {
          try {
            state = PartitionState.restore(p, this.o.pipeline.window, c.fleet, typeof c.publishedTick === 'number' ? c.publishedTick : null);
            from = offset;
            source = 'changelog';
          } catch (err) {
            this.o.log.error({ partition: p, err: String(err) }, `the checkpoint of ${this.topics.byVm}/${p} cannot be decoded: rebuilding the partition from the start of the topic`);
          }
        }
      } else if (low > 0n) {
        this.o.log.warn({ partition: p, low: low.toString() }, `${this.topics.byVm}/${p} has no checkpoint and its first records were deleted by retention: its windows start at offset ${low}`);
      }
      this.hold(p, state ?? new PartitionState(p, this.o.pipeline.window), from, source);
    }
    this.lastRestoreMs = performance.now() - started;
  }

  /** The newest tick whose features are committed, per partition, from the window group's offset metadata. */
  private async readSentTicks(partitions: ReadonlySet<number>): Promise<void> {
    const admin = this.o.kafka.admin();
    await admin.connect();
    try {
      const [committed] = await admin.fetchOffsets({ groupId: this.groups.window, topics: [this.topics.byVm] });
      for (const p of partitions) {
        this.sentTick.delete(p);
        const metadata = committed?.partitions.find((x) => x.partition === p)?.metadata;
        if (!metadata) continue;
        let parsed: ReturnType<typeof WindowCommitShape.safeParse>;
        try {
          parsed = WindowCommitShape.safeParse(JSON.parse(metadata));
        } catch {
          parsed = WindowCommitShape.safeParse(null);
        }
        // Unreadable: the replayed ticks are published again, identical, as before this was kept (the leader ignores them).
        if (!parsed.success) this.o.log.warn({ partition: p }, `the window group's commit of ${this.topics.byVm}/${p} has no readable tick: replayed ticks are published again`);
        else if (parsed.data.sentTick !== null) this.sentTick.set(p, parsed.data.sentTick);
      }
    } finally {
      await admin.disconnect();
    }
  }

  /** A partition's windows, taken at `from`: the next record applied is the one at that offset. */
  private hold(p: number, state: PartitionState, from: bigint, source: RestoreSource): void {
    this.windows.set(p, state);
    this.checkpointed.set(p, from);
    this.position.set(p, from);
    // Read again from there (the seek below).
    this.windowRead.delete(p);
    this.restores[source]++;
    // The group's committed offset is the checkpoint's (one transaction), but a checkpoint may be gone.
    this.windowConsumer?.seek({ topic: this.topics.byVm, partition: p, offset: from.toString() });
    this.o.log.info({ partition: p, offset: from.toString(), vms: state.fleet.vms.size, from: source }, `holding ${this.topics.byVm}/${p}`);
  }

  /** Restores the partitions whose local copy is the newest checkpoint Kafka holds; returns them. */
  private async restoreLocal(wanted: ReadonlySet<number>): Promise<number[]> {
    const cache = this.cache;
    if (cache === null) return [];
    const copies = new Map<number, NonNullable<Awaited<ReturnType<LocalCheckpointCache['load']>>>>();
    for (const p of wanted) {
      const c = await cache.load(p);
      if (c !== null) copies.set(p, c);
    }
    if (copies.size === 0) return [];
    const admin = this.o.kafka.admin();
    await admin.connect();
    const [byVm, changelog, committed] = await Promise.all([
      admin.fetchTopicOffsets(this.topics.byVm),
      admin.fetchTopicOffsets(this.topics.changelog),
      admin.fetchOffsets({ groupId: this.groups.window, topics: [this.topics.byVm] }),
    ]).finally(() => admin.disconnect());
    const done: number[] = [];
    for (const [p, c] of copies) {
      if (!this.assignedWindows.has(p)) continue;
      const v = byVm.find((e) => e.partition === p);
      const l = changelog.find((e) => e.partition === p);
      const k = committed[0]?.partitions.find((e) => e.partition === p)?.offset;
      const why = staleReason(c, {
        changelogLow: BigInt(l?.low ?? '0'),
        changelogHigh: BigInt(l?.high ?? '0'),
        committed: k === undefined || k === '-1' ? null : BigInt(k),
        byVmLow: BigInt(v?.low ?? '0'),
        byVmHigh: BigInt(v?.high ?? '0'),
      });
      if (why !== null) {
        this.o.log.info({ partition: p, reason: why }, `the local copy of ${this.topics.byVm}/${p}'s checkpoint is not the newest Kafka holds: restoring from ${this.topics.changelog}`);
        continue;
      }
      let state: PartitionState;
      try {
        state = PartitionState.restore(p, this.o.pipeline.window, c.fleet, typeof c.publishedTick === 'number' ? c.publishedTick : null);
      } catch (err) {
        this.o.log.warn({ partition: p, err: String(err) }, `the local copy of ${this.topics.byVm}/${p}'s checkpoint does not decode: restoring from ${this.topics.changelog}`);
        await cache.drop(p);
        continue;
      }
      this.hold(p, state, BigInt(c.offset), 'local');
      done.push(p);
    }
    return done;
  }

  // ---- leader --------------------------------------------------------------------------------------------

  private async startLeader(): Promise<void> {
    const { kafka, topology } = this.o;
    const consumer = kafka.consumer({
      groupId: this.groups.leader,
      ...groupTiming(topology),
      // The sticky assigner first; round-robin is what a member of an older version offers.
      partitionAssigners: [stickyLeaderAssigner(() => this.leaderMemberId), PartitionAssigners.roundRobin],
    });
    this.leaderConsumer = consumer;
    // One rule (docs/scale-out.md, "Who leads"): a tenure is the leader partition held under one member id
    // of the group. Kept through a rebalance (a member joining or leaving), the member leads on, without a
    // pause: no other member can have held the partition meanwhile. Under a new id (it was dropped from the
    // group), another member may have led and fenced it: it steps down, and takes the leadership afresh if
    // the group gives it back. A rebalance alone stops nothing: a member that lost the leadership without
    // knowing yet is fenced by its successor's runs producer and publishes nothing.
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const leads = (e.payload.memberAssignment[this.topics.leader] ?? []).length > 0;
      const continues = leads && this.leaderMemberId === e.payload.memberId;
      this.leaderMemberId = leads ? e.payload.memberId : null;
      this.o.log.info({ member_id: e.payload.memberId, leads, continues }, `joined ${this.groups.leader}`);
      // Fenced during the tenure: the group still gives it the partition, so it takes the leadership afresh.
      if (continues && !this.runsFenced) return;
      this.changeLeadership(false);
      if (leads) this.changeLeadership(true);
    });
    await consumer.connect();
    await consumer.subscribe({ topic: this.topics.leader, fromBeginning: false });
    await consumer.run({
      eachMessage: async ({ message }) => {
        // The group's word, not this.leader: a request must not be dropped while the previous change settles.
        if (!this.leading || message.value === null) return;
        let parsed: z.infer<typeof RequestShape>;
        try {
          parsed = RequestShape.parse(JSON.parse(message.value.toString()));
        } catch {
          this.o.log.error({ offset: message.offset }, `skipping an unreadable request on ${this.topics.leader}`);
          return;
        }
        this.searches.set(parsed.req, parsed.search);
        // Behind everything routed so far in every partition: the run sees all of it.
        const value = encodeByVm([{ k: 'q', req: parsed.req, w: null, sa: null }]);
        await this.plain?.send({ topic: this.topics.byVm, messages: Array.from({ length: this.o.topology.partitions }, (_, p) => ({ partition: p, value })) });
      },
    });
  }

  /**
   * Leadership changes run one after another, in the order the group reported them: a step-down still
   * closing the runs producer must not close its successor's (that left a leader that ran every tick but
   * published none of them).
   */
  private changeLeadership(leads: boolean): void {
    if (leads === this.leading) return;
    this.leading = leads;
    if (!leads) this.leader = false;
    this.leadershipChange = this.leadershipChange
      .then(() => (leads ? this.becomeLeader() : this.stepDown()))
      .catch((err: unknown) => this.o.log.error({ err: String(err) }, leads ? 'could not take up the leadership' : 'could not step down cleanly'));
  }

  private async becomeLeader(): Promise<void> {
    // Superseded while waiting for the previous change: the group has already moved on.
    if (!this.leading) return;
    this.leader = true;
    this.runsFenced = false;
    this.leaderships++;
    // Run ids, cluster ids and the ticks already answered come from the runs topic: read it all first.
    await this.runsRead;
    if (!this.leader) return;
    this.o.log.info({ app: this.o.topology.appId }, 'this member is the leader: it gathers the ticks and runs the clustering');
    // The leader's id fences a former leader's producer: its late runs never land.
    this.runsProducer = this.o.kafka.producer({ transactionalId: `${this.groups.leader}-runs`, transactionTimeout: TRANSACTION_TIMEOUT_MS, idempotent: true, maxInFlightRequests: 1 });
    await this.runsProducer.connect();
    // Fence the former leader before reading the runs topic to its end (the first transaction initialises
    // the id; an empty one is aborted without a request): a run it published after this member's first read
    // would otherwise get its number again from this member.
    await (await this.runsProducer.transaction()).abort();
    await this.runsReader?.readToEnd();
    if (!this.leader) return;
    // Every flow routed within the topic's retention, in route order: the log one process would hold.
    this.o.service.forgetConnections();
    const connections = new TopicReader(this.o.kafka, this.topics.connections, `${this.o.topology.appId}-connections-reader`, (m) => {
      const records = m.value === null ? null : decodeByVm(m.value);
      if (records === null) {
        this.o.log.error({ offset: m.offset }, `skipping a message of ${this.topics.connections} that is not a by-VM message`);
        return;
      }
      const log = this.o.service.connections;
      for (const r of records) if (r.k === 'f') log.add(r.r);
    }, this.readerOptions);
    this.connectionsReader = connections;
    await connections.start();
    const reader = new TopicReader(this.o.kafka, this.topics.features, `${this.o.topology.appId}-features-reader`, async (m) => {
      if (m.value === null) return;
      try {
        this.onFeatures((await decodeDocumentInSlices(m.value)) as PartitionFeatures);
      } catch (err) {
        this.o.log.error({ offset: m.offset, err: String(err) }, `skipping unreadable features on ${this.topics.features}`);
      }
    }, this.readerOptions);
    this.featuresReader = reader;
    await reader.start();
  }

  private async stepDown(): Promise<void> {
    this.leader = false;
    this.pending.clear();
    const reader = this.featuresReader;
    const producer = this.runsProducer;
    const connections = this.connectionsReader;
    this.connectionsReader = null;
    // Taken before the first await: a rejoin that makes this member the leader again meanwhile sets its own
    // producer, which must not be cleared here (its runs would be dropped unpublished).
    this.featuresReader = null;
    this.runsProducer = null;
    await reader?.stop();
    await connections?.stop();
    // The successor keeps the log now; this member's copy would only go stale.
    if (!this.leader) this.o.service.forgetConnections();
    await producer?.disconnect().catch(() => undefined);
  }

  private onFeatures(f: PartitionFeatures): void {
    if (f.tick !== null && f.tick <= this.lastRunTick) return;
    if (f.request !== null && this.answered.has(f.request)) return;
    const key = f.tick !== null ? `t${f.tick}` : `q${f.request}`;
    let parts = this.pending.get(key);
    if (parts === undefined) {
      parts = new Map();
      this.pending.set(key, parts);
    }
    parts.set(f.partition, f);
    this.runPending();
  }

  /** Runs the newest tick (or a request) every partition has published, once no run is in flight. */
  private runPending(): void {
    // Nor while a run is being published: if it cannot be, its number is given back (unpublished), which a
    // run started meanwhile would already have passed.
    if (!this.leader || !this.runsCaughtUp || this.startingRun || this.publishesPending > 0 || this.o.service.runInProgress() !== null) return;
    // A request first; of the ticks the newest complete one, and none while a backlog is read (run-choice.ts).
    const sinceLastRun = performance.now() - this.lastRunStartedAt;
    const catchUpMs = this.o.runCatchUpMs ?? RUN_CATCH_UP_MS;
    const known = this.backlog !== null && performance.now() - this.backlog.at < BACKLOG_FRESH_MS ? this.backlog.behind : null;
    const choice = chooseRun(this.pending, this.o.topology.partitions, sinceLastRun, catchUpMs, known === true);
    if (choice === null) return;
    if ('key' in choice && choice.key.startsWith('t') && sinceLastRun < catchUpMs && known === null) {
      // A tick soon after the last run: a backlog no partition has announced a newer tick of yet (the windows
      // still applying it) would give a run of its own. Asked first; runPending again with the answer.
      this.checkBacklog();
      return;
    }
    if ('waitMs' in choice) {
      // Looked at again then, if no newer tick completes before (refreshStats looks every 2 s too); while
      // behind, sooner: the backlog's end completes no tick, and the newest one waits only for it.
      this.catchUpTimer ??= setTimeout(
        () => {
          this.catchUpTimer = null;
          this.runPending();
        },
        known === true ? Math.min(choice.waitMs, BACKLOG_RECHECK_MS) : choice.waitMs,
      );
      this.catchUpTimer.unref();
      return;
    }
    const chosen: [string, Map<number, PartitionFeatures>] = [choice.key, this.pending.get(choice.key)!];
    const parts = [...chosen[1].values()].sort((a, b) => a.partition - b.partition);
    const first = parts[0]!;
    if (first.tick !== null) {
      for (const [key, p] of [...this.pending]) if (key.startsWith('t') && p.size === this.o.topology.partitions && Number(key.slice(1)) <= first.tick) this.pending.delete(key);
    } else {
      // A tick every partition had passed when it answered the request has features older than the
      // request's: run after it, it would serve staler clusters (one process's tick run would see the newer data).
      const passed = Math.min(...parts.map((x) => x.watermark));
      for (const key of [...this.pending.keys()]) if (key.startsWith('t') && Number(key.slice(1)) <= passed) this.pending.delete(key);
      this.lastRunTick = Math.max(this.lastRunTick, passed);
    }
    this.pending.delete(chosen[0]);
    this.current = { tick: first.tick, request: first.request, attributes: gatherAttributes(parts), parts };
    // In slices (the leader serves reads too), from the tables as they are now.
    const gathered = gatherSnapshotInSlices(parts, tenantInfos(this.tenantTable), hostCapacityFacts(this.tenantTable));
    // From the id: a leader that took over after its predecessor read the request has no entry for it.
    const search = first.request !== null && (runRequestSearches(first.request) || this.searches.get(first.request) === true);
    // Read once: a map kept for every request ever made would grow for the life of the leader.
    if (first.request !== null) this.searches.delete(first.request);
    // The connection log holds at least every flow routed before the run's markers once read to its end
    // (the routes committed them first); the security groups are learned from it as the run completes.
    this.startingRun = true;
    this.lastRunStartedAt = performance.now();
    const read = (this.connectionsReader?.readToEnd() ?? Promise.resolve()).catch((err: unknown) =>
      this.o.log.warn({ err: String(err) }, `could not read ${this.topics.connections} to its end: the run's security groups may miss the latest flows`),
    );
    void Promise.all([gathered, read])
      .then(([snapshot]) => {
        if (this.leader) this.o.service.startRun(first.request !== null ? 'request' : 'schedule', { search }, snapshot);
      })
      .catch((err: unknown) => this.o.log.error({ err: String(err) }, 'could not gather the run\'s input'))
      .finally(() => {
        this.startingRun = false;
      });
  }

  /** Asks whether a backlog is still being read (one at a time), then looks at the pending ticks again. */
  private checkBacklog(): void {
    if (this.checkingBacklog) return;
    this.checkingBacklog = true;
    this.readBacklog()
      .then(
        (behind) => {
          this.backlog = { behind, at: performance.now() };
        },
        (err: unknown) => {
          // Not known: the tick runs, as it did before the leader asked.
          this.o.log.debug({ err: String(err) }, 'could not read the input and window offsets: the tick runs without waiting for a backlog');
          this.backlog = { behind: false, at: performance.now() };
        },
      )
      .finally(() => {
        this.checkingBacklog = false;
        if (this.leader) this.runPending();
      });
  }

  /** Input not routed yet (the route group's commits), or by-VM records this member's windows have not read. */
  private async readBacklog(): Promise<boolean> {
    const admin = this.o.kafka.admin();
    await admin.connect();
    try {
      const t = this.o.pipeline.topics;
      const read = new Map<number, bigint | null>();
      for (const p of this.assignedWindows) read.set(p, this.windowRead.get(p) ?? this.position.get(p) ?? this.checkpointed.get(p) ?? null);
      const [route, windows] = await Promise.all([routeProgress(admin, this.groups.route, [t.flows, t.vmAttributes, t.tenantAttributes]), ownProgress(admin, this.topics.byVm, read)]);
      return isBehind(route) || isBehind(windows);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /** The run in flight: what it answers, and the features it was gathered from (gathered again if it cannot be published). */
  private current: { tick: number | null; request: string | null; attributes: Array<[string, VmAttributes]>; parts: PartitionFeatures[] } = { tick: null, request: null, attributes: [], parts: [] };

  /** One transaction at a time on the runs producer: a run may complete while the previous one is still being written. */
  private publishing: Promise<void> = Promise.resolve();
  /** Runs completed and not yet published or given back: no next run starts meanwhile (runPending). */
  private publishesPending = 0;

  private publishRun(): Promise<void> {
    const { parts, ...answered } = this.current;
    const record: PublishedRun = { member: this.memberId, state: this.o.service.exportState(), ...answered };
    this.runAttributes = new Map(this.current.attributes);
    this.publishesPending++;
    // The chain must never reject: a rejected link would stop every later run from being published, and the
    // rejection, unhandled, would end the process.
    this.publishing = this.publishing
      .then(async () => {
        // After a poll for I/O: the run's completion (its stable ids matched on this thread) and the
        // security groups' first slice ran as one block of the loop, and the reads waiting behind both.
        await afterNextPoll();
        // Learned from this leader's connection log (every routed flow), once per run, and served by every member.
        record.securityGroups = await this.o.service.securityGroups().catch((err: unknown) => {
          this.o.log.error({ err: String(err) }, 'could not learn the security groups of the run');
          return null;
        });
        this.runSecurityGroups = record.securityGroups;
        await this.writeRun(record, parts);
      })
      .catch((err: unknown) => this.o.log.error({ err: String(err), run_id: record.state.latest?.runId }, 'could not publish the run'))
      .finally(() => {
        this.publishesPending--;
        // The next tick or request (a run given back waits among them again).
        if (this.leader) this.runPending();
      });
    return this.publishing;
  }

  private async writeRun(record: PublishedRun, parts: PartitionFeatures[]): Promise<void> {
    const runId = record.state.latest?.runId;
    if (!this.leader || this.runsProducer === null) {
      this.o.log.warn({ run_id: runId }, `not the leader any more: the run is not published to ${this.topics.runs}`);
      this.unpublished(record, parts, this.lastRunTick);
      return;
    }
    let cut: RunRecords;
    try {
      // In slices, before the transaction: the leader serves reads too.
      const value = await encodeDocumentInSlices(record);
      // Chunks past this run's count that a larger run left get tombstones (compaction then drops them).
      const liveChunks = Math.max(this.runAssembler.liveChunks(), this.chunksWritten);
      cut = await inSlices(runRecordsSteps(value, { publication: randomUUID(), member: this.memberId, runId: runId ?? null, liveChunks, chunkBytes: this.o.runChunkBytes ?? RUN_CHUNK_BYTES }), RUN_ASSEMBLY_SLICE_MS);
    } catch (err) {
      // Thrown past this point, the number was kept and the next run published left a gap.
      this.o.log.error({ err: String(err), run_id: runId }, `could not encode the run for ${this.topics.runs}`);
      this.unpublished(record, parts, this.lastRunTick);
      return;
    }
    const { header, records } = cut;
    // Marked before the transaction: features of the same tick arriving meanwhile must not start it again.
    const { tick, request } = record;
    const tickBefore = this.lastRunTick;
    if (tick !== null) this.lastRunTick = Math.max(this.lastRunTick, tick);
    if (request !== null) this.answered.add(request);
    for (let attempt = 1; ; attempt++) {
      const producer: Producer | null = this.runsProducer;
      if (!this.leader || producer === null) {
        this.o.log.warn({ run_id: runId }, `not the leader any more: the run is not published to ${this.topics.runs}`);
        this.unpublished(record, parts, tickBefore);
        return;
      }
      try {
        const txn = await producer.transaction();
        try {
          // One record batch per send: kafkajs copies, checksums (in JavaScript, on the loop) and compresses
          // a batch in one block, 0.2 to 0.3 s for the 13.7 MB of a run of 11.6k VMs in one record; a chunk
          // of RUN_CHUNK_BYTES takes a millisecond or two. Compressed on zlib's thread pool, read likewise.
          for (const r of records) await txn.send({ topic: this.topics.runs, compression: CompressionTypes.GZIP, messages: [r] });
          await txn.commit();
        } catch (err) {
          await txn.abort().catch(() => undefined);
          throw err;
        }
        break;
      } catch (err) {
        this.o.log.error({ err: String(err), run_id: runId, attempt }, `could not publish the run to ${this.topics.runs}`);
        // Fenced: another member leads (the group says so at the next join), and this one must not fence
        // it back. Else the same run again (its number is the next one published), with a new producer: one
        // whose abort failed too stays inside its transaction for good (kafkajs refuses a new one).
        if (isFenced(err)) {
          this.fencedAsLeader(producer);
          this.unpublished(record, parts, tickBefore);
          return;
        }
        if (attempt >= PUBLISH_ATTEMPTS) {
          this.unpublished(record, parts, tickBefore);
          return;
        }
        if (this.runsProducer === producer) await this.renewRunsProducer(producer);
        await new Promise((r) => setTimeout(r, 500 * attempt));
      }
    }
    this.chunksWritten = header.chunks;
    // At once, not when the runs reader reads it back (it may lag, decoding in slices): a run given back
    // next goes back to this one, and taking an older one's number would name two runs alike.
    this.published(record);
    this.o.log.info({ run_id: runId, tick, request }, `published the run to ${this.topics.runs}`);
  }

  /** The newest published run, whoever wrote it: what a run that cannot be published gives way to. */
  private published(run: PublishedRun): void {
    if (this.lastPublished === null || run.state.runCount >= this.lastPublished.state.runCount) this.lastPublished = run;
  }

  /**
   * A run that did not reach the runs topic: no other member has it. The service gives it back (its number,
   * cluster ids and history record) and serves the newest published run again, as every member does, so
   * the next run, this member's or a successor's, takes the same number and matches its clusters against
   * the last published run: run ids have no gap. While this member leads, the run's features wait to be
   * run again (a request someone waits for is not lost).
   */
  private unpublished(record: PublishedRun, parts: PartitionFeatures[], tickBefore: number): void {
    const published = this.lastPublished;
    this.o.service.withdrawRunsAfter(published?.state ?? null);
    this.runAttributes = new Map(published?.attributes ?? []);
    this.runSecurityGroups = published?.securityGroups ?? null;
    this.o.log.warn({ run_id: record.state.latest?.runId, serving: published?.state.latest?.runId ?? null }, 'the run was not published: its number is given back');
    if (record.request !== null) this.answered.delete(record.request);
    // Unless a run published since has answered a later tick.
    if (record.tick !== null && this.lastRunTick === record.tick) this.lastRunTick = Math.max(tickBefore, this.lastPublished?.tick ?? Number.NEGATIVE_INFINITY);
    if (!this.leading || parts.length === 0) return;
    const key = record.tick !== null ? `t${record.tick}` : `q${record.request}`;
    if (!this.pending.has(key)) this.pending.set(key, new Map(parts.map((f) => [f.partition, f])));
  }

  /**
   * A run whose clustering failed reached no member, yet startRun had taken its number: kept, the next run
   * published (this member's, or a successor's that adopted it) named run-000005 after run-000002 (issue
   * 12's failover). Given back as an unpublished run's is. Its tick or request is not run again (one
   * process does not either): the next one is, under this number.
   */
  private runFailed(runId: string): void {
    const published = this.lastPublished;
    this.o.service.withdrawRunsAfter(published?.state ?? null);
    this.o.log.warn({ run_id: runId, serving: published?.state.latest?.runId ?? null }, 'the run failed: its number is given back');
    if (this.leader) this.runPending();
  }

  /**
   * The runs producer was fenced: another member took the leadership (or, rarer, fenced this one by mistake).
   * The producer is dropped and the member stops running ticks until the leader group's next join says who
   * leads. Kept, the next run met the fenced producer in kafkajs' ABORTING state, an error not taken for a
   * fence, and its retry's new producer fenced the real leader, whose every run was then refused: the
   * rebalance storm test caught a leader giving the same run number back for minutes (issue 12).
   */
  private fencedAsLeader(producer: Producer): void {
    if (this.runsProducer !== producer) return;
    this.runsProducer = null;
    this.leader = false;
    this.runsFenced = true;
    void producer.disconnect().catch(() => undefined);
    this.o.log.warn({ app: this.o.topology.appId }, `the runs producer was fenced: this member stops leading until ${this.groups.leader} says otherwise`);
  }

  /** A new runs producer in place of one left in a failed transaction (its first transaction fences the old one). */
  private async renewRunsProducer(old: Producer): Promise<void> {
    await old.disconnect().catch(() => undefined);
    const producer = this.o.kafka.producer({ transactionalId: `${this.groups.leader}-runs`, transactionTimeout: TRANSACTION_TIMEOUT_MS, idempotent: true, maxInFlightRequests: 1 });
    try {
      await producer.connect();
    } catch (err) {
      this.o.log.error({ err: String(err) }, 'could not connect a new runs producer: the next run tries again');
    }
    if (this.runsProducer === old) this.runsProducer = producer;
    else await producer.disconnect().catch(() => undefined);
  }

  /** A run published by the leader (this member or another): served from now on. */
  private adoptRun(run: PublishedRun): void {
    if (run.tick !== null) this.lastRunTick = Math.max(this.lastRunTick, run.tick);
    if (run.request !== null) this.answered.add(run.request);
    // This member's own run is in its service already; any other member's (a successor's) replaces its own.
    this.published(run);
    if (run.member === this.memberId) return;
    this.o.service.restoreState(run.state);
    this.runAttributes = new Map(run.attributes ?? []);
    this.runSecurityGroups = run.securityGroups ?? null;
  }

  /** Records and rejects of every input partition, summed from the router states committed with the offsets. */
  private async refreshStats(): Promise<void> {
    const admin = this.o.kafka.admin();
    try {
      await admin.connect();
      const t = this.o.pipeline.topics;
      const groups = await admin.fetchOffsets({ groupId: this.groups.route, topics: [t.flows, t.vmAttributes, t.tenantAttributes] });
      const records = { flows: 0, vmAttributes: 0, tenantAttributes: 0 };
      const byReason: Record<string, number> = {};
      let count = 0;
      for (const g of groups)
        for (const p of g.partitions) {
          if (!p.metadata) continue;
          const parsed = RouterStateShape.safeParse(JSON.parse(p.metadata));
          if (!parsed.success) continue;
          const s = parsed.data;
          records.flows += s.records.flows;
          records.vmAttributes += s.records.vmAttributes;
          records.tenantAttributes += s.records.tenantAttributes;
          count += s.rejected.count;
          for (const [reason, n] of Object.entries(s.rejected.by_reason)) byReason[reason] = (byReason[reason] ?? 0) + n;
        }
      this.stats = { records, rejected: { count, by_reason: byReason } };
    } catch (err) {
      this.o.log.debug({ err: String(err) }, 'could not read the routers\' committed states');
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    // A run the leader could not start while another was in flight is started now.
    if (this.leader) this.runPending();
  }
}

/** Whether a producer's error (or its cause) says that another producer with its transactional id fenced it. */
function isFenced(err: unknown): boolean {
  for (let e: unknown = err; typeof e === 'object' && e !== null; e = (e as { cause?: unknown }).cause) {
    const type = (e as { type?: unknown }).type;
    if (type === 'INVALID_PRODUCER_EPOCH' || type === 'PRODUCER_FENCED') return true;
  }
  return false;
}

/** Retries what fails while topics are being created (no leader yet): a few seconds at most. */
export async function retrying<T>(fn: () => Promise<T>, attempts = 40, delayMs = 250): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}
