/**
 * The Kafka part of the configuration (CONTRACT.md: KAFKA_BROKERS, KAFKA_GROUP_ID, the dead-letter topics,
 * SASL, TLS). The topic names are not read here: they are pipeline options (KAFKA_TOPIC_*, also the topics
 * of a trace), read once by pipeline-options.ts and only checked here as Kafka names. The SASL password is
 * kept out of every message: operators paste start-up errors into tickets.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ServiceError } from '../errors/catalogue.ts';
import type { TopicNames } from '../contract/topics.ts';
import { envBoolean } from './env-values.ts';
import { TOPIC_ENV, TopicOptions, type TopicOptionsValue } from './pipeline-options.ts';

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

/** The message of a bad Kafka environment alone (parseKafkaEnv): one line per bad variable, never a secret's value. */
export class KafkaEnvError extends ServiceError {
  constructor(readonly problems: string[]) {
    super('config_invalid', `invalid Kafka settings in the environment:\n  ${problems.join('\n  ')}`);
    this.name = 'KafkaEnvError';
  }
}

const TOPIC_RE = /^[a-zA-Z0-9._-]{1,249}$/;
const topicName = z.string().regex(TOPIC_RE, 'a Kafka topic name: 1..249 of [a-zA-Z0-9._-]');

/** Whether a string can name a Kafka topic (the broker rejects a whole request that names a bad one). */
export function isValidTopicName(name: string): boolean {
  return TOPIC_RE.test(name) && name !== '.' && name !== '..';
}

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

const KafkaEnv = z.object({
  KAFKA_BROKERS: brokerList,
  KAFKA_CLIENT_ID: z.string().trim().min(1).max(255).default('alcor-traffic-clusters'),
  KAFKA_GROUP_ID: z.string().trim().min(1).max(255).default('alcor-traffic-clusters'),
  KAFKA_DLQ_SUFFIX: z.string().regex(/^[a-zA-Z0-9._-]{1,64}$/, '1..64 of [a-zA-Z0-9._-]').default('.rejected'),
  KAFKA_DLQ_CATCH_ALL_TOPIC: topicName.default('unknown.rejected'),
  KAFKA_DLQ_MAX_MESSAGE_BYTES: z.coerce.number().int().min(1024).max(1024 * 1024 * 1024).optional(),
  KAFKA_DLQ_RECHECK_SECONDS: z.coerce.number().min(0.1).max(3600).default(60),
  KAFKA_FROM_BEGINNING: envBoolean.default(true),
  KAFKA_SASL_MECHANISM: z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(['plain', 'scram-sha-256', 'scram-sha-512']))
    .optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  KAFKA_TLS: envBoolean.optional(),
  KAFKA_TLS_CA_FILE: z.string().min(1).optional(),
  KAFKA_TLS_REJECT_UNAUTHORIZED: envBoolean.default(true),
});

const SECRET_VARS = new Set(['KAFKA_SASL_PASSWORD']);

/** Whether the environment asks for Kafka input (else the service serves its embedded trace). */
function kafkaEnabled(env: Readonly<Record<string, string | undefined>>): boolean {
  return Boolean(env.KAFKA_BROKERS?.trim());
}

/**
 * The Kafka settings over already parsed topic names, or null when KAFKA_BROKERS is unset or blank. Every
 * problem is appended to `problems` (named by variable) and null returned then. Empty variables count as
 * unset, as in most deployment tools that template env files.
 */
export function readKafkaSettings(env: Readonly<Record<string, string | undefined>>, topics: TopicOptionsValue, problems: string[]): KafkaSettings | null {
  if (!kafkaEnabled(env)) return null;
  const before = problems.length;
  const input: Record<string, string> = {};
  for (const key of Object.keys(KafkaEnv.shape)) {
    const v = env[key];
    if (v !== undefined && v.trim() !== '') input[key] = v;
  }
  // The topics must also be Kafka names: a trace may use any name, a broker may not.
  for (const [name, key] of Object.entries(TOPIC_ENV)) {
    if (key === 'hostAttributesTopic' && !env[name]?.trim()) continue;
    const topic = topics[key];
    if (!isValidTopicName(topic)) problems.push(`${name}: a Kafka topic name: 1..249 of [a-zA-Z0-9._-]`);
  }
  const parsed = KafkaEnv.safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0] ?? '?');
      // zod may echo the received value in its message: never for a secret.
      problems.push(`${name}: ${SECRET_VARS.has(name) ? 'invalid value' : issue.message}`);
    }
    return null;
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
  if (problems.length > before) return null;

  return {
    brokers: e.KAFKA_BROKERS,
    clientId: e.KAFKA_CLIENT_ID,
    groupId: e.KAFKA_GROUP_ID,
    topics: { flows: topics.flowsTopic, vmAttributes: topics.vmAttributesTopic, tenantAttributes: topics.tenantAttributesTopic },
    ...(env.KAFKA_TOPIC_HOST_ATTRIBUTES?.trim() ? { hostAttributesTopic: topics.hostAttributesTopic } : {}),
    dlqSuffix: e.KAFKA_DLQ_SUFFIX,
    dlqCatchAllTopic: e.KAFKA_DLQ_CATCH_ALL_TOPIC,
    ...(e.KAFKA_DLQ_MAX_MESSAGE_BYTES === undefined ? {} : { dlqMaxMessageBytes: e.KAFKA_DLQ_MAX_MESSAGE_BYTES }),
    dlqRecheckMs: Math.round(e.KAFKA_DLQ_RECHECK_SECONDS * 1000),
    fromBeginning: e.KAFKA_FROM_BEGINNING,
    sasl,
    tls,
  };
}

/**
 * The Kafka settings alone, for the commands that only talk to Kafka (produce, the bench): the same
 * reading as the service's configuration, the topic names included. Throws a KafkaEnvError naming every
 * bad variable; null when KAFKA_BROKERS is unset or blank.
 */
export function parseKafkaEnv(env: Readonly<Record<string, string | undefined>> = process.env): KafkaSettings | null {
  if (!kafkaEnabled(env)) return null;
  const problems: string[] = [];
  const topics = TopicOptions.safeParse(topicInput(env));
  if (!topics.success) {
    for (const i of topics.error.issues) problems.push(`${envNameOfTopic(String(i.path[0]))}: ${i.message}`);
    throw new KafkaEnvError(problems);
  }
  const settings = readKafkaSettings(env, topics.data, problems);
  if (settings === null) throw new KafkaEnvError(problems);
  return settings;
}

function topicInput(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const raw: Record<string, string> = {};
  for (const [name, key] of Object.entries(TOPIC_ENV)) {
    const v = env[name];
    if (v !== undefined && v !== '') raw[key] = v;
  }
  return raw;
}

function envNameOfTopic(key: string): string {
  return Object.entries(TOPIC_ENV).find(([, k]) => k === key)?.[0] ?? key;
}
