/**
 * The Kafka input: the consumer of the three contract topics, the dead-letter producer its rejects go to,
 * and, when snapshots are on, the durable snapshots whose offsets are the only ones committed.
 */
import { join } from 'node:path';
import { Kafka } from 'kafkajs';
import type { KafkaSettings } from '../../config/kafka-settings.ts';
import type { ServiceEnv } from '../../config/service-config.ts';
import type { RejectedRecord } from '../../contract/rejections.ts';
import { ServiceError } from '../../errors/catalogue.ts';
import { fleetCodec } from '../../fleet/fleet-codec.ts';
import type { PartitionOffset } from '../../contract/topics.ts';
import { type DeadLetterBlock, type FlowConsumer, pacedBatchHandler, startFlowConsumer } from '../../kafka/consumer.ts';
import { DeadLetterProducer, deadLetterHeldReason } from '../../kafka/dead-letter.ts';
import { describeKafkaLog } from '../../kafka/log-identity.ts';
import { describeKafkaError, redactKafkaSettings, toKafkaConfig } from '../../kafka/options.ts';
import type { PipelineConfig } from '../../pipeline/pipeline.ts';
import { captureSnapshotInSlices } from '../../snapshots/service-snapshot.ts';
import { SnapshotStore } from '../../snapshots/snapshot-store.ts';
import { Snapshotter } from '../../snapshots/snapshotter.ts';
import { kafkaLoggerOf } from '../kafka-logger.ts';
import { restoreFromSnapshots } from '../restore-state.ts';
import type { InputContext, InputPreparation, ServiceInput } from './service-input.ts';

/** At most this long for the Kafka log's identity before a snapshot: with the broker away it is written without. */
const LOG_IDENTITY_TIMEOUT_MS = 5000;

export class KafkaInput implements ServiceInput {
  readonly live = true;
  readonly models: { dir: string; loadEarlier: boolean };
  private readonly snapshots: SnapshotStore | null;
  private resumeFrom: PartitionOffset[] = [];
  private deadLetter: DeadLetterProducer | null = null;
  private consumer: FlowConsumer | null = null;
  private snapshotter: Snapshotter | null = null;
  private stopLogAdmin: () => Promise<void> = async () => {};
  private skippedReported = 0;

  constructor(
    private readonly settings: KafkaSettings,
    private readonly env: ServiceEnv,
  ) {
    this.models = { dir: env.MODELS_DIR, loadEarlier: true };
    // The state survives restarts: the newest usable snapshot and the offsets it includes.
    this.snapshots = env.SNAPSHOT_INTERVAL_SECONDS > 0 ? new SnapshotStore(env.SNAPSHOT_DIR ?? join(env.STATE_DIR, 'snapshots'), env.SNAPSHOTS_KEPT) : null;
  }

  async prepare(pipeline: PipelineConfig): Promise<InputPreparation> {
    const restore = await restoreFromSnapshots(this.snapshots, this.settings, pipeline);
    this.resumeFrom = restore.resumeFrom;
    return restore;
  }

  reject(record: RejectedRecord): void {
    this.deadLetter?.add(record);
  }

  async start({ service, metrics, log, pipeline }: InputContext): Promise<void> {
    const settings = this.settings;
    log.info({ kafka: redactKafkaSettings(settings) }, 'consuming from Kafka');
    const kafkaLog = kafkaLoggerOf(log);
    const kafka = new Kafka(toKafkaConfig(settings, { logger: kafkaLog }));
    const topicList = [pipeline.topics.flows, pipeline.topics.vmAttributes, pipeline.topics.tenantAttributes];
    const dlq = new DeadLetterProducer(kafka, {
      sourceTopics: topicList,
      suffix: settings.dlqSuffix,
      catchAllTopic: settings.dlqCatchAllTopic,
      ...(settings.dlqMaxMessageBytes === undefined ? {} : { maxMessageBytes: settings.dlqMaxMessageBytes }),
      logger: kafkaLog,
    });
    const recheckMs = settings.dlqRecheckMs ?? 60_000;
    // Bad credentials or an untrusted certificate stop the start-up with a line naming what to check.
    await dlq.connect().catch((err: unknown) => {
      throw new ServiceError('kafka_connect_failed', `cannot connect to Kafka: ${describeKafkaError(err, settings).message}`, { cause: err });
    });
    this.deadLetter = dlq;
    const store = this.snapshots;
    const consumer = startFlowConsumer({
      kafka: settings,
      logger: kafkaLog,
      deadLetter: dlq,
      onReady: () => service.markInputsReady(),
      deadLetterRecheckMs: recheckMs,
      onDeadLetterFailure: (err) => metrics.deadLetterFailed(err.code),
      onDeadLetterBlocked: (blocked) => {
        metrics.deadLetterBlocked(blocked !== null);
        service.markInputsHeld(blocked && heldReason(blocked, recheckMs));
      },
      // Flows are paced per input partition (docs/event-time.md, "Several input partitions").
      ...pacedBatchHandler(service, pipeline.topics.flows),
      ...(store ? { commits: 'external' as const, resumeFrom: this.resumeFrom } : {}),
      onOffsetsBehind: () => metrics.kafkaOffsetMismatch('offsets_behind'),
    });
    this.consumer = consumer;
    if (store === null) return;
    const logAdmin = kafka.admin();
    this.stopLogAdmin = () => logAdmin.disconnect();
    this.snapshotter = new Snapshotter({
      store,
      intervalMs: this.env.SNAPSHOT_INTERVAL_SECONDS * 1000,
      // No batch is applied while the fleet is encoded (in slices, so the API keeps answering).
      capture: async () => {
        // The log the offsets point into, kept with them (before the capture: the input is not held meanwhile).
        let timer: NodeJS.Timeout | undefined;
        const identity = await Promise.race([
          logAdmin
            .connect()
            .then(() => describeKafkaLog(logAdmin, topicList))
            .catch(() => null),
          new Promise<null>((r) => (timer = setTimeout(() => r(null), LOG_IDENTITY_TIMEOUT_MS))),
        ]);
        clearTimeout(timer);
        return consumer.exclusive(async () => {
          // A run's input taken in slices holds the input handed over meanwhile: applied first, so that
          // the snapshot's offsets never run ahead of its fleet.
          await service.inputHeld();
          return captureSnapshotInSlices(service, consumer.appliedOffsets(), fleetCodec, Date.now(), identity);
        });
      },
      beforeCommit: () => dlq.flush(),
      commit: (offsets) => consumer.commit(offsets),
      onSaved: (o) => {
        metrics.snapshotSaved(o.bytes, o.captureMs);
        log.debug({ snapshot: o.path, bytes: o.bytes, capture_ms: Math.round(o.captureMs), write_ms: Math.round(o.writeMs), committed: o.committed }, 'snapshot saved');
      },
      onFailed: (err, step) => {
        metrics.snapshotFailed(step);
        log.warn({ err: err.message, step }, `snapshot ${step} failed; the previous snapshot stays the resume point`);
      },
    });
    this.snapshotter.start();
  }

  poll({ service, metrics }: InputContext): void {
    const consumer = this.consumer;
    if (consumer === null) return;
    for (const l of consumer.lag()) metrics.consumerLag(l.topic, l.partition, l.lag);
    metrics.kafkaMessagesSkipped(consumer.messagesSkipped - this.skippedReported);
    this.skippedReported = consumer.messagesSkipped;
    // Not ready while the consumer is out of its group (broker down, rebalancing).
    service.markInputsReady(consumer.connected);
  }

  async stop(): Promise<void> {
    this.snapshotter?.stop();
    // The final snapshot is taken after the last batch is applied and before the group is left.
    const final = this.snapshotter;
    await this.consumer?.stop(final ? async () => void (await final.takeNow()) : undefined);
    await this.deadLetter?.disconnect();
    await this.stopLogAdmin().catch(() => undefined);
  }
}

/** The /readyz sentence of a held input (the member's says the same: deadLetterHeldReason). */
function heldReason({ error, since }: DeadLetterBlock, recheckMs: number): string {
  return deadLetterHeldReason({ code: error.code, message: error.message, topic: error.topic, since }, `every ${Math.round(recheckMs / 1000)} s`);
}
