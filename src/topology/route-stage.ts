/**
 * A member's route stage over Kafka (docs/scale-out.md): its consumer group over the input topics, one
 * router and one transactional producer per input partition, dead letters, and each batch's by-VM,
 * connections, addresses and tenants records written in one transaction with the input offset and the
 * router's state. The member runs it in a worker thread of its own (route-worker.ts), or in its own thread.
 */
import { type Consumer, type Kafka, type Message, Partitioners, type Producer, type TopicMessages } from 'kafkajs';
import type { RejectedRecord } from '../contract/rejections.ts';
import type { FleetState } from '../fleet/fleet-state.ts';
import { emptyHeldFlowCounters, type HeldFlowCounters } from '../attribution/held-flows.ts';
import type { DeadLetterProducer } from '../kafka/dead-letter.ts';
import type { KafkaLogger } from '../kafka/options.ts';
import type { PipelineConfig } from '../pipeline/pipeline.ts';
import { decodeSnapshotFile, encodeSnapshotFile } from '../snapshots/snapshot-file.ts';
import type { AddressTable } from './address-table.ts';
import { type ByVmRecord, encodeByVm, packByVm, partitionOfMemo } from './by-vm.ts';
import { type TopologyConfig, type TopologyTopics, topologyGroups, topologyTopics } from './config.ts';
import { type Routed, Router, type RouterHeld, type RouterState } from './router.ts';
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
  held: HeldStatus;
}

export function emptyRouteStatus(): RouteStatus {
  return { joined: false, routedMessages: 0, routedRecords: 0, routeTransactions: 0, held: { ...emptyHeldFlowCounters(), flows: 0, bytes: 0 } };
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
  private consumer: Consumer | null = null;
  private joined = false;
  private routedMessages = 0;
  private routedRecords = 0;
  private routeTransactions = 0;
  /** The by-VM partition of a VM id: computed once per VM, not per record (each flow names two). */
  private readonly partitionOfVm: (vmId: string) => number;

  constructor(private readonly o: RouteStageOptions) {
    this.partitionOfVm = partitionOfMemo(o.topology.partitions);
    this.topics = topologyTopics(o.topology.appId);
    this.groups = topologyGroups(o.topology.appId);
    // A claim reaching the table, from whichever member, releases the flows any router here holds at it.
    o.addressTable.onClaims = (ips) => {
      for (const [key, router] of this.routers) if (router.claimed(ips)) this.flushRoute(key);
    };
  }

  status(): RouteStatus {
    return { joined: this.joined, routedMessages: this.routedMessages, routedRecords: this.routedRecords, routeTransactions: this.routeTransactions, held: this.heldStatus() };
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
    });
    this.heldReader = held;
    await held.start();
    await this.startRoute();
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect().catch(() => undefined);
    // A flush of released flows may still be writing: its producer must not close under it.
    await this.routeTxns;
    await this.heldReader?.stop();
    await Promise.all([...this.routeProducers.values()].map((p) => p.disconnect().catch(() => undefined)));
  }

  private async startRoute(): Promise<void> {
    const { kafka, pipeline, topology } = this.o;
    const consumer = kafka.consumer({ groupId: this.groups.route, ...groupTiming(topology) });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      this.joined = true;
      const mine = new Set<string>();
      for (const [topic, parts] of Object.entries(e.payload.memberAssignment)) for (const p of parts) mine.add(`${topic}:${p}`);
      // A partition that moved away: its router and producer go (the new owner continues from the commit).
      for (const key of new Set([...this.routers.keys(), ...this.routeProducers.keys()])) if (!mine.has(key)) this.forgetRoute(key);
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
      eachBatch: async ({ batch, heartbeat }) => {
        if (batch.messages.length === 0) return;
        const key = `${batch.topic}:${batch.partition}`;
        const router = await beating(heartbeat, this.routerOf(batch.topic, batch.partition), groupTiming(this.o.topology).heartbeatInterval);
        // The consumer may fetch from an offset read before the previous owner's last commit: what that
        // commit covers is routed already (and counted in the router state read after it).
        const upTo = this.routedUpTo.get(key) ?? 0n;
        if (BigInt(batch.lastOffset()) < upTo) {
          await heartbeat();
          return;
        }
        await this.routeExclusive(async () => {
          // A router that moved away or failed while this batch waited: the next batch starts over.
          if (this.routers.get(key) !== router) throw new Error(`the router of ${key} was replaced while its batch waited`);
          const out: Routed[] = [];
          let messages = 0;
          for (const m of batch.messages) {
            if (BigInt(m.offset) < upTo) continue;
            messages++;
            router.route(batch.topic, m.value?.toString() ?? null, `${batch.topic}/${batch.partition}@${m.offset}`, out);
          }
          // Flows a claim released outside any batch go in this transaction too (route() took them first).
          router.takeReleased(out);
          router.endOfBatch(out);
          this.flushDue.delete(key);
          await this.commitRoute(key, router, batch.topic, batch.partition, BigInt(batch.lastOffset()) + 1n, out, messages);
        });
        await heartbeat();
      },
    });
  }

  /** The router and producer of an input partition go: it moved away, or a transaction on it failed. */
  private forgetRoute(key: string): void {
    this.routers.delete(key);
    this.routedUpTo.delete(key);
    const producer = this.routeProducers.get(key);
    this.routeProducers.delete(key);
    void producer?.disconnect().catch(() => undefined);
  }

  /** Runs `fn` once every route transaction before it has ended (whatever their outcome). */
  private routeExclusive(fn: () => Promise<void>): Promise<void> {
    const run = this.routeTxns.then(fn);
    this.routeTxns = run.catch(() => undefined);
    return run;
  }

  /**
   * One route transaction: the routed records, the router's held set when it changed, and the offset with
   * the router's state. Its state is taken before the first await: a claim read meanwhile changes the
   * router, and what it released goes in the next transaction (a flush), with that state.
   */
  private async commitRoute(key: string, router: Router, topic: string, partition: number, offset: bigint, out: Routed[], messages: number): Promise<void> {
    const metadata = JSON.stringify(router.exportState());
    const held = router.heldDirty ? router.exportHeld() : undefined;
    try {
      // Rejects first: a batch is committed only once its dead letters are written (at least once, as today).
      await this.o.deadLetter.flush();
      const producer = await this.routeProducer(key);
      const txn = await producer.transaction();
      try {
        const topicMessages = this.routedMessagesOf(out);
        if (held !== undefined) topicMessages.push({ topic: this.topics.held, messages: [{ key, value: held === null ? null : encodeSnapshotFile(held) }] });
        // One produce request for every topic of the transaction: each send is a round trip to the broker.
        if (topicMessages.length > 0) await txn.sendBatch({ topicMessages });
        // The router's state rides in the offset commit's metadata (kafkajs sends it, its types omit it).
        const committed = { partition, offset: offset.toString(), metadata };
        await txn.sendOffsets({ consumerGroupId: this.groups.route, topics: [{ topic, partitions: [committed] }] });
        await txn.commit();
        this.routedUpTo.set(key, offset);
        this.routeTransactions++;
        this.routedMessages += messages;
        for (const r of out) if (r.to === 'by-vm') this.routedRecords++;
        this.o.onCommitted?.();
      } catch (err) {
        await txn.abort().catch(() => undefined);
        throw err;
      }
    } catch (err) {
      // Nothing of it was written. Fenced or not, another member may have routed this partition meanwhile:
      // the next batch starts over from the committed offset, router state and held set (routerFor), or
      // the partition's new owner does.
      this.o.addressTable.notPublished(out.flatMap((r) => (r.to === 'addresses' ? [r.key] : [])));
      this.forgetRoute(key);
      throw retriable(err);
    }
  }

  /**
   * Writes what a claim released from an input partition's held flows, outside any batch of it: the same
   * offset again, with the router's new state and held set (the released flows may be the partition's
   * last records, and no batch would come to carry them).
   */
  private flushRoute(key: string): void {
    if (this.flushDue.has(key)) return;
    this.flushDue.add(key);
    this.routeExclusive(async () => {
      if (!this.flushDue.delete(key)) return;
      const router = this.routers.get(key);
      const offset = this.routedUpTo.get(key);
      // Not committed yet: the partition's first batch carries it.
      if (router === undefined || offset === undefined) return;
      const out: Routed[] = [];
      router.takeReleased(out);
      router.endOfBatch(out);
      const at = key.lastIndexOf(':');
      await this.commitRoute(key, router, key.slice(0, at), Number(key.slice(at + 1)), offset, out, 0);
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
    // Fence the partition's former owner first (its producer has the same transactional id): a member that
    // lost the partition without noticing (a missed session) can commit nothing after this, so the offset and
    // router state read next are final. Read before it, a late commit would be routed and counted twice.
    // kafkajs initialises the transactional id (InitProducerId, which fences) at the first transaction, not
    // at connect; an empty transaction is aborted without a request.
    await (await (await this.routeProducer(key)).transaction()).abort();
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
    this.routers.set(key, router);
    // Held flows that claims read since their commit resolve now: written without waiting for a batch.
    if (router.heldDirty) this.flushRoute(key);
    return router;
  }

  /** One transactional producer per input partition: its id fences a former owner still writing (KIP-98). */
  private async routeProducer(key: string): Promise<Producer> {
    let producer = this.routeProducers.get(key);
    if (producer === undefined) {
      producer = this.o.kafka.producer({
        transactionalId: `${this.groups.route}-${key.replace(/[^a-zA-Z0-9._-]/g, '_')}`,
        transactionTimeout: TRANSACTION_TIMEOUT_MS,
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await producer.connect();
      this.routeProducers.set(key, producer);
    }
    return producer;
  }

  /** The messages of a route transaction's records, by topic (none for a topic without records). */
  private routedMessagesOf(out: Routed[]): TopicMessages[] {
    const P = this.o.topology.partitions;
    // A message per partition and stretch between markers, placed as Kafka's default partitioner places the VM id.
    const byVm: Message[] = packByVm(out, P, this.partitionOfVm).map((m) => ({ partition: m.partition, value: m.value }));
    const tenants: Message[] = [];
    const addresses: Message[] = [];
    const hosts: Message[] = [];
    const connections: ByVmRecord[] = [];
    for (const r of out) {
      if (r.to === 'connections') connections.push({ k: 'f', o: true, r: r.flow, w: null, sa: null });
      else if (r.to === 'tenants') tenants.push({ key: r.key, value: r.value });
      else if (r.to === 'addresses') addresses.push({ key: r.key, value: r.value });
      else if (r.to === 'hosts') hosts.push({ key: r.key, value: r.value });
    }
    const topicMessages: TopicMessages[] = [];
    if (byVm.length > 0) topicMessages.push({ topic: this.topics.byVm, messages: byVm });
    if (tenants.length > 0) topicMessages.push({ topic: this.topics.tenants, messages: tenants });
    if (addresses.length > 0) topicMessages.push({ topic: this.topics.addresses, messages: addresses });
    if (hosts.length > 0) topicMessages.push({ topic: this.topics.hosts, messages: hosts });
    // The flows in route order, in the by-VM encoding: one message per transaction.
    if (connections.length > 0) topicMessages.push({ topic: this.topics.connections, messages: [{ partition: 0, value: encodeByVm(connections) }] });
    return topicMessages;
  }
}
