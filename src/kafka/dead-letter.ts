/**
 * Rejected records to dead-letter topics: `<source topic><suffix>` (e.g. `overlay-flows.rejected`), or a
 * catch-all topic when the source topic is not an input topic. `add` is synchronous so it can be the
 * pipeline's onReject; `flush` is awaited by the consumer before it commits a batch's offsets, so every
 * committed input message has its rejects durably (acks=all) in the DLQ.
 *
 * A flush is cut into sends that each stay under the topic's `max.message.bytes` (read from the broker; a
 * send larger than that is refused as a whole, however often it is retried), and a reject too big even alone
 * keeps only an excerpt of its text. A failure that no retry can cure (no ACL to write the topic, a message
 * the broker refuses) is thrown as a DeadLetterError with `retriable: false`, for the consumer to report.
 */
import type { Admin, ConfigResourceTypes, Kafka, Message, Producer } from 'kafkajs';
import type { KafkaSettings } from '../config/kafka-settings.ts';
import type { RejectedRecord } from '../contract/rejections.ts';
import { ServiceError } from '../errors/catalogue.ts';
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
  /**
   * Upper bound of one send (a record batch), in bytes. Each topic's own `max.message.bytes` is read with
   * describeConfigs and the smaller of the two is used; when it cannot be read (no DESCRIBE_CONFIGS ACL),
   * this value, default DEFAULT_MAX_MESSAGE_BYTES (below Kafka's default of 1,048,588).
   */
  maxMessageBytes?: number;
  logger?: KafkaLogger;
}

/** Below Kafka's default `message.max.bytes` (1,048,588): a safe limit when the topic's cannot be read. */
const DEFAULT_MAX_MESSAGE_BYTES = 1_000_000;
/** The longest excerpt of its text a reject too big to send whole keeps, in characters. */
export const EXCERPT_MAX_CHARS = 4096;
/** kafkajs' ConfigResourceTypes.TOPIC: its enum is not among the named exports Node's ESM loader sees. */
const TOPIC_RESOURCE = 2 as ConfigResourceTypes;
/** The smallest send a refused guess of the limit is halved down to. */
const MIN_SEND_BYTES = 4096;
/** A record batch's own header (magic 2): its size counts against max.message.bytes too. */
const BATCH_OVERHEAD_BYTES = 61;

/** The JSON value of a dead-letter message. */
export interface DeadLetterValue {
  reason: string;
  field: string | null;
  message: string;
  topic: string;
  source: string;
  index: number | null;
  raw: string;
  /**
   * Only when the reject was too big for the dead-letter topic even alone: `raw` is then an excerpt of
   * the text, and this is the length in characters of the text it was cut from.
   */
  raw_chars?: number;
}

/**
 * Why a flush failed. `retriable: false` when retrying cannot help until an operator acts (an ACL, a size
 * limit): `code` is Kafka's error name, e.g. TOPIC_AUTHORIZATION_FAILED or MESSAGE_TOO_LARGE.
 */
export class DeadLetterError extends ServiceError {
  constructor(
    message: string,
    readonly code: string,
    readonly retriable: boolean,
    readonly topic: string | null,
    options?: { cause?: unknown },
  ) {
    super('dead_letter_failed', message, options);
    this.name = 'DeadLetterError';
  }
}

/**
 * Why dead letters cannot be written for now: the latest failure no retry cures, and since when they could
 * not be. Plain data: a member's route worker posts it to the main thread for /readyz.
 */
export interface DeadLetterBlocked {
  code: string;
  message: string;
  topic: string | null;
  /** Wall-clock ms of the first failure since the last flush that wrote everything. */
  since: number;
}

/**
 * The /readyz sentence of input held by its dead letters: what failed, what it means for the records, what
 * to do, and how it is retried (`retried`, e.g. "every 60 s"). One wording for the single process and a member.
 */
export function deadLetterHeldReason({ code, message, topic, since }: DeadLetterBlocked, retried: string): string {
  const where = topic ?? 'the dead-letter topic';
  const fix =
    code === 'MESSAGE_TOO_LARGE' || code === 'RECORD_LIST_TOO_LARGE'
      ? `raise max.message.bytes of ${where}`
      : /AUTHORIZATION/.test(code)
        ? `grant the service's Kafka user WRITE (and DESCRIBE) on ${where}`
        : `fix the cause on the broker`;
  return (
    `rejects cannot be written to ${where} since ${new Date(since).toISOString()}: ${code} (${message}); ` +
    `consuming is held and the records stay uncommitted (nothing is lost); ${fix}: it is retried ${retried}`
  );
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
  private readonly createWarned = new Set<string>();
  /** Bytes one send may hold, per DLQ topic, once learned (forgotten when the broker says it is too large). */
  private readonly limits = new Map<string, SendLimit>();
  private buffer: TopicMessage[] = [];
  /** Serialises flushes: a second flush waits for the first, then sends what arrived meanwhile. */
  private flushing: Promise<void> = Promise.resolve();
  private connected = false;
  private blockedBy: DeadLetterBlocked | null = null;

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
    this.buffer.push({ topic, value, message: deadLetterMessage(value) });
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

  /**
   * Set once a flush failed for a reason no retry cures (an ACL, a size the broker refuses), null again once
   * a flush wrote everything: a caller that holds its input on the flush (a member's route) says so on /readyz.
   */
  get blocked(): DeadLetterBlocked | null {
    return this.blockedBy;
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
    // Also for the topics' size limits (describeConfigs), not only to create them.
    await this.admin.connect();
    this.connected = true;
  }

  /**
   * Sends everything buffered so far and resolves once the broker has it (acks=all). On failure the
   * messages stay buffered, in order, and the error is thrown: the caller retries, and must not commit.
   */
  flush(): Promise<void> {
    const run = this.flushing
      .then(() => this.sendBuffered())
      .then(
        () => {
          this.blockedBy = null;
        },
        (err: unknown) => {
          const failure = toDeadLetterError(err, null);
          if (!failure.retriable) this.blockedBy = { code: failure.code, message: failure.message, topic: failure.topic, since: this.blockedBy?.since ?? Date.now() };
          throw err;
        },
      );
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
    if (!this.connected) await this.connect().catch((err: unknown) => Promise.reject(toDeadLetterError(err, null)));
    const taken = this.buffer;
    this.buffer = [];
    const sent = new Set<TopicMessage>();
    let topic: string | null = null;
    try {
      const byTopic = new Map<string, TopicMessage[]>();
      for (const m of taken) {
        const list = byTopic.get(m.topic);
        if (list) list.push(m);
        else byTopic.set(m.topic, [m]);
      }
      await this.ensureTopics([...byTopic.keys()]);
      for (const [t, entries] of byTopic) {
        topic = t;
        for (;;) {
          const limit = await this.limitFor(t);
          try {
            for (const chunk of splitUnder(entries.filter((m) => !sent.has(m)), limit.bytes, this.logger)) {
              await this.producer.send({ topic: t, messages: chunk.map((m) => m.message), acks: -1 });
              for (const m of chunk) sent.add(m);
              this.sentByTopic.set(t, (this.sentByTopic.get(t) ?? 0) + chunk.length);
            }
            break;
          } catch (err) {
            // A limit not read from the broker is a guess: halve it and go on, down to MIN_SEND_BYTES.
            if (toDeadLetterError(err, t).code !== 'MESSAGE_TOO_LARGE' || limit.learned || limit.bytes <= MIN_SEND_BYTES) throw err;
            const smaller = Math.max(MIN_SEND_BYTES, Math.floor(limit.bytes / 2));
            this.limits.set(t, { bytes: smaller, learned: false });
            this.logger.warn({ topic: t, refused: limit.bytes, limit: smaller }, `${t} refused a send of up to ${limit.bytes} bytes: sending at most ${smaller}`);
          }
        }
      }
    } catch (err) {
      // What was sent stays sent (a retry would only duplicate it); the rest waits, in order.
      this.buffer = taken.filter((m) => !sent.has(m)).concat(this.buffer);
      const failure = toDeadLetterError(err, topic);
      // The topic's limit may have been lowered since it was read: read it again before the next try.
      if (failure.code === 'MESSAGE_TOO_LARGE' && topic !== null && this.limits.get(topic)?.learned) this.limits.delete(topic);
      throw failure;
    }
  }

  /**
   * The bytes one send to `topic` may hold: its max.message.bytes, capped by the configured bound; when it
   * cannot be read, the bound (learned: false, so a refusal halves it).
   */
  private async limitFor(topic: string): Promise<SendLimit> {
    const known = this.limits.get(topic);
    if (known !== undefined) return known;
    const bound = this.options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    let limit: SendLimit = { bytes: bound, learned: false };
    try {
      const described = await this.admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: TOPIC_RESOURCE, name: topic, configNames: ['max.message.bytes'] }],
      });
      const entry = described.resources[0]?.configEntries.find((c) => c.configName === 'max.message.bytes');
      const value = Number(entry?.configValue);
      if (Number.isSafeInteger(value) && value > 0) {
        limit = { bytes: this.options.maxMessageBytes === undefined ? value : Math.min(value, this.options.maxMessageBytes), learned: true };
        this.logger.debug({ topic, max_message_bytes: value, limit: limit.bytes }, 'dead-letter topic size limit');
      }
    } catch (err) {
      this.logger.warn(
        { topic, err: (err as Error).message, limit: limit.bytes },
        `cannot read max.message.bytes of ${topic} (describeConfigs); dead letters are sent in batches of at most ${limit.bytes} bytes, halved if the broker refuses them`,
      );
    }
    this.limits.set(topic, limit);
    return limit;
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
      // Not fatal: the send below may still succeed through auto creation; if it fails, flush throws. Tried
      // again at the next flush, but said once: a missing ACL would otherwise repeat it at every retry.
      const fresh = missing.filter((t) => !this.createWarned.has(t));
      for (const t of fresh) this.createWarned.add(t);
      this.logger[fresh.length > 0 ? 'warn' : 'debug']({ topics: missing, err: (err as Error).message }, 'could not create dead-letter topics');
    }
  }
}

interface SendLimit {
  bytes: number;
  /** Read from the topic's config (else the configured or default bound: a guess). */
  learned: boolean;
}

/** A buffered dead letter: its topic, its value, and the Kafka message made of it. */
export interface TopicMessage {
  topic: string;
  value: DeadLetterValue;
  message: Message;
}

function deadLetterMessage(value: DeadLetterValue): Message {
  return {
    // Keyed by the source position so the rejects of one message stay together, in order.
    key: value.source || null,
    value: JSON.stringify(value),
    headers: { reason: value.reason, 'source-topic': value.topic, source: value.source },
  };
}

const utf8 = (s: string | Buffer | null | undefined): number => (s == null ? 0 : typeof s === 'string' ? Buffer.byteLength(s) : s.length);

/**
 * An upper bound of a message's size in a record batch (format v2): the varints at their widest (length 5,
 * timestamp delta 10, offset delta 5, key and value lengths 5 each, header count 5) around the bytes.
 */
export function recordBytes(m: Message): number {
  let n = 5 + 1 + 10 + 5 + 5 + utf8(m.key) + 5 + utf8(m.value as string | Buffer | null) + 5;
  for (const [k, v] of Object.entries(m.headers ?? {})) n += 5 + utf8(k) + 5 + utf8(typeof v === 'string' || Buffer.isBuffer(v) ? v : null);
  return n;
}

/**
 * Consecutive runs of messages whose record batch stays within `limit` bytes, in order. A message too big
 * even alone is replaced by one that keeps an excerpt of its text (see excerpt()).
 */
export function splitUnder(entries: readonly TopicMessage[], limit: number, logger: KafkaLogger = silentLogger): TopicMessage[][] {
  const room = limit - BATCH_OVERHEAD_BYTES;
  const chunks: TopicMessage[][] = [];
  let chunk: TopicMessage[] = [];
  let bytes = 0;
  for (const entry of entries) {
    let size = recordBytes(entry.message);
    if (size > room) {
      const cut = excerpt(entry.value, room);
      logger.warn(
        { topic: entry.topic, reason: entry.value.reason, source: entry.value.source, bytes: size, limit, excerpt_chars: cut.raw.length },
        `a dead letter of ${size} bytes exceeds the topic's ${limit}: its text is cut to an excerpt`,
      );
      // In place: should the send fail, the buffer keeps the excerpt.
      entry.value = cut;
      entry.message = deadLetterMessage(cut);
      size = recordBytes(entry.message);
    }
    if (chunk.length > 0 && bytes + size > room) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(entry);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/**
 * The dead letter with its text cut to the longest prefix (at most EXCERPT_MAX_CHARS) with which the
 * message fits in `room` bytes; reason, field, message, topic, source and index are kept whole.
 */
export function excerpt(value: DeadLetterValue, room: number): DeadLetterValue {
  const chars = value.raw_chars ?? value.raw.length;
  const sized = (n: number): DeadLetterValue => ({ ...value, raw: value.raw.slice(0, n), raw_chars: chars });
  let lo = 0;
  let hi = Math.min(EXCERPT_MAX_CHARS, value.raw.length);
  if (recordBytes(deadLetterMessage(sized(hi))) <= room) return sized(hi);
  // Escaping makes bytes per character uneven: search the longest prefix that fits.
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (recordBytes(deadLetterMessage(sized(mid))) <= room) lo = mid;
    else hi = mid - 1;
  }
  // Never half of a surrogate pair.
  const code = value.raw.charCodeAt(lo - 1);
  return sized(code >= 0xd800 && code <= 0xdbff ? lo - 1 : lo);
}

interface KafkaErrorLike {
  name?: unknown;
  type?: unknown;
  retriable?: unknown;
  message?: unknown;
  cause?: unknown;
  errors?: unknown;
}

/**
 * A kafkajs error as a DeadLetterError. kafkajs wraps the broker's error (a KafkaJSNonRetriableError around
 * the protocol error, or KafkaJSNumberOfRetriesExceeded around a retriable one): the innermost cause decides.
 */
export function toDeadLetterError(err: unknown, topic: string | null): DeadLetterError {
  if (err instanceof DeadLetterError) return err;
  let e = err as KafkaErrorLike | null | undefined;
  for (let depth = 0; depth < 10 && e && typeof e === 'object'; depth++) {
    const inner = e.cause ?? (Array.isArray(e.errors) ? (e.errors as unknown[]).find((x) => (x as KafkaErrorLike).retriable === false) ?? e.errors[0] : undefined);
    if (!inner || typeof inner !== 'object') break;
    e = inner as KafkaErrorLike;
  }
  const root = e && typeof e === 'object' ? e : {};
  const message = typeof root.message === 'string' ? root.message : String(err);
  const code = typeof root.type === 'string' ? root.type : typeof root.name === 'string' ? root.name : 'Error';
  // Only the broker's own verdicts (protocol errors: an ACL, a size) are final; a timeout, a lost connection
  // or a client-side failure may pass, and is retried.
  const final = root.retriable === false && typeof root.type === 'string';
  return new DeadLetterError(message, code, !final, topic, { cause: err });
}

/** The service's dead-letter producer from its Kafka settings: the one place the settings map to its options. */
export function deadLetterProducerFor(kafka: Kafka, settings: KafkaSettings, logger: KafkaLogger): DeadLetterProducer {
  const topics = settings.topics;
  return new DeadLetterProducer(kafka, {
    sourceTopics: [topics.flows, topics.vmAttributes, topics.tenantAttributes],
    suffix: settings.dlqSuffix,
    catchAllTopic: settings.dlqCatchAllTopic,
    ...(settings.dlqMaxMessageBytes === undefined ? {} : { maxMessageBytes: settings.dlqMaxMessageBytes }),
    logger,
  });
}
