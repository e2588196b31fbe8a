/**
 * The service's one Kafka consumer: one group, the three input topics, at-least-once.
 *
 * Per batch: onBatch (the pipeline applies the messages), then the dead-letter producer's flush, then an
 * explicit commit of last offset + 1 per partition. A crash anywhere before the commit re-delivers the batch
 * (records may count twice, never zero times). Large batches are handed over in slices with a heartbeat
 * after each, and a commit after a slice once `commitIntervalMs` have passed since the batch's last one (and
 * always at the batch's end), so a long batch neither loses group membership nor redoes more than about that
 * interval's work after a rebalance, while a fetched batch of thousands of messages pays one commit round
 * trip, not one per slice.
 *
 * With `commits: 'external'` (the service with snapshots) nothing is committed per batch: the consumer
 * tracks the next offset applied per partition, skips messages below it (redelivered after a restart or a
 * rebalance), seeks to it on every group join, and commits only what the caller hands to commit() — the
 * offsets stored with a durable snapshot of the state they produced. That makes the state exact across a
 * crash: records after the snapshot are applied once, records before it are never applied again.
 *
 * Broker outages: kafkajs retries with backoff and restarts the consumer itself (restartOnFailure); for the
 * crashes it will not restart from (non-retriable errors, failed connects) a supervisor loop here
 * reconnects with backoff until stop(). Nothing here throws into the process.
 */
import { type Consumer, type EachBatchPayload, Kafka, type KafkaMessage } from 'kafkajs';
import type { PartitionOffset } from '../contract/topics.ts';
import { type DeadLetterError, type DeadLetterProducer, toDeadLetterError } from './dead-letter.ts';
import type { KafkaSettings } from '../config/kafka-settings.ts';
import type { PartitionWatermarks } from '../pipeline/partition-watermarks.ts';
import { defaultRetry, describeKafkaError, type KafkaLogger, silentLogger, toKafkaConfig } from './options.ts';

export interface ConsumedMessage {
  topic: string;
  partition: number;
  /** Kafka offsets are 64-bit: kept as the decimal string kafkajs gives. */
  offset: string;
  /** The value as UTF-8 text; null for a tombstone (null value). */
  value: string | null;
  key: string | null;
}

export interface PartitionLag {
  topic: string;
  partition: number;
  /** Log end offset seen with the latest batch. */
  highWatermark: number;
  /** Next offset the group will read (last committed + 1); null before the first commit by this member. */
  committed: number | null;
  /** highWatermark - committed (or - first offset seen, before any commit). */
  lag: number;
}

export interface FlowConsumerOptions {
  kafka: KafkaSettings;
  /**
   * Applies messages; the commit waits for it (and for a returned promise). A throw re-delivers the slice.
   * With external commits it must apply them synchronously: the offsets count as applied when it returns.
   * `logEnd`: the partition's log end offset as the fetch reported it (past a closing commit marker: the
   * offset after the batch's last message). A number returned is how many of the
   * messages it applied, the first ones: the rest of the batch is left to a later fetch (a partition read
   * too far ahead of the others waits for them, src/pipeline/partition-watermarks.ts).
   */
  onBatch: (messages: ConsumedMessage[], logEnd: string) => void | number | Promise<void>;
  /** Called on every (re)join of the group with the partitions it assigns this member, by topic. */
  onAssigned?: (assignment: Record<string, number[]>) => void;
  /** 'per-batch' (default): commit after every slice. 'external': only through commit(), see above. */
  commits?: 'per-batch' | 'external';
  /** External commits: the offsets a restored snapshot holds; earlier messages are skipped. */
  resumeFrom?: readonly PartitionOffset[];
  /**
   * External commits: a partition's log ends below the offset applied (the topic was recreated, or
   * truncated by an unclean leader election, while running or since the snapshot). Its messages are then
   * applied, not skipped: nothing new is dropped, records re-read from a truncated log may count twice.
   */
  onOffsetsBehind?: (p: { topic: string; partition: number; applied: string; logEnd: string }) => void;
  /** Called on every (re)join of the group, e.g. to flip readiness. */
  onReady?: () => void;
  /** Flushed before every commit, so committed input has its rejects in the DLQ. */
  deadLetter?: Pick<DeadLetterProducer, 'flush'>;
  /**
   * Every flush that failed for a reason no retry cures (DeadLetterError with retriable false: no ACL to
   * write the topic, a message the broker refuses). The batch stays uncommitted and unfinished meanwhile.
   */
  onDeadLetterFailure?: (err: DeadLetterError) => void;
  /**
   * The dead-letter topic became unwritable (the first such failure) or writable again (null): consumption
   * is held until then, e.g. to flip readiness.
   */
  onDeadLetterBlocked?: (blocked: DeadLetterBlock | null) => void;
  /** While the dead-letter topic is unwritable, how often the flush is tried again. Default 60 s. */
  deadLetterRecheckMs?: number;
  logger?: KafkaLogger;
  /** Messages per onBatch call; a heartbeat follows each call. Default 2000. */
  maxMessagesPerCall?: number;
  /**
   * Per-batch commits: within one fetched batch, the slices applied are committed once this long has
   * passed since the batch's last commit (or its start); the batch's end always commits. Default 1000 ms.
   */
  commitIntervalMs?: number;
  /** Default 30 s: how long the group waits for a silent member. */
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** Per-partition fetch cap; default 4 MiB (kafkajs' 1 MiB default starves array messages). */
  maxBytesPerPartition?: number;
  /** Longest wait for a fetch to fill; bounds the end-to-end latency when traffic is light. Default 500 ms. */
  maxWaitTimeInMs?: number;
  /** Supervisor back-off after a crash kafkajs does not recover from. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
}

/** Why consumption is held: the dead letters of the current batch cannot be written. */
export interface DeadLetterBlock {
  error: DeadLetterError;
  /** Wall-clock ms of the first failure. */
  since: number;
}

export interface FlowConsumer {
  /** True while a member of the group with partitions assigned (or ready for them). */
  readonly connected: boolean;
  /** Resolves at the first successful group join; never rejects (outages are retried). */
  ready(): Promise<void>;
  lag(): PartitionLag[];
  /** Messages handed to onBatch and committed, since start. */
  readonly messagesCommitted: number;
  /** Commits that failed (the messages will be re-delivered to whoever owns the partition next). */
  readonly commitFailures: number;
  /** Messages skipped because the state already held them (external commits). */
  readonly messagesSkipped: number;
  /** Set while the current batch's dead letters cannot be written for a reason no retry cures. */
  readonly deadLetterBlocked: DeadLetterBlock | null;
  /** External commits: next offset applied per partition, including those restored. */
  appliedOffsets(): PartitionOffset[];
  /**
   * Runs `fn` while no batch is being applied, and applies none until it settles: state and applied
   * offsets stay one consistent moment for as long as `fn` needs (a snapshot encoded in slices).
   */
  exclusive<T>(fn: () => T | Promise<T>): Promise<T>;
  /** External commits: commits these offsets for the group; rejects when not connected (retry later). */
  commit(offsets: readonly PartitionOffset[]): Promise<void>;
  /**
   * Finishes the in-flight batch, commits it (per-batch mode), leaves the group. Idempotent.
   * `beforeLeave` runs after the last batch is applied and before the group is left: the place for a final
   * snapshot and its commit().
   */
  stop(beforeLeave?: () => Promise<void>): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Heartbeat errors that mean this member must give its batch up and rejoin the group. */
const GROUP_LOST = new Set(['REBALANCE_IN_PROGRESS', 'UNKNOWN_MEMBER_ID', 'ILLEGAL_GENERATION', 'FENCED_INSTANCE_ID']);

export function startFlowConsumer(options: FlowConsumerOptions): FlowConsumer {
  const settings = options.kafka;
  const logger = options.logger ?? silentLogger;
  const perCall = Math.max(1, options.maxMessagesPerCall ?? 2000);
  const commitIntervalMs = options.commitIntervalMs ?? 1000;
  const topics = [settings.topics.flows, settings.topics.vmAttributes, settings.topics.tenantAttributes];
  if (settings.hostAttributesTopic !== undefined) topics.push(settings.hostAttributesTopic);
  // Short retries per operation (about 10 s in all): a failed connect comes back to the supervisor soon,
  // so stop() is never stuck behind minutes of connect retries, and the supervisor does the long back-off.
  // restartOnFailure: the consumer restarts itself after any retriable crash, however many.
  const retry = { ...defaultRetry, retries: 5, maxRetryTime: 5000, restartOnFailure: async () => true };
  const kafka = new Kafka(toKafkaConfig(settings, { logger, retry }));

  const external = options.commits === 'external';
  const partitionKey = (topic: string, partition: number): string => `${topic}\0${partition}`;
  /** External commits: next offset applied per partition. */
  const applied = new Map<string, { topic: string; partition: number; next: bigint }>();
  for (const o of options.resumeFrom ?? []) applied.set(partitionKey(o.topic, o.partition), { topic: o.topic, partition: o.partition, next: BigInt(o.next) });
  let messagesSkipped = 0;
  let deadLetterBlocked: DeadLetterBlock | null = null;
  /** The batch being applied, so that stop() can wait for it before a final snapshot. */
  let inFlight: Promise<void> = Promise.resolve();

  const lagState = new Map<string, PartitionLag>();
  let connected = false;
  let stopping = false;
  let messagesCommitted = 0;
  let commitFailures = 0;
  let consumer: Consumer | null = null;
  let resolveReady: () => void = () => {};
  const readyPromise = new Promise<void>((r) => {
    resolveReady = r;
  });
  /** Woken when the current consumer crashes for good or stop() is called. */
  let wake: () => void = () => {};
  let signalStop: () => void = () => {};
  const stopSignal = new Promise<void>((r) => {
    signalStop = r;
  });

  const noteLag = (topic: string, partition: number, highWatermark: string, committed: number | null, first: number): void => {
    const key = `${topic}\0${partition}`;
    const prev = lagState.get(key);
    const hw = Number(highWatermark);
    const c = committed ?? prev?.committed ?? null;
    lagState.set(key, { topic, partition, highWatermark: hw, committed: c, lag: Math.max(0, hw - (c ?? first)) });
  };

  /** External commits: the lag figure follows what is committed, as in per-batch mode. */
  const noteCommitted = (topic: string, partition: number, next: number): void => {
    const l = lagState.get(partitionKey(topic, partition));
    if (!l) return;
    if (l.committed !== null && next > l.committed) messagesCommitted += next - l.committed;
    l.committed = next;
    l.lag = Math.max(0, l.highWatermark - next);
  };

  const eachBatch = (payload: EachBatchPayload): Promise<void> => {
    const run = inFlight.then(() => applyBatch(payload));
    inFlight = run.catch(() => undefined);
    return run;
  };

  const applyBatch = async (payload: EachBatchPayload): Promise<void> => {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    const { topic, partition } = batch;
    const first = batch.messages[0];
    if (!first) return;
    noteLag(topic, partition, batch.highWatermark, null, Number(first.offset));
    const key = partitionKey(topic, partition);
    // Where the partition's records end for the handler: a batch that reaches the log end may close on a
    // transaction's commit marker, which no message follows; past its last message the partition is caught up.
    const lastMessage = batch.messages[batch.messages.length - 1];
    const logEnd =
      lastMessage !== undefined && BigInt(batch.lastOffset()) + 1n >= BigInt(batch.highWatermark) ? (BigInt(lastMessage.offset) + 1n).toString() : batch.highWatermark;
    /** Per-batch mode: the slices applied (and flushed) but not committed yet, and when the batch last committed. */
    const uncommitted = { next: '', messages: 0 };
    let committedAt = performance.now();
    const commit = async (): Promise<void> => {
      const { next, messages } = uncommitted;
      if (messages === 0) return;
      uncommitted.messages = 0;
      committedAt = performance.now();
      try {
        // autoCommit is off: commitOffsetsIfNecessary() would do nothing, so commit the explicit offset.
        await payload.commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset: next }] }] });
        messagesCommitted += messages;
        noteLag(topic, partition, batch.highWatermark, Number(next), Number(first.offset));
      } catch (err) {
        // Swallowed: a later commit on this partition covers these offsets; if the partition moves to
        // another member first, it re-reads them (at-least-once).
        commitFailures++;
        logger.warn({ topic, partition, offset: next, err: (err as Error).message }, 'offset commit failed');
      }
    };
    /** Leaving the batch early: what was applied is committed unless the partition is no longer this member's. */
    const leave = async (): Promise<void> => {
      if (!isStale()) await commit();
    };
    try {
      for (let start = 0; start < batch.messages.length; start += perCall) {
        // After a rebalance or seek these messages are someone else's (or stale): leave them uncommitted.
        if (!isRunning() || isStale()) return leave();
        let slice = batch.messages.slice(start, start + perCall);
        let last = slice[slice.length - 1];
        if (!last) continue;
        /** Applied by the handler: those handed to it, or the first ones when it stopped early. */
        let cut = false;
        const keep = (done: void | number | Promise<void>, handed: ConsumedMessage[]): void => {
          if (typeof done !== 'number' || done >= handed.length) return;
          cut = true;
          last = handed[done - 1] === undefined ? undefined : slice[slice.length - handed.length + done - 1];
        };
        if (external) {
          let done = applied.get(key)?.next;
          if (done !== undefined && BigInt(batch.highWatermark) < done) {
            // Offsets went backwards under us: these are other records than those applied, not a redelivery.
            logger.error(
              { topic, partition, applied: done.toString(), logEnd: batch.highWatermark },
              `Kafka offsets went backwards on ${topic}/${partition}: the log ends at ${batch.highWatermark}, below the ${done} already applied (topic recreated or truncated); applying its messages instead of skipping them`,
            );
            options.onOffsetsBehind?.({ topic, partition, applied: done.toString(), logEnd: batch.highWatermark });
            applied.delete(key);
            done = undefined;
          }
          if (done !== undefined) {
            const before = slice.length;
            slice = slice.filter((m) => BigInt(m.offset) >= done);
            const skipped = before - slice.length;
            if (skipped > 0) {
              messagesSkipped += skipped;
              logger.info({ topic, partition, skipped, below: done.toString() }, 'skipped messages the state already holds (redelivered below the applied offset)');
            }
          }
          if (slice.length > 0) {
            // Synchronous by contract: the offsets are recorded in the same turn the state changed.
            const handed = slice.map((m) => toConsumed(topic, partition, m));
            const pending = options.onBatch(handed, logEnd);
            keep(pending, handed);
            if (last !== undefined) applied.set(key, { topic, partition, next: BigInt(last.offset) + 1n });
            await pending;
          }
        } else {
          const handed = slice.map((m) => toConsumed(topic, partition, m));
          keep(await options.onBatch(handed, logEnd), handed);
        }
        // The handler stopped early: what it applied is committed, the rest is fetched again later.
        if (last === undefined) return leave();
        // Not flushed (stopping, or the partition moved on): the slice stays uncommitted, read again later.
        if (options.deadLetter && !(await flushUntilDone(options.deadLetter, heartbeat, () => isRunning() && !isStale()))) return leave();
        resolveOffset(last.offset);
        // External commits happen with snapshots (commit()); here only the per-batch mode commits.
        if (!external) {
          uncommitted.next = (BigInt(last.offset) + 1n).toString();
          uncommitted.messages += slice.length;
          if (cut || start + perCall >= batch.messages.length || performance.now() - committedAt >= commitIntervalMs) await commit();
        }
        await heartbeat();
        if (cut) return;
      }
    } catch (err) {
      // A throw (the handler's, a heartbeat's) re-delivers the slice it came from, as when every slice
      // committed: the slices applied before it are committed first.
      await leave();
      throw err;
    }
  };

  /**
   * The DLQ must hold a batch's rejects before its commit: retried until it does, keeping the group
   * membership meanwhile. True once flushed; false when the batch is to be left uncommitted (stop(), a
   * rebalance). A failure no retry cures (an ACL, a size limit) is reported once, and then tried only every
   * deadLetterRecheckMs, so that an operator's fix resumes the input without a restart.
   */
  const flushUntilDone = async (dlq: Pick<DeadLetterProducer, 'flush'>, heartbeat: () => Promise<void>, current: () => boolean): Promise<boolean> => {
    const recheckMs = options.deadLetterRecheckMs ?? 60_000;
    for (let wait = 500; ; ) {
      let pauseMs: number;
      try {
        await dlq.flush();
        if (deadLetterBlocked) {
          logger.info({ blocked_ms: Date.now() - deadLetterBlocked.since }, 'dead-letter topic writable again: consuming resumes');
          deadLetterBlocked = null;
          options.onDeadLetterBlocked?.(null);
        }
        return true;
      } catch (err) {
        const failure = toDeadLetterError(err, null);
        if (failure.retriable) {
          logger.error({ err: failure.message, retryInMs: wait }, 'dead-letter flush failed; batch not committed yet');
          pauseMs = wait;
          wait = Math.min(wait * 2, 10_000);
        } else {
          options.onDeadLetterFailure?.(failure);
          if (deadLetterBlocked === null) {
            deadLetterBlocked = { error: failure, since: Date.now() };
            logger.error(
              { code: failure.code, topic: failure.topic, err: failure.message, recheckInMs: recheckMs },
              `cannot write dead letters to ${failure.topic ?? 'the dead-letter topic'}: ${failure.code} (${failure.message}); consuming is held, the batch stays uncommitted (nothing is lost) and is retried every ${Math.round(recheckMs / 1000)} s`,
            );
            options.onDeadLetterBlocked?.(deadLetterBlocked);
          } else {
            logger.debug({ code: failure.code, topic: failure.topic }, 'dead-letter topic still not writable');
          }
          pauseMs = recheckMs;
        }
      }
      if (!(await holdBatch(pauseMs, heartbeat, current))) return false;
    }
  };

  /** Waits `ms` with the batch held, heartbeating; false as soon as the batch must be given up. */
  const holdBatch = async (ms: number, heartbeat: () => Promise<void>, current: () => boolean): Promise<boolean> => {
    const until = Date.now() + ms;
    for (;;) {
      if (stopping || !current()) return false;
      const left = until - Date.now();
      if (left <= 0) return true;
      // kafkajs sends a heartbeat only when one is due; a rebalance shows up here as an error.
      const lost = await heartbeat().then(
        () => false,
        (err: unknown) => GROUP_LOST.has(String((err as { type?: unknown }).type)),
      );
      if (lost) return false;
      await Promise.race([sleep(Math.min(left, 1000)), stopSignal]);
    }
  };

  const runOnce = async (): Promise<void> => {
    const c = kafka.consumer({
      groupId: settings.groupId,
      sessionTimeout: options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: options.heartbeatIntervalMs ?? 3000,
      maxBytesPerPartition: options.maxBytesPerPartition ?? 4 * 1024 * 1024,
      maxWaitTimeInMs: options.maxWaitTimeInMs ?? 500,
      retry,
    });
    consumer = c;
    const crashedForGood = new Promise<void>((resolve) => {
      wake = resolve;
      c.on(c.events.CRASH, (e) => {
        connected = false;
        logger.error({ err: e.payload.error.message, restart: e.payload.restart }, 'Kafka consumer crashed');
        if (!e.payload.restart) resolve();
      });
    });
    c.on(c.events.GROUP_JOIN, (e) => {
      connected = true;
      // The group's committed offsets may trail (or, from an older snapshot, lead) what the state holds.
      if (external) seekToApplied(c, e.payload.memberAssignment);
      options.onAssigned?.(e.payload.memberAssignment);
      logger.info({ groupId: e.payload.groupId, memberAssignment: e.payload.memberAssignment }, 'joined consumer group');
      resolveReady();
      options.onReady?.();
    });
    c.on(c.events.DISCONNECT, () => {
      connected = false;
    });
    c.on(c.events.STOP, () => {
      connected = false;
    });
    await c.connect();
    if (stopping) return;
    await c.subscribe({ topics, fromBeginning: settings.fromBeginning });
    if (stopping) return;
    await c.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch });
    await crashedForGood;
  };

  const seekToApplied = (c: Consumer, assignment: Record<string, number[]>): void => {
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const partition of partitions) {
        const a = applied.get(partitionKey(topic, partition));
        if (!a) continue;
        try {
          c.seek({ topic, partition, offset: a.next.toString() });
        } catch (err) {
          logger.warn({ topic, partition, err: (err as Error).message }, 'seek to the applied offset failed; duplicates are still skipped');
        }
      }
    }
  };

  const supervise = async (): Promise<void> => {
    const minMs = options.reconnectMinMs ?? 1000;
    const maxMs = options.reconnectMaxMs ?? 30_000;
    for (let backoff = minMs; !stopping; backoff = Math.min(backoff * 2, maxMs)) {
      const started = Date.now();
      try {
        await runOnce();
      } catch (err) {
        const { message, cause } = describeKafkaError(err, settings);
        logger.error({ err: message, ...(cause === null ? {} : { cause }) }, 'Kafka consumer failed to start; retrying');
      }
      const c = consumer;
      consumer = null;
      connected = false;
      await c?.disconnect().catch(() => undefined);
      if (stopping) return;
      // A consumer that ran for a while before crashing starts the back-off over.
      if (Date.now() - started > maxMs) backoff = minMs;
      logger.warn({ retryInMs: backoff }, 'reconnecting the Kafka consumer');
      await Promise.race([sleep(backoff), stopSignal]);
    }
  };
  const supervisor = supervise();

  let stopped: Promise<void> | null = null;
  return {
    get connected() {
      return connected;
    },
    ready: () => readyPromise,
    lag: () => [...lagState.values()].map((l) => ({ ...l })),
    get messagesCommitted() {
      return messagesCommitted;
    },
    get commitFailures() {
      return commitFailures;
    },
    get messagesSkipped() {
      return messagesSkipped;
    },
    get deadLetterBlocked() {
      return deadLetterBlocked;
    },
    exclusive(fn) {
      const run = inFlight.then(fn);
      inFlight = run.then(
        () => undefined,
        () => undefined,
      );
      return run;
    },
    appliedOffsets: () => [...applied.values()].map((a) => ({ topic: a.topic, partition: a.partition, next: a.next.toString() })),
    async commit(offsets) {
      const c = consumer;
      if (!c || !connected) throw new Error('not connected to the group; the offsets are committed with the next snapshot');
      if (offsets.length === 0) return;
      await c.commitOffsets(offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.next })));
      for (const o of offsets) noteCommitted(o.topic, o.partition, Number(o.next));
    },
    stop(beforeLeave) {
      stopped ??= (async () => {
        stopping = true;
        // Wakes a batch held for its dead letters (and the supervisor's back-off) at once.
        signalStop();
        const c = consumer;
        if (c && beforeLeave) {
          // No new batches; the one being applied finishes; then the caller snapshots and commits.
          c.pause([...new Set(topics)].map((topic) => ({ topic })));
          await inFlight;
          await beforeLeave().catch((err: unknown) => logger.error({ err: (err as Error).message }, 'final snapshot before leaving the group failed'));
        }
        wake();
        // kafkajs' disconnect waits for the in-flight eachBatch, then leaves the group.
        await c?.disconnect().catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'consumer disconnect failed'));
        // A connect in progress cannot be aborted; its retries end within ~10 s and the loop then exits.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([supervisor, new Promise<void>((r) => (timer = setTimeout(r, 15_000)))]);
        clearTimeout(timer);
        connected = false;
      })();
      return stopped;
    },
  };
}

function toConsumed(topic: string, partition: number, m: KafkaMessage): ConsumedMessage {
  return {
    topic,
    partition,
    offset: m.offset,
    value: m.value === null ? null : m.value.toString('utf8'),
    key: m.key === null ? null : m.key.toString('utf8'),
  };
}

/** The source label the pipeline keeps with a rejected record: `<topic>/<partition>@<offset>`. */
export function messageSource(m: Pick<ConsumedMessage, 'topic' | 'partition' | 'offset'>): string {
  return `${m.topic}/${m.partition}@${m.offset}`;
}

/** An input partition's name for its watermark (src/pipeline/partition-watermarks.ts): `<topic>/<partition>`. */
export function inputPartitionOf(m: Pick<ConsumedMessage, 'topic' | 'partition'>): string {
  return `${m.topic}/${m.partition}`;
}

/** The minimal pipeline surface the Kafka edge needs. */
export interface MessageIngest {
  ingestMessage(topic: string, text: string | null, source: string): void;
}

/** What a reader that keeps a watermark per flows partition offers the Kafka edge (Pipeline, ClusterService). */
export interface PacedIngest {
  ingestMessage(topic: string, text: string | null, source: string, partition: string | null): void;
  /** Whether the next message of a flows partition may be read now, or waits for the others. */
  mayRead(partition: string, now: number): boolean;
  readonly inputPartitions: Pick<PartitionWatermarks, 'assign' | 'read'>;
}

/**
 * onBatch and onAssigned for a reader with a watermark per flows partition (docs/event-time.md): a flows
 * partition read too far ahead of the others stops its batch, whose rest is fetched again once they have
 * caught up; each message read tells the partition's position against the log end of its fetch.
 */
export function pacedBatchHandler(
  ingest: PacedIngest,
  flowsTopic: string,
  now: () => number = Date.now,
): Required<Pick<FlowConsumerOptions, 'onBatch' | 'onAssigned'>> {
  return {
    onBatch: (messages, logEnd) => {
      const end = Number(logEnd);
      // One clock reading per call: a call is one partition's slice, applied in milliseconds, against an
      // idle time of seconds.
      const at = now();
      // The partition's name made once per partition met (one per call from the consumer), not per message:
      // the same string each time is also one hash for the watermarks' map lookups.
      let topic: string | null = null;
      let partitionNumber = -1;
      let partition: string | null = null;
      let applied = 0;
      for (const m of messages) {
        if (m.topic !== topic || m.partition !== partitionNumber) {
          topic = m.topic;
          partitionNumber = m.partition;
          partition = topic === flowsTopic ? inputPartitionOf(m) : null;
        }
        if (partition !== null && !ingest.mayRead(partition, at)) break;
        ingest.ingestMessage(m.topic, m.value, messageSource(m), partition);
        if (partition !== null) ingest.inputPartitions.read(partition, Number(m.offset) + 1, end, at);
        applied++;
      }
      return applied;
    },
    onAssigned: (assignment) => ingest.inputPartitions.assign((assignment[flowsTopic] ?? []).map((partition) => inputPartitionOf({ topic: flowsTopic, partition })), now()),
  };
}

/**
 * The usual onBatch: every message into the pipeline. A tombstone has no JSON to decode, so it is
 * ingested as empty text, which the pipeline rejects as invalid_json (with an empty raw).
 */
export function pipelineBatchHandler(pipeline: MessageIngest): (messages: ConsumedMessage[]) => void {
  return (messages) => {
    for (const m of messages) pipeline.ingestMessage(m.topic, m.value, messageSource(m));
  };
}
