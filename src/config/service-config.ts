/**
 * The service's configuration, parsed once at start-up from the environment: where to listen, where to
 * keep state and models, what to replay when no Kafka is configured, and the pipeline and clustering
 * options (the same schema as the replay command's flags, under SCREAMING_SNAKE_CASE names).
 * Kafka settings are parsed by src/kafka/options.ts from the same environment.
 */
import { z } from 'zod';
import { PipelineOptions } from './pipeline-options.ts';

const ServiceEnv = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65_535).default(8080),
  STATE_DIR: z.string().min(1).default('state'),
  MODELS_DIR: z.string().min(1).default('models'),
  /** Runs kept for GET /v1/runs and their changes. */
  RUN_HISTORY: z.coerce.number().int().min(1).max(10_000).default(50),
  /** Trace replayed into the service when KAFKA_BROKERS is unset. */
  EMBEDDED_TRACE: z.string().min(1).default('fixtures/small.jsonl.gz'),
  /** Wall-clock seconds between runs besides the event-time schedule (0: event time only). */
  RECLUSTER_WALLCLOCK_SECONDS: z.coerce.number().min(0).default(60),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type ServiceEnv = z.infer<typeof ServiceEnv>;

export interface ServiceConfig {
  env: ServiceEnv;
  pipeline: PipelineOptions;
}

/** PipelineOptions keys read from the environment, e.g. kMin from K_MIN. Topics come from KAFKA_TOPIC_*. */
const PIPELINE_ENV: Record<string, string> = {
  WINDOW_MINUTES: 'windowMinutes',
  BUCKET_SECONDS: 'bucketSeconds',
  LATENESS_SECONDS: 'latenessSeconds',
  RECLUSTER_MINUTES: 'reclusterMinutes',
  ALGORITHM: 'algorithm',
  K: 'k',
  K_MIN: 'kMin',
  K_MAX: 'kMax',
  TENANT_ALGORITHM: 'tenantAlgorithm',
  TENANT_K: 'tenantK',
  TENANT_K_MIN: 'tenantKMin',
  TENANT_K_MAX: 'tenantKMax',
  RESTARTS: 'restarts',
  SEED: 'seed',
  PCA: 'pca',
  DBSCAN_EPS: 'dbscanEps',
  DBSCAN_MIN_POINTS: 'dbscanMinPoints',
  KAFKA_TOPIC_FLOWS: 'flowsTopic',
  KAFKA_TOPIC_VM_ATTRIBUTES: 'vmAttributesTopic',
  KAFKA_TOPIC_TENANT_ATTRIBUTES: 'tenantAttributesTopic',
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

export function loadServiceConfig(env: NodeJS.ProcessEnv): ServiceConfig {
  const problems: string[] = [];
  const e = ServiceEnv.safeParse(env);
  if (!e.success) for (const i of e.error.issues) problems.push(`${String(i.path[0])}: ${i.message}`);
  const raw: Record<string, string> = {};
  for (const [name, key] of Object.entries(PIPELINE_ENV)) {
    const v = env[name];
    if (v !== undefined && v !== '') raw[key] = v;
  }
  const p = PipelineOptions.safeParse(raw);
  if (!p.success) {
    const byKey = Object.fromEntries(Object.entries(PIPELINE_ENV).map(([name, key]) => [key, name]));
    for (const i of p.error.issues) problems.push(`${byKey[String(i.path[0])] ?? String(i.path[0])}: ${i.message}`);
  }
  if (!e.success || !p.success) throw new ConfigError(problems);
  return { env: e.data, pipeline: p.data };
}
