/**
 * Rejected records to dead-letter topics: `<source topic><suffix>` (e.g. `overlay-flows.rejected`), or a
 * catch-all topic when the source topic is not an input topic. `add` is synchronous so it can be the
 * pipeline's onReject; `flush` is awaited by the consumer before it commits a batch's offsets, so every
 * committed input message has its rejects durably (acks=all) in the DLQ.
 */
import type { Admin, Kafka, Message, Producer, TopicMessages } from 'kafkajs';
import type { RejectedRecord } from '../contract/rejections.ts';
import { type KafkaLogger, silentLogger } from './options.ts';

export interface DeadLetterOptions {
  /** Input topics whose rejects go to `<topic><suffix>`; any other topic goes to `catchAllTopic`. */
  sourceTopics: readonly string[];
  suffix?: string;
  catchAllTopic?: string;
  /**
   * Create DLQ topics with the admin API before their first use: clusters often disable
   * auto.create.topics.enable. Default true; a failure (e.g. no ACL to create) is logged and the send is
   * still tried, relying on auto creation.
   */
  createTopics?: boolean;
  partitions?: number;
  /** Default: min(3, brokers in the cluster). */
  replicationFactor?: number;
  logger?: KafkaLogger;
}

/** The JSON value of a dead-letter message. */
export interface DeadLetterValue {
  reason: string;
  field: string | null;
  message: string;
  topic: string;
  source: string;
  index: number | null;
  raw: string;
}

export class DeadLetterProducer {
  /** Messages accepted by the broker, per DLQ topic. */
  readonly sentByTopic = new Map<string, number>();
  private readonly producer: Producer;
  private readonly admin: Admin;
  private readonly suffix: string;
  private readonly catchAll: string;
  private readonly sources: Set<string>;
  private readonly logger: KafkaLogger;
  private readonly ensured = new Set<string>();
  private buffer: TopicMessage[] = [];
  /** Serialises flushes: a second flush waits for the first, then sends what arrived meanwhile. */
  private flushing: Promise<void> = Promise.resolve();
  private connected = false;

  /** Bound, so it can be handed to `new Pipeline(config, dlq.add)`. */
  readonly add = (r: RejectedRecord): void => {
    const topic = this.sources.has(r.topic) ? `${r.topic}${this.suffix}` : this.catchAll;
    const value: DeadLetterValue = {
      reason: r.reason,
      field: r.field,
      message: r.message,
      topic: r.topic,
      source: r.source,
      index: r.index,
      raw: r.raw,
    };
    this.buffer.push({
      topic,
      message: {
        // Keyed by the source position so the rejects of one message stay together, in order.
        key: r.source || null,
        value: JSON.stringify(value),
        headers: { reason: r.reason, 'source-topic': r.topic, source: r.source },
      },
    });
  };

  constructor(
    kafka: Kafka,
    private readonly options: DeadLetterOptions,
  ) {
    this.suffix = options.suffix ?? '.rejected';
    this.catchAll = options.catchAllTopic ?? `unknown${this.suffix}`;
    this.sources = new Set(options.sourceTopics);
    this.logger = options.logger ?? silentLogger;
    // acks=all on every send and no idempotence: a retried send may duplicate a DLQ entry, which is harmless,
    // while idempotence would need broker ACLs (IDEMPOTENT_WRITE) that many clusters do not grant.
    this.producer = kafka.producer({ allowAutoTopicCreation: true });
    this.admin = kafka.admin();
  }

  /** Rejects waiting for the next flush. */
  get pending(): number {
    return this.buffer.length;
  }

  /** The DLQ topic for a source topic. */
  topicFor(sourceTopic: string): string {
    return this.sources.has(sourceTopic) ? `${sourceTopic}${this.suffix}` : this.catchAll;
  }

  async connect(): Promise<void> {
    if (this.connected) return;
    await this.producer.connect();
    if (this.options.createTopics !== false) await this.admin.connect();
    this.connected = true;
  }

  /**
   * Sends everything buffered so far and resolves once the broker has it (acks=all). On failure the
   * messages stay buffered, in order, and the error is thrown: the caller retries, and must not commit.
   */
  flush(): Promise<void> {
    const run = this.flushing.then(() => this.sendBuffered());
    // The chain must survive a failed flush, or every later flush would fail too.
    this.flushing = run.catch(() => undefined);
    return run;
  }

  async disconnect(): Promise<void> {
    await this.flushing;
    if (this.buffer.length > 0) {
      this.logger.warn({ pending: this.buffer.length }, 'dead-letter producer disconnecting with unsent rejects');
    }
    await Promise.allSettled([this.producer.disconnect(), this.admin.disconnect()]);
    this.connected = false;
  }

  private async sendBuffered(): Promise<void> {
    if (this.buffer.length === 0) return;
    if (!this.connected) await this.connect();
    const taken = this.buffer;
    this.buffer = [];
    try {
      const byTopic = new Map<string, Message[]>();
      for (const { topic, message } of taken) {
        const list = byTopic.get(topic);
        if (list) list.push(message);
        else byTopic.set(topic, [message]);
      }
      await this.ensureTopics([...byTopic.keys()]);
      const topicMessages: TopicMessages[] = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
      await this.producer.sendBatch({ topicMessages, acks: -1 });
      for (const { topic, messages } of topicMessages) {
        this.sentByTopic.set(topic, (this.sentByTopic.get(topic) ?? 0) + messages.length);
      }
    } catch (err) {
      this.buffer = taken.concat(this.buffer);
      throw err;
    }
  }

  private async ensureTopics(topics: string[]): Promise<void> {
    const missing = topics.filter((t) => !this.ensured.has(t));
    if (missing.length === 0) return;
    if (this.options.createTopics === false) {
      for (const t of missing) this.ensured.add(t);
      return;
    }
    try {
      const existing = new Set(await this.admin.listTopics());
      const toCreate = missing.filter((t) => !existing.has(t));
      if (toCreate.length > 0) {
        let replicationFactor = this.options.replicationFactor;
        if (replicationFactor === undefined) {
          const cluster = await this.admin.describeCluster();
          replicationFactor = Math.max(1, Math.min(3, cluster.brokers.length));
        }
        const partitions = this.options.partitions ?? 1;
        // false (not an error) when another client created it first: fine either way.
        await this.admin.createTopics({
          waitForLeaders: true,
          topics: toCreate.map((topic) => ({ topic, numPartitions: partitions, replicationFactor })),
        });
        this.logger.info({ topics: toCreate, partitions, replicationFactor }, 'created dead-letter topics');
      }
      for (const t of missing) this.ensured.add(t);
    } catch (err) {
      // Not fatal: the send below may still succeed through auto creation; if it fails, flush throws.
      this.logger.warn({ topics: missing, err: (err as Error).message }, 'could not create dead-letter topics');
    }
  }
}

interface TopicMessage {
  topic: string;
  message: Message;
}
