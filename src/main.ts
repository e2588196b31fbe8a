/**
 * The composition root: configuration, pipeline, clustering service, HTTP API, and the input — Kafka when
 * KAFKA_BROKERS is set, else the bundled trace replayed into the service so a newcomer sees clusters at
 * once. Graceful shutdown on SIGINT/SIGTERM: the consumer finishes and commits its batch and leaves the
 * group, the server closes, an in-flight run completes.
 */
import { accessSync, constants, createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import closeWithGrace from 'close-with-grace';
import { Kafka } from 'kafkajs';
import { Registry } from 'prom-client';
import { toPipelineConfig, toRunOptions } from './config/pipeline-options.ts';
import { EnvFileError, type EnvFileLoad, loadEnvFile } from './config/env-file.ts';
import { ConfigError, loadServiceConfig } from './config/service-config.ts';
import type { RejectedRecord } from './contract/rejections.ts';
import { buildApp } from './http/app.ts';
import { accessSummary } from './http/auth/access-control.ts';
import { ServiceMetrics } from './observability/service-metrics.ts';
import { type DeadLetterBlock, type FlowConsumer, messageSource, startFlowConsumer } from './kafka/consumer.ts';
import { DeadLetterProducer } from './kafka/dead-letter.ts';
import { describeKafkaLog, startOffsets, verifyResumePoint } from './kafka/log-identity.ts';
import { describeKafkaError, KafkaEnvError, type KafkaLogger, parseKafkaEnv, redactKafkaSettings, toKafkaConfig } from './kafka/options.ts';
import { Pipeline } from './pipeline/pipeline.ts';
import { EMBEDDED_MODELS_SUBDIR, FileHistoryStore, type LoadedHistory, loadHistory } from './model-store/history-store.ts';
import { FileModelStore, type LoadedModel, loadLatestModel } from './model-store/model-store.ts';
import { fleetCodec } from './fleet/fleet-codec.ts';
import { applySnapshot, captureSnapshotInSlices, loadLatestSnapshot, type SnapshotLoad } from './snapshots/service-snapshot.ts';
import { SnapshotStore } from './snapshots/snapshot-store.ts';
import { acquireStateLock, StateDirLockedError } from './storage/state-lock.ts';
import { Snapshotter } from './snapshots/snapshotter.ts';
import { ClusterService } from './service/cluster-service.ts';
import { WorkerClusterer } from './service/clusterer.ts';
import { readTraceChunks } from './trace/trace-reader.ts';
import { parseTopologyEnv, type TopologyConfig, TopologyEnvError } from './topology/config.ts';
import { serveScaleOut } from './topology/serve.ts';

function readable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** Exit code when another process holds STATE_DIR (2 is a configuration error, 1 any other failure). */
const STATE_DIR_LOCKED_EXIT = 3;

async function main(): Promise<void> {
  let config: ReturnType<typeof loadServiceConfig>;
  let kafkaSettings: ReturnType<typeof parseKafkaEnv>;
  let envFile: EnvFileLoad | null;
  let topology: TopologyConfig | null;
  try {
    // .env fills in what the environment leaves unset (env-file.ts); then everything is checked at once.
    envFile = loadEnvFile();
    config = loadServiceConfig(process.env);
    kafkaSettings = parseKafkaEnv(process.env);
    topology = parseTopologyEnv(process.env);
    if (topology && !kafkaSettings) throw new ConfigError(['SCALE_OUT_APP_ID: set without KAFKA_BROKERS (the members of an application share their work through Kafka)']);
    // Before listening: a server that answers and then dies on a missing trace helps nobody.
    if (!kafkaSettings && !readable(config.env.EMBEDDED_TRACE)) throw new ConfigError([`EMBEDDED_TRACE: cannot read ${config.env.EMBEDDED_TRACE}`]);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof KafkaEnvError || err instanceof EnvFileError || err instanceof TopologyEnvError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const { env } = config;
  // One process per STATE_DIR: a second one would overwrite the first's snapshots and commit its offsets.
  try {
    const lock = acquireStateLock(env.STATE_DIR, {
      onLost: (why) => {
        process.stderr.write(`alcor-traffic-clusters: lost the STATE_DIR lock ${join(env.STATE_DIR, 'alcor.lock')} (${why}); stopping\n`);
        process.exit(STATE_DIR_LOCKED_EXIT);
      },
    });
    process.once('exit', () => lock.release());
  } catch (err) {
    if (err instanceof StateDirLockedError) {
      process.stderr.write(`alcor-traffic-clusters: ${err.message}\n`);
      process.exit(STATE_DIR_LOCKED_EXIT);
    }
    throw err;
  }
  const metrics = new ServiceMetrics(new Registry());
  let sink: ((r: RejectedRecord) => void) | null = null;
  const replayed = toPipelineConfig(config.pipeline);
  // Live input has a wall clock to bound event times by; the bundled trace is a replay with its own time.
  const pipelineConfig = kafkaSettings && replayed.future ? { ...replayed, future: { ...replayed.future, wallClock: Date.now } } : replayed;
  // Several members of one application: the windows live in Kafka's partitions, not in this process's snapshots.
  if (topology && kafkaSettings) {
    await serveScaleOut({ config, kafka: kafkaSettings, topology, pipeline: pipelineConfig, metrics });
    return;
  }
  // With Kafka input the state survives restarts: the newest usable snapshot and the offsets it includes.
  const snapshotStore =
    kafkaSettings && env.SNAPSHOT_INTERVAL_SECONDS > 0 ? new SnapshotStore(env.SNAPSHOT_DIR ?? join(env.STATE_DIR, 'snapshots'), env.SNAPSHOTS_KEPT) : null;
  const snapshotLoad: SnapshotLoad = snapshotStore
    ? await loadLatestSnapshot(
        snapshotStore,
        fleetCodec,
        { window: pipelineConfig.window, topics: pipelineConfig.topics },
        Date.now() + (pipelineConfig.future?.maxSkewMs ?? 0),
      )
    : { restored: null, problems: [] };
  let restored = snapshotLoad.restored;
  // The snapshot's offsets must still name the same records (same cluster, partitions not recreated or
  // truncated): else its state is dropped and rebuilt from the start of the input, nothing skipped.
  const resumeCheck = restored && kafkaSettings ? await verifyResumePoint(kafkaSettings, restored.snapshot) : null;
  const rebuiltFrom = resumeCheck?.status === 'mismatch' ? restored : null;
  let resumeFrom = restored?.snapshot.offsets ?? [];
  if (resumeCheck?.status === 'mismatch') {
    restored = null;
    resumeFrom = startOffsets(resumeCheck.identity);
  }
  const pipeline = new Pipeline(
    pipelineConfig,
    (r) => {
      metrics.rejected(r.reason);
      sink?.(r);
    },
    restored?.fleet,
  );
  // The embedded demo replays the same trace from its start on every start: an earlier demo's history and
  // model describe a later event time (loading them appended the same replay again), and a Kafka service
  // over the same MODELS_DIR must not take the demo's runs for its own. So the demo keeps its files apart
  // and starts clean each time.
  const modelsDir = kafkaSettings ? env.MODELS_DIR : join(env.MODELS_DIR, EMBEDDED_MODELS_SUBDIR);
  // A model that cannot be used is logged and skipped: the service starts fresh rather than not at all.
  const loaded: LoadedModel = kafkaSettings ? await loadLatestModel(modelsDir) : { status: 'none' };
  // So is a run history that cannot be used: /v1/runs starts empty.
  const loadedHistory: LoadedHistory = kafkaSettings ? await loadHistory(modelsDir) : { status: 'none' };
  const service = new ClusterService(pipeline, new WorkerClusterer(), toRunOptions(config.pipeline), Date.now, {
    historySize: env.RUN_HISTORY,
    models: new FileModelStore(modelsDir),
    history: loadedHistory.status === 'loaded' ? loadedHistory.history : null,
    historySink: new FileHistoryStore(modelsDir),
    securityGroupsEveryRun: true,
    // A snapshot holds the latest real run and the ids: it supersedes the model's provisional placement.
    model: loaded.status === 'loaded' && !restored ? loaded.model : null,
  });
  const connectionsProblem = restored ? applySnapshot(restored.snapshot, pipeline, service) : null;
  // A limit reached is logged on its 1st, 10th, 100th... hit (the fleet's own thinning); all hits are counted in /metrics.
  pipeline.fleet.onCapHit = (cap, count) =>
    app.log.warn({ cap, count }, `limit ${cap} reached (${count} times so far): see alcor_fleet_events_total and docs/operations.md "Bounded resources"`);
  const app = buildApp(service, { metrics, logger: env.LOG_LEVEL === 'silent' ? false : { level: env.LOG_LEVEL }, security: config.security });
  const log = app.log;
  if (connectionsProblem !== null) log.warn(connectionsProblem);
  if (envFile)
    log.info(
      { env_file: envFile.path, applied: envFile.applied.length, kept_from_environment: envFile.overridden },
      `read ${envFile.applied.length} settings from ${envFile.path}; variables set in the environment win over it`,
    );
  const access = accessSummary(config.security);
  log[access.level](access.fields, access.message);
  if (loaded.status === 'loaded') log.info({ model: loaded.path, run_id: loaded.model.run_id }, 'loaded the latest model: cluster ids carry on from it');
  else if (loaded.status === 'invalid') log.error({ model: loaded.path, problem: loaded.error }, `ignoring the model file ${loaded.path}: ${loaded.error}; starting fresh`);
  for (const p of snapshotLoad.problems) log.error({ snapshot: p.path, problem: p.error }, `skipping the snapshot ${p.path}: ${p.error}`);
  if (snapshotLoad.problems.length > 0) log.warn({ skipped: snapshotLoad.problems.length }, `skipped ${snapshotLoad.problems.length} snapshot(s) on the way back in`);
  if (restored) {
    const s = restored.snapshot;
    log.info(
      { snapshot: restored.path, taken_at: new Date(s.takenAt).toISOString(), vms: pipeline.fleet.vms.size, offsets: s.offsets, latest_run: s.service.latest?.runId ?? null },
      'restored the state from a snapshot: consuming from its offsets',
    );
    const d = restored.droppedFuture;
    if (d.tombstones + d.tenants + d.vmAttributes > 0)
      log.warn(
        { snapshot: restored.path, tombstones: d.tombstones, tenant_attributes: d.tenants, vm_attributes: d.vmAttributes },
        'dropped attributes later than the wall clock plus the allowed future skew from the restored snapshot (see docs/event-time.md)',
      );
  } else if (resumeCheck?.status === 'mismatch' && rebuiltFrom) {
    for (const p of resumeCheck.problems) metrics.kafkaOffsetMismatch(p.reason);
    log.error(
      { snapshot: rebuiltFrom.path, problems: resumeCheck.problems, from: resumeFrom },
      `the offsets of the snapshot ${rebuiltFrom.path} no longer fit the Kafka log (${resumeCheck.problems.map((p) => `${p.reason}: ${p.detail}`).join('; ')}): rebuilding the state from the start of the input topics instead of skipping the records below them`,
    );
  } else if (snapshotStore) log.info({ dir: snapshotStore.dir }, 'no snapshot to restore: starting with empty windows');
  if (resumeCheck?.status === 'unverified') {
    log.warn({ err: resumeCheck.error }, 'could not check the snapshot\'s offsets against the Kafka cluster; resuming from them (the consumer still checks that no log ends below them)');
  }
  service.on('provisional', (run) => log.info({ run_id: run.runId, vms: run.vms.ids.length }, 'VMs placed by the loaded model until the first run'));
  service.on('modelFailed', (err) => log.error({ err, dir: modelsDir }, 'could not write the model'));
  if (loadedHistory.status === 'invalid') log.error({ history: loadedHistory.path, problem: loadedHistory.error }, `ignoring the run history ${loadedHistory.path}: ${loadedHistory.error}; starting a fresh one`);
  else if (loadedHistory.status === 'loaded') log.info({ history: loadedHistory.path, runs: loadedHistory.history.runs.length, last_run: loadedHistory.history.last_run_number }, 'loaded the run history: run ids continue from it');
  service.on('historyFailed', (err) => log.error({ err, dir: modelsDir }, 'could not write the run history'));
  service.on('run', (run, changes) => {
    metrics.runCompleted(run);
    metrics.runChanges(changes);
    log.info({ run_id: run.runId, vms: run.vms.ids.length, vm_clusters: run.vms.outcome.k, tenant_clusters: run.tenants.outcome.k, ms: Math.round(run.durationMs) }, 'clustering run completed');
  });
  service.on('runFailed', (status, err) => log.error({ run_id: status.runId, err }, 'clustering run failed'));
  metrics.windowLength(pipeline.config.window.windowMs);

  // Counters of records in by topic follow the pipeline's own counts.
  const topics = pipeline.config.topics;
  const reported = { flows: 0, vmAttributes: 0, tenantAttributes: 0 };
  const flowFormat = pipeline.config.flowFormat ?? 'alcor';
  metrics.flowRecordsIn(flowFormat, 0);
  const reportRecords = (): void => {
    const now = pipeline.recordsIn;
    metrics.recordsIn(topics.flows, now.flows - reported.flows);
    metrics.flowRecordsIn(flowFormat, now.flows - reported.flows);
    metrics.recordsIn(topics.vmAttributes, now.vmAttributes - reported.vmAttributes);
    metrics.recordsIn(topics.tenantAttributes, now.tenantAttributes - reported.tenantAttributes);
    Object.assign(reported, now);
  };

  let consumer: FlowConsumer | null = null;
  let snapshotter: Snapshotter | null = null;
  let deadLetter: DeadLetterProducer | null = null;
  let rejectsFile: WriteStream | null = null;
  let skippedReported = 0;
  let stopLogAdmin: () => Promise<void> = async () => {};
  const timer = setInterval(() => {
    reportRecords();
    for (const l of consumer?.lag() ?? []) metrics.consumerLag(l.topic, l.partition, l.lag);
    metrics.kafkaMessagesSkipped((consumer?.messagesSkipped ?? 0) - skippedReported);
    skippedReported = consumer?.messagesSkipped ?? 0;
    // Not ready while the consumer is out of its group (broker down, rebalancing).
    if (consumer) service.markInputsReady(consumer.connected);
  }, 5000);
  timer.unref();

  closeWithGrace({ delay: 30_000 }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'shutting down after an error');
    else log.info({ signal }, 'shutting down');
    clearInterval(timer);
    snapshotter?.stop();
    // The final snapshot is taken after the last batch is applied and before the group is left.
    const final = snapshotter;
    await consumer?.stop(final ? async () => void (await final.takeNow()) : undefined);
    await deadLetter?.disconnect();
    await stopLogAdmin().catch(() => undefined);
    await app.close();
    await service.close();
    rejectsFile?.end();
  });

  await app.listen({ host: env.HOST, port: env.PORT });
  service.startWallClockSchedule(env.RECLUSTER_WALLCLOCK_SECONDS * 1000);

  if (kafkaSettings) {
    log.info({ kafka: redactKafkaSettings(kafkaSettings) }, 'consuming from Kafka');
    const kafkaLog: KafkaLogger = {
      debug: (fields, msg) => log.debug(fields, msg),
      info: (fields, msg) => log.info(fields, msg),
      warn: (fields, msg) => log.warn(fields, msg),
      error: (fields, msg) => log.error(fields, msg),
    };
    const kafka = new Kafka(toKafkaConfig(kafkaSettings, { logger: kafkaLog }));
    const topicList = [topics.flows, topics.vmAttributes, topics.tenantAttributes];
    const dlq = new DeadLetterProducer(kafka, {
      sourceTopics: topicList,
      suffix: kafkaSettings.dlqSuffix,
      catchAllTopic: kafkaSettings.dlqCatchAllTopic,
      ...(kafkaSettings.dlqMaxMessageBytes === undefined ? {} : { maxMessageBytes: kafkaSettings.dlqMaxMessageBytes }),
      logger: kafkaLog,
    });
    const recheckMs = kafkaSettings.dlqRecheckMs ?? 60_000;
    deadLetter = dlq;
    // Bad credentials or an untrusted certificate stop the start-up with a line naming what to check.
    const settings = kafkaSettings;
    await dlq.connect().catch((err: unknown) => {
      throw new Error(`cannot connect to Kafka: ${describeKafkaError(err, settings).message}`);
    });
    sink = (r) => dlq.add(r);
    const flowConsumer = startFlowConsumer({
      kafka: kafkaSettings,
      logger: kafkaLog,
      deadLetter: dlq,
      onReady: () => service.markInputsReady(),
      deadLetterRecheckMs: recheckMs,
      onDeadLetterFailure: (err) => metrics.deadLetterFailed(err.code),
      onDeadLetterBlocked: (blocked) => {
        metrics.deadLetterBlocked(blocked !== null);
        service.markInputsHeld(blocked && deadLetterHeldReason(blocked, recheckMs));
      },
      onBatch: (messages) => {
        for (const m of messages) service.ingestMessage(m.topic, m.value, messageSource(m));
      },
      ...(snapshotStore ? { commits: 'external' as const, resumeFrom } : {}),
      onOffsetsBehind: () => metrics.kafkaOffsetMismatch('offsets_behind'),
    });
    consumer = flowConsumer;
    if (snapshotStore) {
      const logAdmin = kafka.admin();
      stopLogAdmin = () => logAdmin.disconnect();
      snapshotter = new Snapshotter({
        store: snapshotStore,
        intervalMs: env.SNAPSHOT_INTERVAL_SECONDS * 1000,
        // No batch is applied while the fleet is encoded (in slices, so the API keeps answering).
        capture: async () => {
          // The log the offsets point into, kept with them (before the capture: the input is not held meanwhile).
          // At most 5 s: with the broker away the snapshot is still written (its commit waits for the broker).
          let timer: NodeJS.Timeout | undefined;
          const identity = await Promise.race([
            logAdmin
              .connect()
              .then(() => describeKafkaLog(logAdmin, topicList))
              .catch(() => null),
            new Promise<null>((r) => (timer = setTimeout(() => r(null), 5000))),
          ]);
          clearTimeout(timer);
          return flowConsumer.exclusive(() => captureSnapshotInSlices(service, flowConsumer.appliedOffsets(), fleetCodec, Date.now(), identity));
        },
        beforeCommit: () => dlq.flush(),
        commit: (offsets) => flowConsumer.commit(offsets),
        onSaved: (o) => {
          metrics.snapshotSaved(o.bytes, o.captureMs);
          log.debug({ snapshot: o.path, bytes: o.bytes, capture_ms: Math.round(o.captureMs), write_ms: Math.round(o.writeMs), committed: o.committed }, 'snapshot saved');
        },
        onFailed: (err, step) => {
          metrics.snapshotFailed(step);
          log.warn({ err: err.message, step }, `snapshot ${step} failed; the previous snapshot stays the resume point`);
        },
      });
      snapshotter.start();
    }
  } else {
    // Embedded default: the bundled trace, through the same pipeline, as fast as it reads.
    mkdirSync(env.STATE_DIR, { recursive: true });
    const rejectsPath = join(env.STATE_DIR, 'rejected.jsonl');
    const file = createWriteStream(rejectsPath);
    rejectsFile = file;
    sink = (r) => file.write(`${JSON.stringify(r)}\n`);
    log.info(
      { trace: env.EMBEDDED_TRACE, rejects: rejectsPath, models: modelsDir },
      'KAFKA_BROKERS is unset: replaying the bundled trace, with a fresh run history (the demo never loads its saved models or history)',
    );
    for await (const chunk of readTraceChunks(env.EMBEDDED_TRACE)) {
      chunk.lines.forEach((line, i) => {
        if (line) service.ingestTraceLine(line, `${env.EMBEDDED_TRACE}:${chunk.firstLine + i}`);
      });
    }
    await service.whenIdle();
    service.startRun('final');
    await service.whenIdle();
    reportRecords();
    service.markInputsReady();
    const stats = service.ingestStats();
    log.info({ records: stats.records, rejected: stats.rejected.count, vms: service.latestRun()?.vms.ids.length ?? 0 }, 'bundled trace loaded');
  }
}

/** The /readyz sentence of a held input: what failed, what it means for the records, what to do. */
function deadLetterHeldReason({ error, since }: DeadLetterBlock, recheckMs: number): string {
  const topic = error.topic ?? 'the dead-letter topic';
  const fix =
    error.code === 'MESSAGE_TOO_LARGE' || error.code === 'RECORD_LIST_TOO_LARGE'
      ? `raise max.message.bytes of ${topic}`
      : /AUTHORIZATION/.test(error.code)
        ? `grant the service's Kafka user WRITE (and DESCRIBE) on ${topic}`
        : `fix the cause on the broker`;
  return (
    `rejects cannot be written to ${topic} since ${new Date(since).toISOString()}: ${error.code} (${error.message}); ` +
    `consuming is held and the records stay uncommitted (nothing is lost); ${fix}: it is retried every ${Math.round(recheckMs / 1000)} s`
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`alcor-traffic-clusters: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
