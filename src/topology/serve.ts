/**
 * The service as one member of a scale-out application (SCALE_OUT_APP_ID set, docs/scale-out.md): the
 * same API over the runs every member reads, the work shared through Kafka by ScaleOutMember.
 */
import closeWithGrace from 'close-with-grace';
import { Kafka } from 'kafkajs';
import type { ServiceConfig } from '../config/service-config.ts';
import { toRunOptions } from '../config/pipeline-options.ts';
import { buildApp } from '../http/app.ts';
import { prepareRunIndex } from '../http/run-index.ts';
import type { ServiceMetrics } from '../observability/service-metrics.ts';
import { deadLetterProducerFor } from '../kafka/dead-letter.ts';
import type { KafkaSettings } from '../config/kafka-settings.ts';
import { describeKafkaError, type KafkaLogger, redactKafkaSettings, toKafkaConfig } from '../kafka/options.ts';
import { Pipeline, type PipelineConfig } from '../pipeline/pipeline.ts';
import { ClusterService } from '../service/cluster-service.ts';
import { WorkerClusterer } from '../service/clusterer.ts';
import type { TopologyConfig } from './config.ts';
import { ScaleOutMember } from './member.ts';
import { registerScaleOutMetrics } from './metrics.ts';
import { ScaleOutView } from './view.ts';

export interface ScaleOutServe {
  config: ServiceConfig;
  kafka: KafkaSettings;
  topology: TopologyConfig;
  pipeline: PipelineConfig;
  metrics: ServiceMetrics;
}

export async function serveScaleOut(o: ScaleOutServe): Promise<void> {
  const { env } = o.config;
  // The member's service holds no windows (its partitions do): its pipeline is only the runs' configuration.
  const service = new ClusterService(new Pipeline(o.pipeline), new WorkerClusterer(), toRunOptions(o.config.pipeline), Date.now, { historySize: env.RUN_HISTORY, identitiesInSlices: true });
  let view: ScaleOutView | null = null;
  const app = buildApp(
    {
      // Bound late: the member needs the app's logger, the app needs the view.
      latestRun: () => service.latestRun(),
      runInProgress: () => service.runInProgress(),
      vm: (id) => view?.vm(id) ?? null,
      tenant: (id) => view?.tenant(id) ?? null,
      requestRecluster: (options) => view?.requestRecluster(options) ?? { runId: '', started: false },
      ingestStats: () => view?.ingestStats() ?? { messages: 0, records: { flows: 0, vmAttributes: 0, tenantAttributes: 0 }, rejected: { count: 0, by_reason: {} }, watermark: null, vmsTracked: 0, tenantsTracked: 0 },
      inputsReady: () => view?.inputsReady() ?? false,
      // Why not ready, under `inputs` (it was given as inputsHeld, so /readyz named dead_letters too): a member not made yet is "starting".
      inputsNotReady: () => (view === null ? 'starting' : view.inputsNotReady()),
      // The route's dead letters refused for good (an ACL, a size): /readyz's dead_letters, as one process says it.
      inputsHeld: () => view?.inputsHeld() ?? null,
      firstRunCompleted: () => service.firstRunCompleted(),
      runHistory: () => service.runHistory(),
      securityGroups: () => view?.securityGroups() ?? null,
    },
    { metrics: o.metrics, logger: env.LOG_LEVEL === 'silent' ? false : { level: env.LOG_LEVEL }, security: o.config.security },
  );
  const log = app.log;
  const kafkaLog: KafkaLogger = {
    debug: (fields, msg) => log.debug(fields, msg),
    info: (fields, msg) => log.info(fields, msg),
    warn: (fields, msg) => log.warn(fields, msg),
    error: (fields, msg) => log.error(fields, msg),
  };
  const kafka = new Kafka(toKafkaConfig(o.kafka, { logger: kafkaLog }));
  const deadLetter = deadLetterProducerFor(kafka, o.kafka, kafkaLog);
  await deadLetter.connect().catch((err: unknown) => {
    throw new Error(`cannot connect to Kafka: ${describeKafkaError(err, o.kafka).message}`);
  });
  const member = new ScaleOutMember({
    kafka,
    topology: o.topology,
    pipeline: o.pipeline,
    service,
    deadLetter,
    log: kafkaLog,
    onReject: (r) => o.metrics.rejected(r.reason),
    // Local copies of the checkpoints, a cache for fast restarts (the state itself is in Kafka).
    stateDir: env.STATE_DIR,
    // The route decodes and validates on a thread of its own: the windows and the API keep this one.
    ...(o.topology.routeWorker === false ? {} : { routeWorker: { kafka: o.kafka } }),
    ...(o.kafka.hostAttributesTopic === undefined ? {} : { hostAttributesTopic: o.kafka.hostAttributesTopic }),
    prepareRun: prepareRunIndex,
  });
  view = new ScaleOutView(service, member);
  registerScaleOutMetrics(o.metrics.registry, () => member.status());
  service.on('run', (run, changes) => {
    o.metrics.runCompleted(run);
    o.metrics.runChanges(changes);
    log.info({ run_id: run.runId, vms: run.vms.ids.length, vm_clusters: run.vms.outcome.k, ms: Math.round(run.durationMs) }, 'clustering run completed (leader)');
  });
  service.on('runFailed', (status, err) => log.error({ run_id: status.runId, err }, 'clustering run failed'));

  closeWithGrace({ delay: 30_000 }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'shutting down after an error');
    else log.info({ signal }, 'shutting down');
    await member.stop();
    await deadLetter.disconnect();
    await app.close();
    await service.close();
  });

  await app.listen({ host: env.HOST, port: env.PORT });
  log.info({ kafka: redactKafkaSettings(o.kafka), app_id: o.topology.appId, partitions: o.topology.partitions }, 'starting as a member of a scale-out application');
  await member.start();
}
