/**
 * A member's route stage over Kafka (docs/scale-out.md): its consumer group over the input topics, one
 * router and one transactional producer per input partition, dead letters, and the by-VM, connections,
 * addresses and tenants records of several fetched batches written in one transaction with the input offset
 * and the router's state. The member runs it in a worker thread of its own (route-worker.ts), or in its own thread.
 */
import { type Batch, type Consumer, type Kafka, type Message, Partitioners, type Producer, type TopicMessages, type Transaction } from 'kafkajs';
import type { RejectedRecord } from '../contract/rejections.ts';
import type { FleetState } from '../fleet/fleet-state.ts';
import { emptyHeldFlowCounters, type HeldFlowCounters } from '../attribution/held-flows.ts';
import type { DeadLetterProducer } from '../kafka/dead-letter.ts';
import type { KafkaLogger } from '../kafka/options.ts';
import { DEFAULT_PARTITION_IDLE_MS, PartitionWatermarks } from '../pipeline/partition-watermarks.ts';
import type { PipelineConfig } from '../pipeline/pipeline.ts';
import { decodeSnapshotFile, encodeSnapshotFile } from '../snapshots/snapshot-file.ts';
import type { AddressTable } from './address-table.ts';
import { partitionOfMemo } from './by-vm.ts';
import { packRoute } from './by-vm-pack.ts';
import { type TopologyConfig, type TopologyTopics, topologyGroups, topologyTopics } from './config.ts';
import { type Routed, Router, type RouterHeld, type RouterState } from './router.ts';
import { encodeRouteWatermark, RouteWatermarksTable } from './route-watermarks.ts';
import { beating, groupTiming, RouterStateShape, retriable, TRANSACTION_TIMEOUT_MS } from './stage-kafka.ts';
import { TopicReader } from './topic-reader.ts';

export interface RouteStageOptions {
  kafka: Kafka;
  topology: TopologyConfig;
  pipeline: PipelineConfig;
  deadLetter: DeadLetterProducer;
  log: KafkaLogger;
  onReject?: (r: RejectedRecord) => void;
  /** The input topic of host capacities, routed to the hosts' table; none: not read. */
  hostAttributesTopic?: string;
  /** Every VM's address claims, read from `<app>-addresses` by whoever runs the stage. */
  addressTable: AddressTable;
  /** The global tenant table (read from `<app>-tenants`): a router of tenant attributes judges tenant_cap against it. */
  tenantTable: FleetState;
  /** Reads the tenant table to its end: what a former owner of the tenants' partition admitted is in it after. */
  readTenantsToEnd: () => Promise<void>;
  /** After each route transaction committed: the worker reports its counts at once (route-worker.ts). */
  onCommitted?: () => void;
}

/**
 * Where the route stage's wall time goes, seconds since it started: waiting for kafkajs to hand over the
 * next batch (its fetch, or nothing to read), routing it (decode, validate, attribute, pack), writing its
 * dead letters, its transaction's produce requests, the offset commit in it, and its commit. The batch loop
 * is serial, so their sum is the stage's wall time: the largest is what to cut (docs/scale-out.md, "Figures").
 */
export const ROUTE_PHASES = ['fetch_wait', 'route', 'dead_letters', 'send', 'offsets', 'commit'] as const;
export type RoutePhase = (typeof ROUTE_PHASES)[number];
export type RouteSeconds = Record<RoutePhase, number>;

export function emptyRouteSeconds(): RouteSeconds {
  return { fetch_wait: 0, route: 0, dead_letters: 0, send: 0, offsets: 0, commit: 0 };
}

/**
 * A route transaction spans the batches kafkajs fetches of one input partition until it holds this many
 * input messages or is this old: each commit costs about four round trips (the offsets, their partition in
 * the transaction, the commit and its markers on every partition written), which per fetched batch of a
 * megabyte bounded a member's ingest (docs/scale-out.md, "Figures"). The age bounds how long a by-VM
 * record waits before the windows (read_committed) see it.
 */
export const DEFAULT_ROUTE_COMMIT_MESSAGES = 50_000;
export const DEFAULT_ROUTE_COMMIT_MS = 250;

/**
 * The rest of a flows batch held back for the pace is tried again after this long at the latest: the
 * partition it waits for may be silent (it goes idle after DEFAULT_PARTITION_IDLE_MS) and route nothing.
 */
const PACE_RECHECK_MS = 200;

/**
 * The route transaction of an input partition still open: the batches routed into it, their by-VM
 * records sent, their offset and the router's state not yet committed.
 */
interface OpenRoute {
  router: Router;
  txn: Transaction;
  topic: string;
  partition: number;
  /** The first offset routed in it: should it fail, kafkajs reads its batches again from there. */
  from: bigint;
  /** The offset after the last message routed in it: what its commit sends. */
  next: bigint;
  batches: number;
  messages: number;
  records: number;
  /** The address keys it wrote: unpublished again should it fail (AddressTable.notPublished). */
  addresses: string[];
  openedAt: number;
  /** The route group join it was opened in (RouteStage.routeJoin): its commit's log line says it. */
  join: number;
  /** Commits it when no further batch comes (the partition's last records, or a pause). */
  timer: NodeJS.Timeout | null;
  /**
   * Its last batch's produce request, in flight while kafkajs fetches and the router routes the next batch;
   * never rejects: a failure is kept in `failed`, and the next batch or the commit fails the transaction.
   */
  sending: Promise<void>;
  failed: { err: unknown } | null;
}

/**
 * Work begun for an input partition's route state that a forget (forgetRoute) dropped meanwhile: given up
 * without forgetting again, which would drop the state made since.
 */
class ForgottenMeanwhile extends Error {}

/** The rest of a flows batch past the pace: its messages from `index` on are not routed yet. */
interface HeldTail {
  batch: Batch;
  index: number;
}

/** The flows this member's routers hold for late VM attributes, and their counts. */
export type HeldStatus = HeldFlowCounters & { flows: number; bytes: number };

/** What the route stage reports to the member's status and /metrics. */
export interface RouteStatus {
  /** The route group has assigned this member its input partitions at least once. */
  joined: boolean;
  /** Input messages routed (committed) since the stage started: live, unlike the committed router states. */
  routedMessages: number;
  /** By-VM records (flow halves, VM attributes) written. */
  routedRecords: number;
  /** Route transactions committed (a batch's, or a flush of released flows). */
  routeTransactions: number;
  /** Batches of a flows partition cut because it was a bucket ahead of the slowest (the rest routed later). */
  pacedCuts: number;
  held: HeldStatus;
  /** Where the stage's wall time went (ROUTE_PHASES). */
  seconds: RouteSeconds;
  /** The route transactions open now, and the fetched batches and input messages routed into them. */
  open: { transactions: number; batches: number; messages: number };
}

export function emptyRouteStatus(): RouteStatus {
  return { joined: false, routedMessages: 0, routedRecords: 0, routeTransactions: 0, pacedCuts: 0, held: { ...emptyHeldFlowCounters(), flows: 0, bytes: 0 }, seconds: emptyRouteSeconds(), open: { transactions: 0, batches: 0, messages: 0 } };
}

export class RouteStage {
  private readonly topics: TopologyTopics;
  private readonly groups: ReturnType<typeof topologyGroups>;
  private readonly routers = new Map<string, Router>();
  /** Per input partition, the offset its router state was committed with: what lies below was routed already. */
  private readonly routedUpTo = new Map<string, bigint>();
  private readonly routeProducers = new Map<string, Producer>();
  /**
   * Route transactions one at a time: a batch's and those that write what a claim released outside any
   * batch (flushRoute) must not interleave, or a commit would carry a router state its offset does not match.
   */
  private routeTxns: Promise<void> = Promise.resolve();
  /** Input partitions with released flows waiting for a flush transaction. */
  private readonly flushDue = new Set<string>();
  /** The newest held set of every input partition, as `<app>-route-held` holds it (null: none held). */
  private readonly heldSets = new Map<string, Buffer | null>();
  private heldReader: TopicReader | null = null;
  private readonly makingRouters = new Map<string, Promise<Router>>();
  /**
   * Per input partition, how many times its route state was forgotten (forgetRoute: a join took it away or
   * reads it again from the commit, or a transaction on it failed). A producer, router or transaction begun
   * before a forget is neither installed nor committed after it: begun for the state the forget dropped, it
   * would come back beside (or over) the one made after (docs/scale-out.md, "Rebalance storms").
   */
  private readonly routeEpochs = new Map<string, number>();
  private consumer: Consumer | null = null;
  private joined = false;
  /**
   * The route group joins of this stage, counted from 1: every join's and commit's log line carries it, so a
   * storm's logs say which member routed which input offsets in which join (test/helpers/route-ranges.ts).
   */
  private routeJoin = 0;
  private routedMessages = 0;
  private routedRecords = 0;
  private routeTransactions = 0;
  private readonly seconds = emptyRouteSeconds();
  /** Per input partition, its route transaction still open (at most one: a producer runs one at a time). */
  private readonly openRoutes = new Map<string, OpenRoute>();
  private readonly commitEveryMessages: number;
  private readonly commitWithinMs: number;
  /** When the last batch handed back to kafkajs (null: none yet): the next one's wait starts there. */
  private batchEndedAt: number | null = null;
  /** The by-VM partition of a VM id: computed once per VM, not per record (each flow names two). */
  private readonly partitionOfVm: (vmId: string) => number;
  /**
   * The watermark of each flows partition this member routes, for pacing its routers as one process paces
   * its partitions (docs/event-time.md, "Several input partitions"): none reads more than a bucket ahead of
   * the slowest that is not caught up or idle. Names are the route's keys (`<topic>:<partition>`).
   */
  private readonly pace: PartitionWatermarks;
  /**
   * The rest of each flows batch cut for the pace (its partition paused meanwhile): routed from memory
   * once the others have caught up, not fetched again (a batch is a megabyte, and a bucket of lead a fifth
   * of it on the small fixture: fetched again, each was read five times over).
   */
  private readonly tails = new Map<string, HeldTail>();
  private pacedRecheck: NodeJS.Timeout | null = null;
  /** Batches cut for the pace since the stage started. */
  private pacedHeldBack = 0;
  /** The other members' routers of flows partitions, paced against as this member's own (route-watermarks.ts). */
  private readonly otherRouters: RouteWatermarksTable;
  /** Whether this member's flows route transactions write their router's watermark (other members route flows too). */
  private publishWatermarks = true;

  constructor(private readonly o: RouteStageOptions) {
    this.partitionOfVm = partitionOfMemo(o.topology.partitions);
    this.pace = new PartitionWatermarks({ idleMs: DEFAULT_PARTITION_IDLE_MS, maxLeadMs: o.pipeline.window.bucketMs });
    this.commitEveryMessages = o.topology.routeCommitMessages ?? DEFAULT_ROUTE_COMMIT_MESSAGES;
    this.commitWithinMs = o.topology.routeCommitMs ?? DEFAULT_ROUTE_COMMIT_MS;
    this.topics = topologyTopics(o.topology.appId);
    this.groups = topologyGroups(o.topology.appId);
    this.otherRouters = new RouteWatermarksTable({ kafka: o.kafka, topic: this.topics.routeWatermarks, flowsTopic: o.pipeline.topics.flows, groupPrefix: `${o.topology.appId}-route-watermarks-reader`, pace: this.pace, log: o.log, readerWaitMs: o.topology.readerWaitMs });
    // A claim reaching the table, from whichever member, releases the flows any router here holds at it.
    o.addressTable.onClaims = (ips) => {
      for (const [key, router] of this.routers) if (router.claimed(ips)) this.flushRoute(key);
    };
  }

  status(): RouteStatus {
    return { joined: this.joined, routedMessages: this.routedMessages, routedRecords: this.routedRecords, routeTransactions: this.routeTransactions, pacedCuts: this.pacedHeldBack, held: this.heldStatus(), seconds: { ...this.seconds }, open: this.openStatus() };
  }

  private openStatus(): RouteStatus['open'] {
    const open = { transactions: 0, batches: 0, messages: 0 };
    for (const o of this.openRoutes.values()) {
      open.transactions++;
      open.batches += o.batches;
      open.messages += o.messages;
    }
    return open;
  }

  private heldStatus(): HeldStatus {
    const sum = { ...emptyHeldFlowCounters(), flows: 0, bytes: 0 };
    for (const r of this.routers.values()) {
      sum.flows += r.held.size;
      sum.bytes += r.held.bytes;
      sum.held += r.held.counters.held;
      sum.refused += r.held.counters.refused;
      sum.endsAttributedLate += r.held.counters.endsAttributedLate;
      sum.expired += r.held.counters.expired;
    }
    return sum;
  }

  /** Starts once the address table has been read whole: a flow is attributed by the claims read so far. */
  async start(): Promise<void> {
    // Every input partition's held flows: a router taking a partition over reads its entry (routerFor).
    const held = new TopicReader(this.o.kafka, this.topics.held, `${this.o.topology.appId}-held-reader`, (m) => {
      if (m.key !== null) this.heldSets.set(m.key, m.value);
    }, { maxWaitMs: this.o.topology.readerWaitMs });
    this.heldReader = held;
    // The other members' routers too, before routing anything: a member joining late must not run ahead of
    // them. Both readers at once: each joins a group of its own, seconds at load, and the route waits for both.
    await Promise.all([held.start(), this.otherRouters.start()]);
    await this.startRoute();
  }

  async stop(): Promise<void> {
    if (this.pacedRecheck !== null) clearTimeout(this.pacedRecheck);
    this.pacedRecheck = null;
    await this.consumer?.disconnect().catch(() => undefined);
    // What the open transactions hold is committed before the producers close: not lost, and not left for
    // the broker's transaction timeout to abort while the windows' read_committed consumers wait behind it.
    for (const [key, open] of [...this.openRoutes]) this.routeExclusive(() => this.commitOpen(key, open)).catch((err: unknown) => this.o.log.warn({ input: key, err: String(err) }, 'could not commit the open route transaction at stop: the partition continues from its last commit'));
    // A flush of released flows may still be writing: its producer must not close under it.
    await this.routeTxns;
    await this.heldReader?.stop();
    await this.otherRouters.stop();
    await Promise.all([...this.routeProducers.values()].map((p) => p.disconnect().catch(() => undefined)));
  }

  private async startRoute(): Promise<void> {
    const { kafka, pipeline, topology } = this.o;
    const consumer = kafka.consumer({ groupId: this.groups.route, ...groupTiming(topology) });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      this.joined = true;
      this.routeJoin++;
      const mine = new Set<string>();
      for (const [topic, parts] of Object.entries(e.payload.memberAssignment)) for (const p of parts) mine.add(`${topic}:${p}`);
      const flows = e.payload.memberAssignment[pipeline.topics.flows] ?? [];
      // The flows partitions paced are those assigned now. A rest held back is dropped and read again from
      // the commit (kafkajs may have reset its position to the commit, from where it would come twice).
      // The other members' flows partitions are paced against too (a partition revoked from here is one of them now).
      this.pace.assign(flows.map((p) => `${pipeline.topics.flows}:${p}`), Date.now(), this.otherRouters.others(flows));
      this.publishWatermarks = this.otherRouters.publishes(flows);
      for (const key of [...this.tails.keys()]) this.dropTail(key);
      // A partition that moved away: its router and producer go (the new owner continues from the commit).
      for (const key of new Set([...this.routers.keys(), ...this.routeProducers.keys()])) if (!mine.has(key)) this.forgetRoute(key);
      // A partition kept with a transaction open: kafkajs reads it again from its committed offset after a
      // join, so the router that routed past it goes too (and its producer: the next one fences the open
      // transaction, which the broker aborts). Committed instead, the batches read again would count twice.
      const dropped = [...this.openRoutes.keys()];
      for (const key of dropped) this.forgetRoute(key);
      if (dropped.length > 0) this.o.log.info({ inputs: dropped }, `joined ${this.groups.route} with route transactions open: they are aborted, and their batches read again from the commit`);
      this.o.log.info({ route_join: this.routeJoin, member_id: e.payload.memberId, inputs: [...mine].sort() }, `joined ${this.groups.route}`);
      // A flows partition's router is made at once, not at its next batch: the held flows committed with its
      // offset must be there for the claims that release them, and no further flow may ever come.
      for (const p of e.payload.memberAssignment[pipeline.topics.flows] ?? [])
        if (!this.routers.has(`${pipeline.topics.flows}:${p}`))
          this.routerOf(pipeline.topics.flows, p).catch((err: unknown) => this.o.log.warn({ topic: pipeline.topics.flows, partition: p, err: String(err) }, 'could not take up the held flows of an input partition: its next batch does'));
    });
    await consumer.connect();
    const inputs = [pipeline.topics.flows, pipeline.topics.vmAttributes, pipeline.topics.tenantAttributes];
    if (this.o.hostAttributesTopic !== undefined) inputs.push(this.o.hostAttributesTopic);
    await consumer.subscribe({ topics: inputs, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, heartbeat, isStale }) => {
        const started = performance.now();
        if (this.batchEndedAt !== null) this.seconds.fetch_wait += (started - this.batchEndedAt) / 1000;
        try {
          await this.routeBatch(batch, heartbeat, isStale);
        } finally {
          this.batchEndedAt = performance.now();
        }
      },
    });
  }

  /** One fetched batch of an input partition: routed into the partition's open transaction. */
  private async routeBatch(batch: Batch, heartbeat: () => Promise<void>, isStale: () => boolean): Promise<void> {
    // Fetched before a failed transaction sent the consumer back (failRoute's seek): it lies beyond what is
    // committed, and routed now it would let the batches read again be skipped as routed. kafkajs' next fetch
    // goes back; no batch fetched after that is stale.
    if (batch.messages.length === 0 || isStale()) return;
    const key = `${batch.topic}:${batch.partition}`;
    const router = await beating(heartbeat, this.routerOf(batch.topic, batch.partition), groupTiming(this.o.topology).heartbeatInterval);
    // The consumer may fetch from an offset read before the previous owner's last commit: what that
    // commit covers is routed already (and counted in the router state read after it).
    if (BigInt(batch.lastOffset()) < (this.routedUpTo.get(key) ?? 0n)) {
      await heartbeat();
      return;
    }
    await this.routeExclusive(async () => {
      // A router that moved away or failed while this batch waited: the next batch starts over.
      if (this.routers.get(key) !== router) throw new Error(`the router of ${key} was replaced while its batch waited`);
      if (isStale()) return;
      // Not expected (the partition is paused while a rest is held): both are read again from what is routed.
      if (this.tails.has(key)) return this.dropTail(key);
      await this.routeFrom(key, router, batch, 0);
    });
    await heartbeat();
  }

  /**
   * Routes a batch's messages from `start` into its partition's open transaction. A flows partition is read
   * no further than a bucket ahead of the slowest of this member's (the pace): checked against `bound` per
   * message, and the watermarks asked only past it (once a bucket at most). Past the pace, the rest is held
   * in memory (holdTail) and what was routed commits with its transaction as usual.
   */
  private async routeFrom(key: string, router: Router, batch: Batch, start: number): Promise<void> {
    // What the open transaction holds is routed too (kafkajs hands a batch over once).
    const committed = this.routedUpTo.get(key) ?? 0n;
    const open = this.openRoutes.get(key);
    const upTo = open !== undefined && open.next > committed ? open.next : committed;
    const routeStarted = performance.now();
    const out: Routed[] = [];
    let messages = 0;
    let from: bigint | null = null;
    const pace = batch.topic === this.o.pipeline.topics.flows ? this.pace : null;
    const now = Date.now();
    const logEnd = Number(batch.highWatermark);
    let bound = Number.POSITIVE_INFINITY;
    if (pace !== null) {
      pace.observe(key, router.latest);
      bound = pace.readBound(key);
    }
    let cut: number | null = null;
    const all = batch.messages;
    // Offsets ascend in a batch: only one that starts below what is routed needs each offset compared
    // (a BigInt of each offset's string cost 0.25-0.4 µs a message, 5% of the route's own work).
    const first = start < all.length ? BigInt(all[start]!.offset) : upTo;
    const skipping = first < upTo;
    for (let i = start; i < all.length; i++) {
      const m = all[i]!;
      if (skipping && BigInt(m.offset) < upTo) continue;
      if (router.latest > bound && pace !== null) {
        pace.observe(key, router.latest);
        pace.read(key, Number(m.offset), logEnd, now);
        if (!pace.mayRead(key, this.newestFlowTime(), now)) {
          cut = i;
          break;
        }
        bound = pace.readBound(key);
      }
      from ??= skipping ? BigInt(m.offset) : first;
      messages++;
      router.route(batch.topic, m.value?.toString() ?? null, `${batch.topic}/${batch.partition}@${m.offset}`, out);
    }
    if (pace !== null) {
      pace.observe(key, router.latest);
      if (cut === null) pace.read(key, Number(batch.lastOffset()) + 1, logEnd, now);
    }
    if (cut !== null) this.holdTail(key, batch, cut);
    else if (this.tails.delete(key)) this.consumer?.resume([{ topic: batch.topic, partitions: [batch.partition] }]);
    // This partition moved on: the rests held back may be within the pace now.
    if (pace !== null && from !== null) this.routeTails(key);
    this.seconds.route += (performance.now() - routeStarted) / 1000;
    if (from === null) return;
    // Flows a claim released outside any batch go in this transaction too (route() took them first).
    router.takeReleased(out);
    router.endOfBatch(out);
    const next = cut === null ? BigInt(batch.lastOffset()) + 1n : BigInt(all[cut]!.offset);
    await this.addToRoute(key, router, batch.topic, batch.partition, from, next, out, messages);
  }

  /**
   * The rest of a flows batch past the pace, from message `index`: held, and its partition paused so that
   * kafkajs fetches nothing more of it meanwhile (its position is past the batch). Routed once another
   * flows partition routed a batch, or after PACE_RECHECK_MS (the partition waited for may go idle).
   */
  private holdTail(key: string, batch: Batch, index: number): void {
    this.pacedHeldBack++;
    if (!this.tails.has(key)) this.consumer?.pause([{ topic: batch.topic, partitions: [batch.partition] }]);
    this.tails.set(key, { batch, index });
    this.pacedRecheck ??= setTimeout(() => {
      this.pacedRecheck = null;
      this.routeTails(null);
    }, PACE_RECHECK_MS);
  }

  /** Routes the rests held back (but `except`'s), each in its turn with the route transactions. */
  private routeTails(except: string | null): void {
    for (const [key, tail] of this.tails) {
      if (key === except) continue;
      this.routeExclusive(async () => {
        if (this.tails.get(key) !== tail) return;
        const router = this.routers.get(key);
        if (router === undefined) return this.dropTail(key);
        await this.routeFrom(key, router, tail.batch, tail.index);
      }).catch((err: unknown) => this.o.log.warn({ input: key, err: String(err) }, 'could not route the rest of a batch held back for the pace: the partition continues from its last commit'));
    }
  }

  /**
   * A rest held back is given up (a rejoin, a failed transaction, the partition gone): kafkajs goes back to
   * where nothing is routed past (the open transaction's start, else the commit, which the rest follows).
   */
  private dropTail(key: string): void {
    const tail = this.tails.get(key);
    if (tail === undefined) return;
    this.tails.delete(key);
    const { topic, partition } = tail.batch;
    const offset = this.openRoutes.get(key)?.from ?? this.routedUpTo.get(key) ?? BigInt(tail.batch.messages[tail.index]!.offset);
    try {
      this.consumer?.seek({ topic, partition, offset: offset.toString() });
      this.consumer?.resume([{ topic, partitions: [partition] }]);
    } catch (err) {
      this.o.log.warn({ input: key, err: String(err) }, 'could not go back to the rest of a batch held back for the pace');
    }
  }

  /** The newest flow time among this member's routers: the reader's watermark when no partition holds it. */
  private newestFlowTime(): number {
    let newest = Number.NEGATIVE_INFINITY;
    for (const r of this.routers.values()) if (r.latest > newest) newest = r.latest;
    return newest;
  }

  /** Times `work` into a phase of the stage's wall time. */
  private async timed<T>(phase: RoutePhase, work: Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await work;
    } finally {
      this.seconds[phase] += (performance.now() - t0) / 1000;
    }
  }

  /** The router and producer of an input partition go: it moved away, or a transaction on it failed. */
  private forgetRoute(key: string): void {
    this.routeEpochs.set(key, this.epochOf(key) + 1);
    this.dropTail(key);
    const open = this.openRoutes.get(key);
    if (open !== undefined) {
      this.openRoutes.delete(key);
      if (open.timer !== null) clearTimeout(open.timer);
      this.o.addressTable.notPublished(open.addresses);
    }
    this.routers.delete(key);
    this.routedUpTo.delete(key);
    const producer = this.routeProducers.get(key);
    this.routeProducers.delete(key);
    void producer?.disconnect().catch(() => undefined);
  }

  private epochOf(key: string): number {
    return this.routeEpochs.get(key) ?? 0;
  }

  /** Runs `fn` once every route transaction before it has ended (whatever their outcome). */
  private routeExclusive(fn: () => Promise<void>): Promise<void> {
    const run = this.routeTxns.then(fn);
    this.routeTxns = run.catch(() => undefined);
    return run;
  }

  /**
   * A batch's records into its partition's open transaction (opened for it if none is), committed once the
   * transaction is big or old enough (DEFAULT_ROUTE_COMMIT_MESSAGES, DEFAULT_ROUTE_COMMIT_MS), else by its
   * timer or the next batch. On any failure nothing of the transaction is written (failRoute).
   */
  private async addToRoute(key: string, router: Router, topic: string, partition: number, from: bigint, next: bigint, out: Routed[], messages: number): Promise<void> {
    let open = this.openRoutes.get(key);
    try {
      open ??= await this.openRoute(key, router, topic, partition, from);
      open.next = next;
      open.batches++;
      open.messages += messages;
      this.tally(open, out);
      const packed = performance.now();
      const topicMessages = this.routedMessagesOf(out);
      this.seconds.route += (performance.now() - packed) / 1000;
      // One produce request in flight at a time (the producer sends them in order anyway): the previous
      // batch's, awaited only now that this batch is routed.
      await this.sent(open);
      if (topicMessages.length > 0) {
        const current = open;
        current.sending = current.txn.sendBatch({ topicMessages }).then(
          () => undefined,
          (err: unknown) => {
            current.failed ??= { err };
          },
        );
      }
    } catch (err) {
      // Once opened, the transaction has counted this batch's address keys (tally) as its own.
      throw await this.failRoute(key, open, open === undefined ? out : [], err);
    }
    if (open.messages >= this.commitEveryMessages || performance.now() - open.openedAt >= this.commitWithinMs) await this.commitOpen(key, open);
  }

  /** A transaction opened for an input partition, with the timer that commits it if no batch comes to. */
  private async openRoute(key: string, router: Router, topic: string, partition: number, from: bigint): Promise<OpenRoute> {
    const epoch = this.epochOf(key);
    const producer = await this.routeProducer(key);
    const txn = await producer.transaction();
    // Forgotten meanwhile (a join, a failure): inserted now, this transaction of the old router would be taken
    // for the partition's, and its failure would forget the router made after.
    if (this.epochOf(key) !== epoch || this.routers.get(key) !== router) {
      await txn.abort().catch(() => undefined);
      throw new ForgottenMeanwhile(`the route state of ${key} was forgotten while its transaction opened`);
    }
    const open: OpenRoute = { router, txn, topic, partition, from, next: from, batches: 0, messages: 0, records: 0, addresses: [], openedAt: performance.now(), join: this.routeJoin, timer: null, sending: Promise.resolve(), failed: null };
    open.timer = setTimeout(() => {
      open.timer = null;
      this.routeExclusive(() => this.commitOpen(key, open)).catch((err: unknown) => this.o.log.warn({ input: key, err: String(err) }, 'could not commit a route transaction: the partition continues from its last commit'));
    }, this.commitWithinMs);
    this.openRoutes.set(key, open);
    return open;
  }

  /** Waits for the open transaction's produce request in flight; throws its error if it failed. */
  private async sent(open: OpenRoute): Promise<void> {
    await this.timed('send', open.sending);
    if (open.failed !== null) throw open.failed.err;
  }

  /** Counts what a transaction writes: its by-VM records, and the address keys to unpublish should it fail. */
  private tally(open: OpenRoute, out: Routed[]): void {
    for (const r of out) {
      if (r.to === 'by-vm') open.records++;
      else if (r.to === 'addresses') open.addresses.push(r.key);
    }
  }

  /**
   * Commits an open route transaction: what claims released since its last batch, the router's held set
   * when it changed, and the offset with the router's state. Its state is taken before the first await: a
   * claim read meanwhile changes the router, and what it released goes in the next transaction (a flush),
   * with that state. A transaction forgotten meanwhile (a rejoin, a failure) is not committed.
   */
  private async commitOpen(key: string, open: OpenRoute): Promise<void> {
    if (this.openRoutes.get(key) !== open) return;
    if (open.timer !== null) clearTimeout(open.timer);
    open.timer = null;
    const out: Routed[] = [];
    open.router.takeReleased(out);
    open.router.endOfBatch(out);
    this.flushDue.delete(key);
    const metadata = JSON.stringify(open.router.exportState());
    const held = open.router.heldDirty ? open.router.exportHeld() : undefined;
    const watermark = this.publishWatermarks && open.topic === this.o.pipeline.topics.flows ? encodeRouteWatermark(open.router.latest, this.pace.behind(key)) : null;
    this.tally(open, out);
    try {
      // Rejects first: a batch is committed only once its dead letters are written (at least once, as today).
      await this.timed('dead_letters', this.o.deadLetter.flush());
      const topicMessages = this.routedMessagesOf(out);
      if (held !== undefined) topicMessages.push({ topic: this.topics.held, messages: [{ key, value: held === null ? null : encodeSnapshotFile(held) }] });
      // The router's watermark, atomic with its offset: what the other members pace their routers by.
      if (watermark !== null) topicMessages.push({ topic: this.topics.routeWatermarks, messages: [{ key, value: watermark }] });
      await this.sent(open);
      if (topicMessages.length > 0) await this.timed('send', open.txn.sendBatch({ topicMessages }));
      // The router's state rides in the offset commit's metadata (kafkajs sends it, its types omit it).
      const committed = { partition: open.partition, offset: open.next.toString(), metadata };
      await this.timed('offsets', open.txn.sendOffsets({ consumerGroupId: this.groups.route, topics: [{ topic: open.topic, partitions: [committed] }] }));
      await this.timed('commit', open.txn.commit());
    } catch (err) {
      throw await this.failRoute(key, open, [], err);
    }
    if (this.openRoutes.get(key) === open) {
      this.openRoutes.delete(key);
      this.routedUpTo.set(key, open.next);
    }
    // One line a transaction (every DEFAULT_ROUTE_COMMIT_MS at most per partition), not per record: which
    // input offsets this member's output holds, for whoever reads a storm's logs.
    this.o.log.info({ input: key, from: open.from.toString(), next: open.next.toString(), messages: open.messages, route_join: open.join }, 'route transaction committed');
    this.routeTransactions++;
    this.routedMessages += open.messages;
    this.routedRecords += open.records;
    this.o.onCommitted?.();
  }

  /**
   * A route transaction failed: nothing of it was written. Fenced or not, another member may have routed
   * this partition meanwhile: the next batch starts over from the committed offset, router state and held
   * set (routerFor), or the partition's new owner does. kafkajs was handed the transaction's earlier batches
   * back and reads on past them: it goes back to the transaction's first offset. The error for kafkajs.
   */
  private async failRoute(key: string, open: OpenRoute | undefined, out: Routed[], err: unknown): Promise<Error> {
    this.o.addressTable.notPublished(out.flatMap((r) => (r.to === 'addresses' ? [r.key] : [])));
    if (open !== undefined) {
      await open.sending;
      await open.txn.abort().catch(() => undefined);
      if (this.openRoutes.get(key) === open) {
        this.forgetRoute(key);
        try {
          this.consumer?.seek({ topic: open.topic, partition: open.partition, offset: open.from.toString() });
        } catch (seekErr) {
          this.o.log.warn({ input: key, err: String(seekErr) }, 'could not go back to the failed route transaction\'s first offset');
        }
      }
    } else if (!(err instanceof ForgottenMeanwhile)) this.forgetRoute(key);
    return retriable(err);
  }

  /**
   * Writes what a claim released from an input partition's held flows, outside any batch of it: with the
   * partition's open transaction when it commits, or in one of its own at the same offset again, with the router's new state
   * and held set (the released flows may be the partition's last records, and no batch would come to carry them).
   */
  private flushRoute(key: string): void {
    if (this.flushDue.has(key)) return;
    this.flushDue.add(key);
    this.routeExclusive(async () => {
      if (!this.flushDue.delete(key)) return;
      // The partition's open transaction takes them at its commit (takeReleased), within DEFAULT_ROUTE_COMMIT_MS.
      if (this.openRoutes.has(key)) return;
      const router = this.routers.get(key);
      const offset = this.routedUpTo.get(key);
      // Not committed yet: the partition's first batch carries it.
      if (router === undefined || offset === undefined) return;
      const at = key.lastIndexOf(':');
      let flush: OpenRoute | undefined;
      try {
        flush = await this.openRoute(key, router, key.slice(0, at), Number(key.slice(at + 1)), offset);
      } catch (err) {
        throw await this.failRoute(key, undefined, [], err);
      }
      await this.commitOpen(key, flush);
    }).catch((err: unknown) => this.o.log.warn({ input: key, err: String(err) }, 'could not write the flows a claim released: the partition continues from its committed held set'));
  }

  /** The router of an input partition: this member's, or made once however many ask at the same time. */
  private routerOf(topic: string, partition: number): Promise<Router> {
    const key = `${topic}:${partition}`;
    const have = this.routers.get(key);
    if (have !== undefined) return Promise.resolve(have);
    let making = this.makingRouters.get(key);
    if (making === undefined) {
      making = this.routerFor(topic, partition).finally(() => this.makingRouters.delete(key));
      this.makingRouters.set(key, making);
    }
    return making;
  }

  /** A router for an input partition, continuing from the state committed with its offset. */
  private async routerFor(topic: string, partition: number): Promise<Router> {
    const router = new Router(
      this.o.pipeline,
      (r) => {
        this.o.deadLetter.add(r);
        this.o.onReject?.(r);
      },
      this.o.addressTable,
      this.o.tenantTable.tenants,
    );
    const key = `${topic}:${partition}`;
    const epoch = this.epochOf(key);
    // Fence the partition's former owner first (its producer has the same transactional id): a member that
    // lost the partition without noticing (a missed session) can commit nothing after this, so the offset and
    // router state read next are final. Read before it, a late commit would be routed and counted twice.
    // kafkajs initialises the transactional id (InitProducerId, which fences) at the first transaction, not
    // at connect; an empty transaction is aborted without a request.
    const fencing = await this.routeProducer(key);
    await (await fencing.transaction()).abort();
    const admin = this.o.kafka.admin();
    await admin.connect();
    let offset = -1n;
    try {
      const [committed] = await admin.fetchOffsets({ groupId: this.groups.route, topics: [topic] });
      const p = committed?.partitions.find((x) => x.partition === partition);
      offset = p === undefined ? -1n : BigInt(p.offset);
      if (offset >= 0n) this.routedUpTo.set(key, offset);
      if (p?.metadata) {
        const parsed = RouterStateShape.safeParse(JSON.parse(p.metadata));
        if (parsed.success) router.restoreState(parsed.data as RouterState);
        else this.o.log.error({ topic, partition }, 'the router state committed with the offset is unreadable: its watermark starts afresh');
      }
    } finally {
      await admin.disconnect();
    }
    // The held set committed with that offset (the same transaction): final after the fence, once read to the end.
    await this.heldReader?.readToEnd();
    // Likewise the tenants the former owner admitted: read back before this router judges tenant_cap, or it
    // would count them as untracked and admit as many again (docs/scale-out.md, "tenant_cap").
    if (topic === this.o.pipeline.topics.tenantAttributes) await this.o.readTenantsToEnd();
    const held = offset >= 0n ? this.heldSets.get(key) : undefined;
    if (held !== undefined && held !== null) {
      try {
        router.restoreHeld(decodeSnapshotFile(held) as RouterHeld);
      } catch (err) {
        this.o.log.error({ topic, partition, err: String(err) }, `the held flows of ${key} in ${this.topics.held} are unreadable: they are lost (counted as never routed)`);
      }
    }
    // A join that took the partition away meanwhile forgot its route state (forgetRoute): kept, this router's
    // state and offset would be stale should the partition come back after another member routed on.
    if (this.epochOf(key) !== epoch || this.routeProducers.get(key) !== fencing) {
      this.routedUpTo.delete(key);
      throw new Error(`${key} moved to another member while its router was made`);
    }
    this.routers.set(key, router);
    // Held flows that claims read since their commit resolve now: written without waiting for a batch.
    if (router.heldDirty) this.flushRoute(key);
    return router;
  }

  /** One transactional producer per input partition: its id fences a former owner still writing (KIP-98). */
  private async routeProducer(key: string): Promise<Producer> {
    let producer = this.routeProducers.get(key);
    if (producer === undefined) {
      const epoch = this.epochOf(key);
      producer = this.o.kafka.producer({
        transactionalId: `${this.groups.route}-${key.replace(/[^a-zA-Z0-9._-]/g, '_')}`,
        transactionTimeout: TRANSACTION_TIMEOUT_MS,
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await producer.connect();
      // A join that took the partition away while this one connected forgot the partition's producer then:
      // set now, it would stay (and fence the new owner at its first transaction) as if the partition were ours.
      const made = this.routeProducers.get(key);
      if (this.epochOf(key) !== epoch || made !== undefined) {
        void producer.disconnect().catch(() => undefined);
        if (made !== undefined && this.epochOf(key) === epoch) return made;
        throw new ForgottenMeanwhile(`the route state of ${key} was forgotten while its producer connected`);
      }
      this.routeProducers.set(key, producer);
    }
    return producer;
  }

  /** The messages of a route transaction's records, by topic (none for a topic without records). */
  private routedMessagesOf(out: Routed[]): TopicMessages[] {
    const P = this.o.topology.partitions;
    // A message per partition and stretch between markers, placed as Kafka's default partitioner places the VM id.
    // The flows in route order go to the connections topic in the by-VM encoding, one message per transaction.
    const packed = packRoute(out, P, this.partitionOfVm);
    const byVm: Message[] = packed.byVm.map((m) => ({ partition: m.partition, value: m.value }));
    const tenants: Message[] = [];
    const addresses: Message[] = [];
    const hosts: Message[] = [];
    for (const r of out) {
      if (r.to === 'tenants') tenants.push({ key: r.key, value: r.value });
      else if (r.to === 'addresses') addresses.push({ key: r.key, value: r.value });
      else if (r.to === 'hosts') hosts.push({ key: r.key, value: r.value });
    }
    const topicMessages: TopicMessages[] = [];
    if (byVm.length > 0) topicMessages.push({ topic: this.topics.byVm, messages: byVm });
    if (tenants.length > 0) topicMessages.push({ topic: this.topics.tenants, messages: tenants });
    if (addresses.length > 0) topicMessages.push({ topic: this.topics.addresses, messages: addresses });
    if (hosts.length > 0) topicMessages.push({ topic: this.topics.hosts, messages: hosts });
    if (packed.connections !== null) topicMessages.push({ topic: this.topics.connections, messages: [{ partition: 0, value: packed.connections }] });
    return topicMessages;
  }
}
