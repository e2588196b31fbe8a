/**
 * Reads a topic from its beginning, every partition, as a table: the global tenants, the runs, the features
 * on the leader, a partition's checkpoints on a restore. A consumer group of its own (never committed), so
 * that every member reads everything; `caughtUp` resolves once it has read what the topic held at start.
 */
import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka } from 'kafkajs';
import { retrying } from './member.ts';

export interface TableMessage {
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
}

export class TopicReader {
  readonly caughtUp: Promise<void>;
  private done: () => void = () => {};
  private consumer: Consumer | null = null;
  private readonly groupId: string;
  private readonly remaining = new Map<number, bigint>();
  /** Per partition, the offset after the last batch fetched, transaction markers and aborted records included. */
  private readonly position = new Map<number, bigint>();
  private stopped = false;

  constructor(
    private readonly kafka: Kafka,
    readonly topic: string,
    groupPrefix: string,
    /** Awaited: a message decoded in slices is handled before the next, and before `caughtUp`. */
    private readonly onMessage: (m: TableMessage) => unknown,
    private readonly options: {
      /** Only these partitions count for `caughtUp` (all when absent). */
      partitions?: ReadonlySet<number>;
      /** A fetch's wait on an idle topic (TopologyConfig.readerWaitMs); kafkajs' default when absent. */
      maxWaitMs?: number | undefined;
    } = {},
  ) {
    this.groupId = `${groupPrefix}-${randomUUID()}`;
    this.caughtUp = new Promise((resolve) => {
      this.done = resolve;
    });
  }

  async start(): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      for (const o of await retrying(() => admin.fetchTopicOffsets(this.topic))) {
        if (this.options.partitions && !this.options.partitions.has(o.partition)) continue;
        if (BigInt(o.high) > BigInt(o.low)) this.remaining.set(o.partition, BigInt(o.high));
      }
    } finally {
      await admin.disconnect();
    }
    this.check();
    const wait = this.options.maxWaitMs === undefined ? {} : { maxWaitTimeInMs: this.options.maxWaitMs };
    const consumer = this.kafka.consumer({ groupId: this.groupId, sessionTimeout: 30_000, maxBytesPerPartition: 64 * 1024 * 1024, ...wait });
    this.consumer = consumer;
    // kafkajs reports a batch of only markers or aborted records here, never to eachBatch: a partition whose
    // tail is an aborted transaction (a fenced owner's checkpoint, a route transaction dropped at a rejoin)
    // is passed here or never, and a restore waiting for it waited for ever.
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      const after = BigInt(e.payload.lastOffset) + 1n;
      if (after > (this.position.get(e.payload.partition) ?? 0n)) this.position.set(e.payload.partition, after);
      this.passed(e.payload.partition, after);
    });
    await consumer.connect();
    await consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, heartbeat }) => {
        for (const m of batch.messages) {
          if (this.stopped) return;
          await this.onMessage({ partition: batch.partition, offset: m.offset, key: m.key?.toString() ?? null, value: m.value });
        }
        this.passed(batch.partition, BigInt(batch.lastOffset()) + 1n);
        await heartbeat();
      },
    });
  }

  /** Resolves once this reader has passed the topic's end as it is now (read after a fence: final). */
  async readToEnd(): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    const ends = await admin.fetchTopicOffsets(this.topic).finally(() => admin.disconnect());
    const behind = () => ends.some((o) => BigInt(o.high) > BigInt(o.low) && (this.position.get(o.partition) ?? 0n) < BigInt(o.high));
    while (behind() && !this.stopped) await new Promise((r) => setTimeout(r, 100));
  }

  /** The reader has handled `partition` up to `after`: lastOffset counts transaction markers too, so at the high watermark once everything committed is read. */
  private passed(partition: number, after: bigint): void {
    const until = this.remaining.get(partition);
    if (until === undefined || after < until) return;
    this.remaining.delete(partition);
    this.check();
  }

  private check(): void {
    if (this.remaining.size === 0) this.done();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const consumer = this.consumer;
    this.consumer = null;
    if (consumer === null) return;
    await consumer.disconnect().catch(() => undefined);
    // The group was this reader's alone: leave no trace of it on the cluster.
    const admin = this.kafka.admin();
    await admin
      .connect()
      .then(() => admin.deleteGroups([this.groupId]))
      .catch(() => undefined)
      .finally(() => admin.disconnect().catch(() => undefined));
  }
}
