/**
 * The service's configuration, parsed once at start-up from the environment: where to listen, where to
 * keep state and models, what to replay when no Kafka is configured, and the pipeline and clustering
 * options (the same schema as the replay command's flags, under SCREAMING_SNAKE_CASE names), access control,
 * and the Kafka input (kafka-settings.ts). One loader for all of them: every variable is read once, and every
 * problem of every part is listed in one ConfigError.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { ServiceError } from '../errors/catalogue.ts';
import { type ApiKey, parseKeyHash } from '../access/api-keys.ts';
import { parseScope } from '../access/scope.ts';
import { envBoolean } from './env-values.ts';
import { packagePath } from './package-root.ts';
import { readKafkaSettings, type KafkaSettings } from './kafka-settings.ts';
import { PipelineOptions, TOPIC_ENV, TopicOptions } from './pipeline-options.ts';

const ServiceEnv = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65_535).default(8080),
  // Defaults inside the package's folder, whatever the current folder (docs/operations.md, .env.example); a value
  // given is a path as usual, relative ones from the current folder.
  STATE_DIR: z.string().min(1).default(packagePath('state')),
  MODELS_DIR: z.string().min(1).default(packagePath('models')),
  /** Runs kept for GET /v1/runs and their changes. */
  RUN_HISTORY: z.coerce.number().int().min(1).max(10_000).default(50),
  /** Trace replayed into the service when KAFKA_BROKERS is unset. */
  EMBEDDED_TRACE: z.string().min(1).default(packagePath('fixtures/small.jsonl.gz')),
  /** Wall-clock seconds between runs besides the event-time schedule (0: event time only). */
  RECLUSTER_WALLCLOCK_SECONDS: z.coerce.number().min(0).default(60),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Snapshots of the state with their Kafka offsets (Kafka input only); default STATE_DIR/snapshots. */
  SNAPSHOT_DIR: z.string().min(1).optional(),
  /** Wall-clock seconds between snapshots; 0 turns snapshots off (offsets are then committed per batch). */
  SNAPSHOT_INTERVAL_SECONDS: z.coerce.number().min(0).max(86_400).default(30),
  /** Snapshot files kept: an older one is the fallback when the newest cannot be read. */
  SNAPSHOTS_KEPT: z.coerce.number().int().min(1).max(100).default(3),
});

export type ServiceEnv = z.infer<typeof ServiceEnv>;

// ---- access control (README, "Security") ------------------------------------------------------------------

const KeyEntry = z.object({
  hash: z.string(),
  scope: z.string(),
  name: z.string().min(1).max(64).optional(),
});

/**
 * API_KEYS: a JSON array of `{hash, scope, name?}`, or a compact list of `<hash>:<scope>` separated by commas
 * or white space. A hash is a SHA-256 hex digest or `scrypt$N$r$p$salt$hash` (`npm run hash-key`); a scope
 * is `admin` or `tenant:<tenant_id>` (the first colon ends the hash, so a tenant id may hold colons).
 */
const ApiKeysSetting = z
  .string()
  .trim()
  .transform((text, ctx): ApiKey[] => {
    if (text === '') return [];
    let entries: Array<z.infer<typeof KeyEntry>>;
    if (text.startsWith('[')) {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'starts with [ but is not JSON' });
        return z.NEVER;
      }
      const parsed = z.array(KeyEntry).safeParse(json);
      if (!parsed.success) {
        ctx.addIssue({ code: 'custom', message: `JSON form: ${parsed.error.issues.map((i) => `[${i.path.join('.')}] ${i.message}`).join('; ')}` });
        return z.NEVER;
      }
      entries = parsed.data;
    } else {
      entries = text.split(/[\s,]+/).map((item) => {
        const colon = item.indexOf(':');
        return colon < 0 ? { hash: item, scope: '' } : { hash: item.slice(0, colon), scope: item.slice(colon + 1) };
      });
    }
    const keys: ApiKey[] = [];
    const seen = new Set<string>();
    entries.forEach((e, i) => {
      const hash = parseKeyHash(e.hash);
      const scope = parseScope(e.scope);
      // Problems name the entry by position: the hash itself is not echoed into logs.
      if (typeof hash === 'string') ctx.addIssue({ code: 'custom', message: `entry ${i + 1}: ${hash}` });
      if (scope === null) ctx.addIssue({ code: 'custom', message: `entry ${i + 1}: scope must be admin or tenant:<tenant_id>, got ${JSON.stringify(e.scope.slice(0, 140))}` });
      if (seen.has(e.hash)) ctx.addIssue({ code: 'custom', message: `entry ${i + 1}: the same hash twice` });
      seen.add(e.hash);
      if (typeof hash !== 'string' && scope !== null) keys.push({ id: e.name ?? `key-${i + 1}`, hash, scope });
    });
    return keys;
  });

const SecurityEnv = z.object({
  API_KEYS: ApiKeysSetting.default([]),
  /** Serve /metrics without a key even when keys are configured (a scraper on a trusted network). */
  METRICS_PUBLIC: envBoolean.default(false),
  /** Requests per RATE_LIMIT_WINDOW_SECONDS per API key (per client IP without one); 0 turns it off. */
  RATE_LIMIT_MAX: z.coerce.number().int().min(0).max(1_000_000).default(1200),
  RATE_LIMIT_WINDOW_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
  /** scrypt key checks per RATE_LIMIT_WINDOW_SECONDS per client IP (a key proven once is not checked again); 0: no per-client bound. */
  SCRYPT_RATE_LIMIT_MAX: z.coerce.number().int().min(0).max(100_000).default(10),
  /** Serve an API without keys on an address other than loopback, on purpose. */
  ALLOW_OPEN_API: envBoolean.default(false),
  /**
   * Host names the service answers to (the Host header, without port), comma-separated; `*`: any. Unset:
   * any when API keys are configured, else the loopback names and HOST (DNS rebinding, docs/security.md).
   */
  ALLOWED_HOSTS: z
    .string()
    .trim()
    .transform((s) => s.split(',').map((h) => h.trim().toLowerCase()).filter((h) => h !== ''))
    .pipe(z.array(z.union([z.literal('*'), z.string().regex(/^[a-z0-9._:[\]-]{1,253}$/, 'a host name or IP address without port')])))
    .optional(),
  /** Origins allowed to call the API from a browser, comma-separated; unset: no CORS headers at all. */
  CORS_ORIGINS: z
    .string()
    .trim()
    .transform((s) => s.split(',').map((o) => o.trim()).filter((o) => o !== ''))
    .pipe(z.array(z.union([z.literal('*'), z.url({ protocol: /^https?$/ })])))
    .optional(),
  /**
   * Behind a reverse proxy: how many proxy hops to trust, or which proxy addresses (IPs, CIDRs, `loopback`,
   * `linklocal`, `uniquelocal`), so the client address of X-Forwarded-For keys the anonymous rate limit.
   * Unset: the socket's address (trusting any sender's header would let a client pick its own bucket).
   */
  TRUST_PROXY: z
    .string()
    .trim()
    .transform((s): number | string[] => (/^\d+$/.test(s) ? Number(s) : s.split(',').map((a) => a.trim())))
    .pipe(
      z.union([
        z.number().int().min(1).max(10),
        z.array(z.union([z.ipv4(), z.ipv6(), z.cidrv4(), z.cidrv6(), z.enum(['loopback', 'linklocal', 'uniquelocal'])])).min(1),
      ]),
    )
    .optional(),
});

export interface SecurityConfig {
  keys: ApiKey[];
  metricsPublic: boolean;
  /** null: off. */
  rateLimit: { max: number; windowMs: number } | null;
  /** null: CORS off (browsers keep to same-origin). */
  corsOrigins: string[] | null;
  /** null: the socket's address is the client's. */
  trustProxy: number | string[] | null;
  /** scrypt checks per window per client; null: no per-client bound. */
  keyCheckLimit: { max: number; windowMs: number } | null;
  /** Host names requests may name; null: any. */
  allowedHosts: string[] | null;
}

/** Names of this machine a browser can reach only from it: an open API is safe behind them. */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'] as const;
const ANY_ADDRESS = new Set(['0.0.0.0', '::', '[::]']);

/** Whether HOST listens on loopback only (127.0.0.0/8, ::1, localhost). */
function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice('::ffff:'.length) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/**
 * The Host names of an API: the configured ones; else none to check when keys protect it (a rebinding page
 * holds no key); else the loopback names and HOST itself when it names one address (not 0.0.0.0 or ::).
 */
function allowedHostsOf(configured: string[] | undefined, keys: readonly ApiKey[], host: string): string[] | null {
  // Empty is unset: compose passes `${ALLOWED_HOSTS:-}` through as an empty string.
  if (configured !== undefined && configured.length > 0) return configured.includes('*') ? null : configured;
  if (keys.length > 0) return null;
  const names: string[] = [...LOOPBACK_NAMES];
  const own = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (!ANY_ADDRESS.has(own) && !names.includes(own)) names.push(own);
  return names;
}

export interface ServiceConfig {
  env: ServiceEnv;
  pipeline: PipelineOptions;
  security: SecurityConfig;
  /** The Kafka input; null when KAFKA_BROKERS is unset (the service then serves EMBEDDED_TRACE). */
  kafka: KafkaSettings | null;
}

/** PipelineOptions keys read from the environment, e.g. kMin from K_MIN. Topics come from KAFKA_TOPIC_*. */
const PIPELINE_ENV: Record<string, string> = {
  WINDOW_MINUTES: 'windowMinutes',
  BUCKET_SECONDS: 'bucketSeconds',
  LATENESS_SECONDS: 'latenessSeconds',
  MAX_FUTURE_SKEW_SECONDS: 'maxFutureSkewSeconds',
  FUTURE_QUORUM: 'futureQuorum',
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
  MAX_VMS: 'maxVms',
  MAX_PEERS_PER_VM: 'maxPeersPerVm',
  MAX_VM_PAIRS: 'maxVmPairs',
  MAX_SECURITY_GROUP_CONNECTIONS: 'maxSecurityGroupConnections',
  MAX_TENANTS: 'maxTenants',
  MAX_TENANT_LABELS: 'maxTenantLabels',
  MAX_DELETED_VMS: 'maxDeletedVms',
  MAX_ADDRESS_CLAIMS: 'maxAddressClaims',
  MAX_HELD_FLOWS: 'maxHeldFlows',
  MAX_HELD_FLOW_BYTES: 'maxHeldFlowBytes',
  IDLE_MINUTES: 'idleMinutes',
  DELETED_RETENTION_HOURS: 'deletedRetentionHours',
  MAX_MESSAGE_BYTES: 'maxMessageBytes',
  MAX_BATCH_RECORDS: 'maxBatchRecords',
  ...TOPIC_ENV,
  KAFKA_FLOW_FORMAT: 'flowFormat',
  PLACEMENT_MAX_MOVES: 'placementMaxMoves',
  PLACEMENT_DEFAULT_VCPUS: 'placementDefaultVcpus',
  PLACEMENT_DEFAULT_MEMORY_MB: 'placementDefaultMemoryMb',
  PLACEMENT_RACK_LABEL: 'placementRackLabel',
  PLACEMENT_ZONE_LABEL: 'placementZoneLabel',
  PLACEMENT_TIER_DISTANCES: 'placementTierDistances',
};

export class ConfigError extends ServiceError {
  constructor(readonly problems: string[]) {
    super('config_invalid', `invalid configuration:\n  ${problems.join('\n  ')}`);
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
  const s = SecurityEnv.safeParse(env);
  if (!s.success) for (const i of s.error.issues) problems.push(`${String(i.path[0])}: ${i.message}`);
  // The Kafka part takes the topic names the pipeline options read (with another pipeline option broken, the
  // same schema's topic part alone), so that its problems are listed too.
  const topics = p.success ? p.data : TopicOptions.safeParse(raw).data;
  const kafka = topics ? readKafkaSettings(env, topics, problems) : null;
  if (!e.success || !p.success || !s.success || problems.length > 0) throw new ConfigError(problems);
  const sec = s.data;
  if (sec.API_KEYS.length === 0 && !sec.ALLOW_OPEN_API && !isLoopbackHost(e.data.HOST)) {
    throw new ConfigError([
      `HOST: ${e.data.HOST} is not a loopback address and API_KEYS is unset: anyone who reaches the port would be admin. ` +
        'Set API_KEYS (npm run hash-key -- --generate --scope admin), or ALLOW_OPEN_API=true to serve an open API on purpose.',
    ]);
  }
  const security: SecurityConfig = {
    keys: sec.API_KEYS,
    metricsPublic: sec.METRICS_PUBLIC,
    rateLimit: sec.RATE_LIMIT_MAX === 0 ? null : { max: sec.RATE_LIMIT_MAX, windowMs: sec.RATE_LIMIT_WINDOW_SECONDS * 1000 },
    corsOrigins: sec.CORS_ORIGINS === undefined || sec.CORS_ORIGINS.length === 0 ? null : sec.CORS_ORIGINS,
    trustProxy: sec.TRUST_PROXY ?? null,
    keyCheckLimit: sec.SCRYPT_RATE_LIMIT_MAX === 0 ? null : { max: sec.SCRYPT_RATE_LIMIT_MAX, windowMs: sec.RATE_LIMIT_WINDOW_SECONDS * 1000 },
    allowedHosts: allowedHostsOf(sec.ALLOWED_HOSTS, sec.API_KEYS, e.data.HOST),
  };
  return { env: e.data, pipeline: p.data, security, kafka };
}
