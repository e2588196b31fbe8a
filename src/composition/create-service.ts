/**
 * The composition root: configuration in, a running service out. It builds the pipeline, the clustering
 * service, the HTTP API and the input (Kafka when KAFKA_BROKERS is set, else the bundled trace replayed
 * into the service so a newcomer sees clusters at once), and wires their logs and metrics. `npm start`,
 * `alcor-clusters serve` and the tests all start the service through createService.
 */
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import type { EnvFileLoad } from '../config/env-file.ts';
import { toPipelineConfig, toRunOptions } from '../config/pipeline-options.ts';
import type { ServiceConfig } from '../config/service-config.ts';
import { buildApp } from '../http/app.ts';
import { accessSummary } from '../http/auth/access-control.ts';
import { ServiceMetrics } from '../observability/service-metrics.ts';
import { FileHistoryStore, type LoadedHistory, loadHistory } from '../model-store/history-store.ts';
import { FileModelStore, type LoadedModel, loadLatestModel } from '../model-store/model-store.ts';
import { Pipeline } from '../pipeline/pipeline.ts';
import { ClusterService } from '../service/cluster-service.ts';
import { WorkerClusterer } from '../service/clusterer.ts';
import { acquireStateLock, type StateLock } from '../storage/state-lock.ts';
import { KafkaInput } from './inputs/kafka-input.ts';
import type { InputContext, ServiceInput } from './inputs/service-input.ts';
import { TraceInput } from './inputs/trace-input.ts';
import { recordsInReporter, startMetricsPoll } from './metrics-poll.ts';

export interface ServiceHandle {
  /** The Fastify instance (routes, logger, inject for tests); listening once start() resolved. */
  readonly app: FastifyInstance;
  /** Listens, starts the wall-clock schedule and the input; a trace input is read whole before it resolves. */
  start(): Promise<void>;
  /** Stops the input (last batch applied, final snapshot), the server and the runs, then frees STATE_DIR. Idempotent. */
  stop(): Promise<void>;
}

export interface CreateServiceOptions {
  /** The .env file the configuration was read with, for the start-up log. */
  envFile?: EnvFileLoad | null;
  /** The input; default KafkaInput when the configuration names brokers, else TraceInput. */
  input?: ServiceInput;
  /** Another process took STATE_DIR's lock over (its lock file was lost): the service must stop at once. */
  onStateLockLost?: (why: string) => void;
}

function defaultInput(config: ServiceConfig): ServiceInput {
  return config.kafka ? new KafkaInput(config.kafka, config.env) : new TraceInput(config.env);
}

/**
 * Builds the service without starting it. Throws a ConfigError (the trace cannot be read) or a
 * StateDirLockedError (another process holds STATE_DIR) before anything listens.
 */
export async function createService(config: ServiceConfig, options: CreateServiceOptions = {}): Promise<ServiceHandle> {
  const { env } = config;
  const input = options.input ?? defaultInput(config);
  // One process per STATE_DIR: a second one would overwrite the first's snapshots and commit its offsets.
  const lock: StateLock = acquireStateLock(env.STATE_DIR, options.onStateLockLost ? { onLost: options.onStateLockLost } : {});
  // Also on a process.exit() anywhere (a fatal error, the lock lost): the next start must not wait for it.
  const releaseAtExit = (): void => lock.release();
  process.once('exit', releaseAtExit);
  const release = (): void => {
    process.off('exit', releaseAtExit);
    lock.release();
  };
  try {
    return await assemble(config, input, release, options.envFile ?? null);
  } catch (err) {
    release();
    throw err;
  }
}

async function assemble(config: ServiceConfig, input: ServiceInput, releaseLock: () => void, envFile: EnvFileLoad | null): Promise<ServiceHandle> {
  const { env } = config;
  const metrics = new ServiceMetrics(new Registry());
  const replayed = toPipelineConfig(config.pipeline);
  // Live input has a wall clock to bound event times by; the bundled trace is a replay with its own time.
  const pipelineConfig = input.live && replayed.future ? { ...replayed, future: { ...replayed.future, wallClock: Date.now } } : replayed;
  const prepared = await input.prepare(pipelineConfig);
  const pipeline = new Pipeline(
    pipelineConfig,
    (r) => {
      metrics.rejected(r.reason);
      input.reject(r);
    },
    prepared.restored?.fleet,
  );
  const modelsDir = input.models.dir;
  // A model or run history that cannot be used is logged and skipped: the service starts fresh rather than not at all.
  const loaded: LoadedModel = input.models.loadEarlier ? await loadLatestModel(modelsDir) : { status: 'none' };
  const loadedHistory: LoadedHistory = input.models.loadEarlier ? await loadHistory(modelsDir) : { status: 'none' };
  const service = new ClusterService(pipeline, new WorkerClusterer(), toRunOptions(config.pipeline), Date.now, {
    historySize: env.RUN_HISTORY,
    models: new FileModelStore(modelsDir),
    history: loadedHistory.status === 'loaded' ? loadedHistory.history : null,
    historySink: new FileHistoryStore(modelsDir),
    securityGroupsEveryRun: true,
    // Reads are served meanwhile: the run input (the input that arrives meanwhile held) and the stable ids in slices.
    runInputInSlices: true,
    identitiesInSlices: true,
    // A snapshot holds the latest real run and the ids: it supersedes the model's provisional placement.
    model: loaded.status === 'loaded' && !prepared.restored ? loaded.model : null,
  });
  const restoreProblem = prepared.restored?.applyTo(service) ?? null;
  const app = buildApp(service, { metrics, logger: env.LOG_LEVEL === 'silent' ? false : { level: env.LOG_LEVEL }, security: config.security });
  const log = app.log;
  if (restoreProblem !== null) log.warn(restoreProblem);

  if (envFile)
    log.info(
      { env_file: envFile.path, applied: envFile.applied.length, kept_from_environment: envFile.overridden },
      `read ${envFile.applied.length} settings from ${envFile.path}; variables set in the environment win over it`,
    );
  const access = accessSummary(config.security);
  log[access.level](access.fields, access.message);
  if (loaded.status === 'loaded') log.info({ model: loaded.path, run_id: loaded.model.run_id }, 'loaded the latest model: cluster ids carry on from it');
  else if (loaded.status === 'invalid') log.error({ model: loaded.path, problem: loaded.error }, `ignoring the model file ${loaded.path}: ${loaded.error}; starting fresh`);
  prepared.report(log, metrics);
  if (loadedHistory.status === 'invalid') log.error({ history: loadedHistory.path, problem: loadedHistory.error }, `ignoring the run history ${loadedHistory.path}: ${loadedHistory.error}; starting a fresh one`);
  else if (loadedHistory.status === 'loaded') log.info({ history: loadedHistory.path, runs: loadedHistory.history.runs.length, last_run: loadedHistory.history.last_run_number }, 'loaded the run history: run ids continue from it');
  wireServiceEvents(service, metrics, log, modelsDir);
  metrics.windowLength(pipelineConfig.window.windowMs);

  const context: InputContext = { service, metrics, log, pipeline: pipelineConfig, reportRecords: recordsInReporter(service, metrics, pipelineConfig.topics) };
  let stopPoll: (() => void) | null = null;
  let stopping: Promise<void> | null = null;
  return {
    app,
    async start() {
      stopPoll = startMetricsPoll(context, input);
      await app.listen({ host: env.HOST, port: env.PORT });
      service.startWallClockSchedule(env.RECLUSTER_WALLCLOCK_SECONDS * 1000);
      await input.start(context);
    },
    stop() {
      stopping ??= (async () => {
        stopPoll?.();
        await input.stop();
        await app.close();
        await service.close();
        releaseLock();
      })();
      return stopping;
    },
  };
}

/** The service's events as log lines and metrics. */
function wireServiceEvents(service: ClusterService, metrics: ServiceMetrics, log: FastifyInstance['log'], modelsDir: string): void {
  // A limit reached is logged on its 1st, 10th, 100th... hit (the fleet's own thinning); all hits are counted in /metrics.
  service.on('capHit', (cap, count) =>
    log.warn({ cap, count }, `limit ${cap} reached (${count} times so far): see alcor_fleet_events_total and docs/operations.md "Bounded resources"`),
  );
  service.on('provisional', (run) => log.info({ run_id: run.runId, vms: run.vms.ids.length }, 'VMs placed by the loaded model until the first run'));
  service.on('modelFailed', (err) => log.error({ err, dir: modelsDir }, 'could not write the model'));
  service.on('historyFailed', (err) => log.error({ err, dir: modelsDir }, 'could not write the run history'));
  service.on('run', (run, changes) => {
    metrics.runCompleted(run);
    metrics.runChanges(changes);
    log.info({ run_id: run.runId, vms: run.vms.ids.length, vm_clusters: run.vms.outcome.k, tenant_clusters: run.tenants.outcome.k, ms: Math.round(run.durationMs) }, 'clustering run completed');
  });
  service.on('runFailed', (status, err) => log.error({ run_id: status.runId, err }, 'clustering run failed'));
}
