/**
 * Kafka settings from the environment (CONTRACT.md: KAFKA_BROKERS, KAFKA_GROUP_ID, KAFKA_TOPIC_*), validated
 * with zod and mapped to a kafkajs KafkaConfig. The SASL password is kept out of every message and log line:
 * operators paste startup errors into tickets.
 */
import { readFileSync } from 'node:fs';
import { type KafkaConfig, type LogEntry, logLevel, type RetryOptions, type SASLOptions } from 'kafkajs';
import { z } from 'zod';
import { defaultTopics, type TopicNames } from '../contract/topics.ts';

export type SaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

export interface KafkaSettings {
  brokers: string[];
  clientId: string;
  groupId: string;
  topics: TopicNames;
  /** Host capacities for the placement advice (docs/placement.md); not subscribed when absent. */
  hostAttributesTopic?: string;
  /** Appended to a source topic's name to get its dead-letter topic. */
  dlqSuffix: string;
  /** Dead-letter topic for records whose source topic is not one of `topics`. */
  dlqCatchAllTopic: string;
  /** Upper bound of one dead-letter send in bytes; absent: each DLQ topic's own max.message.bytes (DeadLetterOptions). */
  dlqMaxMessageBytes?: number;
  /** While the DLQ cannot be written (an ACL, a size limit), how often to try again; default 60 s. */
  dlqRecheckMs?: number;
  /** Where a group with no committed offset starts: the whole retained history, or only new messages. */
  fromBeginning: boolean;
  sasl: { mechanism: SaslMechanism; username: string; password: string } | null;
  tls: { caPem: string | null; rejectUnauthorized: boolean } | null;
}

/** The message of a bad environment: one line per bad variable, never a secret's value. */
export class KafkaEnvError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid Kafka settings in the environment:\n  ${problems.join('\n  ')}`);
    this.name = 'KafkaEnvError';
  }
}

const TOPIC_RE = /^[a-zA-Z0-9._-]{1,249}$/;
const topicName = z.string().regex(TOPIC_RE, 'a Kafka topic name: 1..249 of [a-zA-Z0-9._-]');

/** Accepts the spellings people put in env files; anything else is an error rather than a silent false. */
const envBool = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off']))
  .transform((v) => v === 'true' || v === '1' || v === 'yes' || v === 'on');

const brokerRe = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/;
const brokerList = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((b) => b.trim())
      .filter((b) => b.length > 0),
  )
  .superRefine((list, ctx) => {
    if (list.length === 0) ctx.addIssue({ code: 'custom', message: 'needs at least one host:port' });
    for (const b of list) {
      const m = brokerRe.exec(b);
      const port = m ? Number(m[2]) : 0;
      if (!m || port < 1 || port > 65535) ctx.addIssue({ code: 'custom', message: `"${b.slice(0, 100)}" is not host:port` });
    }
  });

const envSchema = z.object({
  KAFKA_BROKERS: brokerList,
  KAFKA_CLIENT_ID: z.string().trim().min(1).max(255).default('alcor-traffic-clusters'),
  KAFKA_GROUP_ID: z.string().trim().min(1).max(255).default('alcor-traffic-clusters'),
  KAFKA_TOPIC_FLOWS: topicName.default(defaultTopics.flows),
  KAFKA_TOPIC_VM_ATTRIBUTES: topicName.default(defaultTopics.vmAttributes),
  KAFKA_TOPIC_TENANT_ATTRIBUTES: topicName.default(defaultTopics.tenantAttributes),
  /** Host capacities (placement advice): subscribed only when set. */
  KAFKA_TOPIC_HOST_ATTRIBUTES: topicName.optional(),
  KAFKA_DLQ_SUFFIX: z.string().regex(/^[a-zA-Z0-9._-]{1,64}$/, '1..64 of [a-zA-Z0-9._-]').default('.rejected'),
  KAFKA_DLQ_CATCH_ALL_TOPIC: topicName.default('unknown.rejected'),
  KAFKA_DLQ_MAX_MESSAGE_BYTES: z.coerce.number().int().min(1024).max(1024 * 1024 * 1024).optional(),
  KAFKA_DLQ_RECHECK_SECONDS: z.coerce.number().min(0.1).max(3600).default(60),
  KAFKA_FROM_BEGINNING: envBool.default(true),
  KAFKA_SASL_MECHANISM: z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(['plain', 'scram-sha-256', 'scram-sha-512']))
    .optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  KAFKA_TLS: envBool.optional(),
  KAFKA_TLS_CA_FILE: z.string().min(1).optional(),
  KAFKA_TLS_REJECT_UNAUTHORIZED: envBool.default(true),
});

const SECRET_VARS = new Set(['KAFKA_SASL_PASSWORD']);

/**
 * The Kafka settings, or null when KAFKA_BROKERS is unset or blank (the service then serves its embedded
 * trace). Throws a KafkaEnvError naming every bad variable. Empty variables count as unset, as in most
 * deployment tools that template env files.
 */
export function parseKafkaEnv(env: Readonly<Record<string, string | undefined>> = process.env): KafkaSettings | null {
  if (!env.KAFKA_BROKERS?.trim()) return null;
  const input: Record<string, string> = {};
  for (const key of Object.keys(envSchema.shape)) {
    const v = env[key];
    if (v !== undefined && v.trim() !== '') input[key] = v;
  }
  const parsed = envSchema.safeParse(input);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0] ?? '?');
      // zod may echo the received value in its message: never for a secret.
      const message = SECRET_VARS.has(name) ? 'invalid value' : issue.message;
      problems.push(`${name}: ${message}`);
    }
    throw new KafkaEnvError(problems);
  }
  const e = parsed.data;

  let sasl: KafkaSettings['sasl'] = null;
  if (e.KAFKA_SASL_MECHANISM) {
    if (!e.KAFKA_SASL_USERNAME) problems.push('KAFKA_SASL_USERNAME: required when KAFKA_SASL_MECHANISM is set');
    if (!e.KAFKA_SASL_PASSWORD) problems.push('KAFKA_SASL_PASSWORD: required when KAFKA_SASL_MECHANISM is set');
    if (e.KAFKA_SASL_USERNAME && e.KAFKA_SASL_PASSWORD) {
      sasl = { mechanism: e.KAFKA_SASL_MECHANISM, username: e.KAFKA_SASL_USERNAME, password: e.KAFKA_SASL_PASSWORD };
    }
  } else if (e.KAFKA_SASL_USERNAME || e.KAFKA_SASL_PASSWORD) {
    problems.push('KAFKA_SASL_MECHANISM: required when KAFKA_SASL_USERNAME or KAFKA_SASL_PASSWORD is set');
  }

  // A CA file only makes sense with TLS, so it turns TLS on unless TLS is explicitly off (then it is an error).
  let tls: KafkaSettings['tls'] = null;
  if (e.KAFKA_TLS === false && e.KAFKA_TLS_CA_FILE) {
    problems.push('KAFKA_TLS_CA_FILE: set while KAFKA_TLS is false');
  } else if (e.KAFKA_TLS === true || e.KAFKA_TLS_CA_FILE) {
    let caPem: string | null = null;
    if (e.KAFKA_TLS_CA_FILE) {
      try {
        caPem = readFileSync(e.KAFKA_TLS_CA_FILE, 'utf8');
        if (!caPem.includes('-----BEGIN')) problems.push(`KAFKA_TLS_CA_FILE: ${e.KAFKA_TLS_CA_FILE} holds no PEM certificate`);
      } catch (err) {
        problems.push(`KAFKA_TLS_CA_FILE: cannot read ${e.KAFKA_TLS_CA_FILE} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
    }
    tls = { caPem, rejectUnauthorized: e.KAFKA_TLS_REJECT_UNAUTHORIZED };
  }
  if (problems.length > 0) throw new KafkaEnvError(problems);

  return {
    brokers: e.KAFKA_BROKERS,
    clientId: e.KAFKA_CLIENT_ID,
    groupId: e.KAFKA_GROUP_ID,
    topics: {
      flows: e.KAFKA_TOPIC_FLOWS,
      vmAttributes: e.KAFKA_TOPIC_VM_ATTRIBUTES,
      tenantAttributes: e.KAFKA_TOPIC_TENANT_ATTRIBUTES,
    },
    ...(e.KAFKA_TOPIC_HOST_ATTRIBUTES === undefined ? {} : { hostAttributesTopic: e.KAFKA_TOPIC_HOST_ATTRIBUTES }),
    dlqSuffix: e.KAFKA_DLQ_SUFFIX,
    dlqCatchAllTopic: e.KAFKA_DLQ_CATCH_ALL_TOPIC,
    ...(e.KAFKA_DLQ_MAX_MESSAGE_BYTES === undefined ? {} : { dlqMaxMessageBytes: e.KAFKA_DLQ_MAX_MESSAGE_BYTES }),
    dlqRecheckMs: Math.round(e.KAFKA_DLQ_RECHECK_SECONDS * 1000),
    fromBeginning: e.KAFKA_FROM_BEGINNING,
    sasl,
    tls,
  };
}

/** Settings for a plain local broker (tests, dev tools): defaults everywhere, no SASL/TLS. */
export function localKafkaSettings(brokers: string, overrides: Partial<KafkaSettings> = {}): KafkaSettings {
  const parsed = parseKafkaEnv({ KAFKA_BROKERS: brokers });
  if (parsed === null) throw new KafkaEnvError(['KAFKA_BROKERS: empty']);
  return { ...parsed, ...overrides };
}

/** The settings as they may be logged: the password replaced, the CA reduced to whether there is one. */
export function redactKafkaSettings(s: KafkaSettings): Record<string, unknown> {
  return {
    ...s,
    sasl: s.sasl ? { mechanism: s.sasl.mechanism, username: s.sasl.username, password: '***' } : null,
    tls: s.tls ? { ca: s.tls.caPem !== null, rejectUnauthorized: s.tls.rejectUnauthorized } : null,
  };
}

/**
 * Retries for broker unavailability: kafkajs doubles the wait from 300 ms up to 30 s with jitter. The
 * count bounds one operation; the consumer restarts itself after it (restartOnFailure) and the service's
 * supervisor reconnects after a non-retriable crash, so an outage of any length is survived.
 */
export const defaultRetry: RetryOptions = {
  initialRetryTime: 300,
  maxRetryTime: 30_000,
  retries: 10,
  multiplier: 2,
  factor: 0.2,
};

/** A pino-style logger (fastify's logger fits): fields first, then the message. */
export interface KafkaLogger {
  debug(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

export const silentLogger: KafkaLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Routes kafkajs' own log lines to `logger`, so broker outages show up in the service log, not on stdout. */
export function kafkajsLogCreator(logger: KafkaLogger): KafkaConfig['logCreator'] {
  return () =>
    ({ level, log, namespace }: LogEntry) => {
      const { message, timestamp: _timestamp, ...fields } = log;
      const tagged = { ...fields, kafkajs: namespace };
      if (level === logLevel.ERROR) logger.error(tagged, message);
      else if (level === logLevel.WARN) logger.warn(tagged, message);
      else if (level === logLevel.INFO) logger.info(tagged, message);
      else logger.debug(tagged, message);
    };
}

export interface KafkaConfigExtras {
  logger?: KafkaLogger;
  /** kafkajs' own verbosity; WARN by default (INFO logs every group join and fetch session). */
  logLevel?: logLevel;
  retry?: RetryOptions;
  clientIdSuffix?: string;
}

export function toKafkaConfig(s: KafkaSettings, extras: KafkaConfigExtras = {}): KafkaConfig {
  const config: KafkaConfig = {
    clientId: extras.clientIdSuffix ? `${s.clientId}-${extras.clientIdSuffix}` : s.clientId,
    brokers: s.brokers,
    connectionTimeout: 3000,
    requestTimeout: 30_000,
    retry: extras.retry ?? defaultRetry,
    logLevel: extras.logLevel ?? logLevel.WARN,
  };
  if (extras.logger) config.logCreator = kafkajsLogCreator(extras.logger);
  if (s.sasl) {
    const sasl: SASLOptions = { mechanism: s.sasl.mechanism, username: s.sasl.username, password: s.sasl.password };
    config.sasl = sasl;
  }
  if (s.tls) {
    config.ssl = {
      rejectUnauthorized: s.tls.rejectUnauthorized,
      ...(s.tls.caPem !== null ? { ca: [s.tls.caPem] } : {}),
    };
  }
  return config;
}

/** An error chain as kafkajs builds it: its own errors keep the underlying one as `cause` or `originalError`. */
function errorChain(err: unknown): Error[] {
  const chain: Error[] = [];
  for (let e: unknown = err; e instanceof Error && chain.length < 5; ) {
    chain.push(e);
    const next = (e as { cause?: unknown; originalError?: unknown }).cause ?? (e as { originalError?: unknown }).originalError;
    e = next;
  }
  return chain;
}

/** Node's codes for a certificate the client could not verify. */
const TLS_VERIFY_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * What an operator should read when the connection to Kafka fails: kafkajs says "SASL PLAIN authentication
 * failed: ..." or a bare "self-signed certificate"; this names the settings to check. `cause` is the
 * original message (null when it is the message). Never includes the password: kafkajs does not echo it.
 */
export function describeKafkaError(err: unknown, s: KafkaSettings): { message: string; cause: string | null } {
  const chain = errorChain(err);
  const original = chain[0]?.message ?? String(err);
  const auth = chain.find((e) => e.name === 'KafkaJSSASLAuthenticationError' || /SASL .*authentication failed/i.test(e.message));
  if (auth && s.sasl) {
    return {
      message: `Kafka rejected the credentials: SASL ${s.sasl.mechanism.toUpperCase()} authentication of user "${s.sasl.username}" failed (${auth.message}); check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD`,
      cause: auth.message,
    };
  }
  const tls = chain.find((e) => TLS_VERIFY_CODES.has((e as NodeJS.ErrnoException).code ?? '') || /self[- ]signed certificate|unable to verify the first certificate|certificate has expired/i.test(e.message));
  if (tls) {
    return {
      message: `TLS connection to Kafka failed: ${tls.message}; check KAFKA_TLS_CA_FILE (the CA that signed the broker's certificate) or KAFKA_TLS_REJECT_UNAUTHORIZED`,
      cause: tls.message,
    };
  }
  return { message: original, cause: null };
}

/** Whether a string can name a Kafka topic (the broker rejects a whole request that names a bad one). */
export function isValidTopicName(name: string): boolean {
  return TOPIC_RE.test(name) && name !== '.' && name !== '..';
}
