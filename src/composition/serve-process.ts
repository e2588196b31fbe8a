/**
 * The service as this process (`npm start`, `alcor-clusters serve`): the configuration from the environment
 * and ./.env, the exit codes an operator's tooling relies on, and a graceful shutdown on SIGINT/SIGTERM
 * (the consumer finishes and commits its batch and leaves the group, the server closes, an in-flight run
 * completes). The process environment is read, never written.
 */
import { join } from 'node:path';
import closeWithGrace from 'close-with-grace';
import { EnvFileError, type EnvFileLoad, loadEnvFile } from '../config/env-file.ts';
import { ConfigError, loadServiceConfig, type ServiceConfig } from '../config/service-config.ts';
import { Registry } from 'prom-client';
import type { KafkaSettings } from '../config/kafka-settings.ts';
import { toPipelineConfig } from '../config/pipeline-options.ts';
import { ServiceMetrics } from '../observability/service-metrics.ts';
import { acquireStateLock, StateDirLockedError } from '../storage/state-lock.ts';
import { parseTopologyEnv, type TopologyConfig, TopologyEnvError } from '../topology/config.ts';
import { serveScaleOut } from '../topology/serve.ts';
import { createService, type ServiceHandle } from './create-service.ts';

/** Exit codes: 2 a configuration error, 3 STATE_DIR held by another process, 1 any other failure at start. */
const EXIT_CONFIG = 2;
const EXIT_STATE_DIR_LOCKED = 3;
const EXIT_START_FAILED = 1;

const PROGRAM = 'alcor-traffic-clusters';

/**
 * Starts the service with `overrides` (command-line flags) over the environment over ./.env, and resolves
 * once it runs (the bundled trace read). A failure to start ends the process with its exit code; it never rejects.
 */
export async function serveProcess(overrides: Readonly<Record<string, string>> = {}): Promise<void> {
  let config: ServiceConfig;
  let envFile: EnvFileLoad | null;
  // .env fills in what the environment leaves unset (env-file.ts), in a copy; then everything is checked at once.
  const env: NodeJS.ProcessEnv = { ...process.env, ...overrides };
  let handle: ServiceHandle;
  try {
    envFile = loadEnvFile(undefined, env);
    config = loadServiceConfig(env);
    const topology = parseTopologyEnv(env);
    if (topology) {
      // Several members of one application: the windows live in Kafka's partitions, not in this process's snapshots.
      if (!config.kafka) throw new ConfigError(['SCALE_OUT_APP_ID: set without KAFKA_BROKERS (the members of an application share their work through Kafka)']);
      await serveScaleOutMember(config, config.kafka, topology);
      return;
    }
    handle = await createService(config, {
      envFile,
      onStateLockLost: (why) => {
        process.stderr.write(`${PROGRAM}: lost the STATE_DIR lock ${join(config.env.STATE_DIR, 'alcor.lock')} (${why}); stopping\n`);
        process.exit(EXIT_STATE_DIR_LOCKED);
      },
    });
  } catch (err) {
    if (err instanceof ConfigError || err instanceof EnvFileError || err instanceof TopologyEnvError) exit(EXIT_CONFIG, err.message);
    if (err instanceof StateDirLockedError) exit(EXIT_STATE_DIR_LOCKED, `${PROGRAM}: ${err.message}`);
    exit(EXIT_START_FAILED, `${PROGRAM}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const log = handle.app.log;
  closeWithGrace({ delay: 30_000 }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'shutting down after an error');
    else log.info({ signal }, 'shutting down');
    await handle.stop();
  });
  try {
    await handle.start();
  } catch (err) {
    exit(EXIT_START_FAILED, `${PROGRAM}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** A member of a scale-out application (src/topology/): its own serve loop, behind the same STATE_DIR lock and exit codes. */
async function serveScaleOutMember(config: ServiceConfig, kafka: KafkaSettings, topology: TopologyConfig): Promise<void> {
  const lock = acquireStateLock(config.env.STATE_DIR, {
    onLost: (why) => exit(EXIT_STATE_DIR_LOCKED, `${PROGRAM}: lost the STATE_DIR lock ${join(config.env.STATE_DIR, 'alcor.lock')} (${why}); stopping`),
  });
  process.once('exit', () => lock.release());
  const replayed = toPipelineConfig(config.pipeline);
  // Live input has a wall clock to bound event times by.
  const pipeline = replayed.future ? { ...replayed, future: { ...replayed.future, wallClock: Date.now } } : replayed;
  await serveScaleOut({ config, kafka, topology, pipeline, metrics: new ServiceMetrics(new Registry()) });
}

function exit(code: number, message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}
