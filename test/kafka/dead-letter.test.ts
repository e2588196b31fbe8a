/**
 * Dead letters that the broker refuses must not stop the input for good (issue 10 §2). One broker with a
 * small `message.max.bytes` (32 KiB; the input topic is allowed 4 MiB) and ACLs on its SASL listener:
 * - a batch whose rejects add up to far more than the limit, and a reject too big even alone, all reach the
 *   dead-letter topic (split under the topic's limit, the big one as an excerpt) and the input is committed;
 * - the service whose Kafka user may not write the dead-letter topic holds its input uncommitted, counts the
 *   failure, logs it once, answers 503 on /readyz saying why, stops promptly on SIGTERM, and loses nothing:
 *   after a restart and the missing ACL granted, every reject is in the topic exactly once.
 * The time from the produce to the failure being visible on /readyz is printed and kept under a bound.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Admin,
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  Kafka,
  logLevel,
  type Message,
  ResourcePatternTypes,
} from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getFreePorts, type KafkaBroker, startKafkaBroker } from '../../tools/kafka-broker/index.ts';
import { pipelineBatchHandler, startFlowConsumer } from '../../src/kafka/consumer.ts';
import { DeadLetterProducer, type DeadLetterValue } from '../../src/kafka/dead-letter.ts';
import { type KafkaSettings, parseKafkaEnv } from '../../src/config/kafka-settings.ts';
import { defaultPipelineConfig, MAX_RAW_KEPT, Pipeline } from '../../src/pipeline/pipeline.ts';
import { testKafkaClient, uniqueGroup, uniqueTopic } from '../helpers/kafka.ts';
import { getJson, type ServiceProcess, startServiceProcess, waitFor } from '../helpers/service-process.ts';

const LIMIT = 32 * 1024;
const USER = { username: 'alcor-svc', password: 'Dlq-s3cret.pw' };
const PRINCIPAL = `User:${USER.username}`;

let dir = '';
let broker: KafkaBroker;
let client: Kafka;
let admin: Admin;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kafka-dlq-'));
  const [port, controllerPort, saslPort] = await getFreePorts(3);
  broker = await startKafkaBroker({
    port: port!,
    controllerPort: controllerPort!,
    dataDir: join(dir, 'data'),
    logDir: join(dir, 'logs'),
    sasl: { port: saslPort!, users: [USER], mechanisms: ['SCRAM-SHA-256'], acls: true },
    extraProperties: { 'message.max.bytes': LIMIT },
  });
  client = testKafkaClient(broker.brokers, 'dlq-test');
  admin = client.admin();
  await admin.connect();
  // The first group lookup creates __consumer_offsets; until it has a leader kafkajs logs errors and retries.
  await admin.describeGroups(['warmup']);
}, 180_000);

afterAll(async () => {
  await admin?.disconnect();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Topics {
  flows: string;
  vmAttributes: string;
  tenantAttributes: string;
}

/** Input topics that accept 4 MiB messages on a broker whose default (and so the DLQ's) is LIMIT. */
async function createInputTopics(prefix: string): Promise<Topics> {
  const topics = { flows: uniqueTopic(`${prefix}-flows`), vmAttributes: uniqueTopic(`${prefix}-vms`), tenantAttributes: uniqueTopic(`${prefix}-tenants`) };
  await admin.createTopics({
    waitForLeaders: true,
    topics: Object.values(topics).map((topic) => ({
      topic,
      numPartitions: 1,
      replicationFactor: 1,
      configEntries: [{ name: 'max.message.bytes', value: String(4 * 1024 * 1024) }],
    })),
  });
  return topics;
}

async function send(topic: string, messages: Message[]): Promise<void> {
  const producer = client.producer();
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}

interface DeadLetter {
  value: DeadLetterValue;
  reason: string | undefined;
  bytes: number;
}

/** Every message of `topic` from the start (exactly `count` of them, or the time is up). */
async function readDeadLetters(topic: string, count: number, timeoutMs = 20_000): Promise<DeadLetter[]> {
  const got: DeadLetter[] = [];
  const reader = client.consumer({ groupId: uniqueGroup('dlq-reader'), maxWaitTimeInMs: 100 });
  await reader.connect();
  try {
    await reader.subscribe({ topic, fromBeginning: true });
    await reader.run({
      eachMessage: async ({ message }) => {
        got.push({
          value: JSON.parse(message.value?.toString('utf8') ?? 'null') as DeadLetterValue,
          reason: message.headers?.reason?.toString(),
          bytes: message.value?.length ?? 0,
        });
      },
    });
    await waitFor(async () => (got.length >= count ? true : undefined), timeoutMs, `${count} dead letters in ${topic} (got ${got.length})`);
    // Anything beyond `count` (a duplicate) would arrive with the same fetch or the next.
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    await reader.disconnect();
  }
  return got;
}

async function committedOffset(groupId: string, topic: string): Promise<string | undefined> {
  const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return t?.partitions[0]?.offset;
}

describe("dead letters past the broker's message.max.bytes", () => {
  it('splits them under the limit, cuts a reject too big alone to an excerpt, and commits the input', async () => {
    const topics = await createInputTopics('big');
    const settings: KafkaSettings = { ...parseKafkaEnv({ KAFKA_BROKERS: broker.brokers, KAFKA_GROUP_ID: uniqueGroup('big') })!, topics };
    const dlqTopic = `${topics.flows}.rejected`;
    const dlq = new DeadLetterProducer(client, { sourceTopics: Object.values(topics) });
    await dlq.connect();
    const pipeline = new Pipeline({ ...defaultPipelineConfig, topics }, dlq.add);
    const consumer = startFlowConsumer({
      kafka: settings,
      onBatch: pipelineBatchHandler(pipeline),
      deadLetter: dlq,
      sessionTimeoutMs: 10_000,
      heartbeatIntervalMs: 500,
      maxWaitTimeInMs: 100,
    });
    // 3,000 empty records: each a missing_field reject of ~250 bytes, ~750 KB of dead letters in all (23 x LIMIT).
    const empties = JSON.stringify(Array.from({ length: 3000 }, () => ({})));
    // Not JSON: rejected whole; its kept text (MAX_RAW_KEPT quotes) doubles when escaped, past LIMIT alone.
    const quotes = '"'.repeat(40_000);
    const t0 = performance.now();
    try {
      await consumer.ready();
      await send(topics.flows, [{ value: empties }, { value: quotes }]);
      await waitFor(async () => ((await committedOffset(settings.groupId, topics.flows)) === '2' ? true : undefined), 20_000, 'the input committed');
      const committedMs = performance.now() - t0;
      expect(dlq.sentByTopic.get(dlqTopic)).toBe(3001);
      const dead = await readDeadLetters(dlqTopic, 3001);
      expect(dead).toHaveLength(3001);
      const empty = dead.filter((d) => d.value.reason === 'missing_field');
      expect(empty.map((d) => d.value.index)).toEqual(Array.from({ length: 3000 }, (_, i) => i));
      for (const d of empty) expect(d.value).toEqual({ reason: 'missing_field', field: 'ts', message: 'ts: a required field is absent or null', topic: topics.flows, source: `${topics.flows}/0@0`, index: d.value.index, raw: '{}' });
      const [cut] = dead.filter((d) => d.value.reason === 'invalid_json');
      const kept = `${quotes.slice(0, MAX_RAW_KEPT)}…[${quotes.length - MAX_RAW_KEPT} more]`;
      expect(cut?.reason).toBe('invalid_json');
      expect(cut?.value).toMatchObject({ field: null, topic: topics.flows, source: `${topics.flows}/0@1`, index: null, raw_chars: kept.length });
      // The longest excerpt (at most 4,096 characters) that fits: here all 4,096, 8 KiB escaped.
      expect(cut?.value.raw).toBe(quotes.slice(0, 4096));
      for (const d of dead) expect(d.bytes).toBeLessThan(LIMIT);
      console.log(`[dead-letter] 3,001 rejects (${Math.round(dead.reduce((n, d) => n + d.bytes, 0) / 1024)} KiB) under a ${LIMIT}-byte limit: committed ${Math.round(committedMs)} ms after the produce`);
    } finally {
      await consumer.stop();
      await dlq.disconnect();
    }
  }, 90_000);

  it("guesses the limit when it may not read the topic's config, and halves the guess when the broker refuses it", async () => {
    const dlqTopic = uniqueTopic('guess.rejected');
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic: dlqTopic, numPartitions: 1, replicationFactor: 1 }] });
    // WRITE (with DESCRIBE) but no DESCRIBE_CONFIGS: describeConfigs is refused.
    await admin.createAcls({ acl: [allow(AclResourceTypes.TOPIC, dlqTopic, AclOperationTypes.WRITE)] });
    const sasl = new Kafka({
      clientId: 'dlq-guess',
      brokers: [broker.saslBrokers!],
      sasl: { mechanism: 'scram-sha-256', username: USER.username, password: USER.password },
      logLevel: logLevel.NOTHING,
    });
    const warnings: Array<Record<string, unknown>> = [];
    const logger = { debug: () => {}, info: () => {}, error: () => {}, warn: (fields: object) => void warnings.push(fields as Record<string, unknown>) };
    const dlq = new DeadLetterProducer(sasl, { sourceTopics: [], catchAllTopic: dlqTopic, createTopics: false, logger });
    await dlq.connect();
    try {
      for (let i = 0; i < 3000; i++) {
        dlq.add({ reason: 'missing_field', field: 'ts', message: 'ts: a required field is absent or null', topic: 'elsewhere', source: `elsewhere/0@${i}`, index: 0, raw: '{}' });
      }
      await dlq.flush();
      expect(dlq.sentByTopic.get(dlqTopic)).toBe(3000);
      expect(warnings[0]).toMatchObject({ topic: dlqTopic, limit: 1_000_000 });
      // ~750 KB of dead letters: refused at 1,000,000 .. 62,500 bytes per send, accepted at 31,250 (< 32 KiB).
      expect(warnings.slice(1).map((w) => [w.refused, w.limit])).toEqual([
        [1_000_000, 500_000],
        [500_000, 250_000],
        [250_000, 125_000],
        [125_000, 62_500],
        [62_500, 31_250],
      ]);
      const dead = await readDeadLetters(dlqTopic, 3000);
      expect(dead.map((d) => d.value.source)).toEqual(Array.from({ length: 3000 }, (_, i) => `elsewhere/0@${i}`));
    } finally {
      await dlq.disconnect();
    }
  }, 60_000);
});

const allow = (resourceType: AclResourceTypes, resourceName: string, operation: AclOperationTypes) => ({
  resourceType,
  resourceName,
  resourcePatternType: ResourcePatternTypes.LITERAL,
  principal: PRINCIPAL,
  host: '*',
  operation,
  permissionType: AclPermissionTypes.ALLOW,
});

describe('a dead-letter topic the service may not write', () => {

  it('holds the input uncommitted, says why on /readyz, counts and logs it once, stops promptly, and loses nothing', async () => {
    const topics = await createInputTopics('acl');
    const group = uniqueGroup('acl');
    const dlqTopic = `${topics.flows}.rejected`;
    // The DLQ topic exists; the service's user may read its inputs and use its group, but not write the DLQ.
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic: dlqTopic, numPartitions: 1, replicationFactor: 1 }] });
    await admin.createAcls({
      acl: [...Object.values(topics).map((t) => allow(AclResourceTypes.TOPIC, t, AclOperationTypes.READ)), allow(AclResourceTypes.GROUP, group, AclOperationTypes.READ)],
    });
    const records = [0, 1, 2].map((i) => JSON.stringify({ ts: 1_700_000_000_000 + i, src_vm: `vm-${i}` }));
    const env = {
      KAFKA_BROKERS: broker.saslBrokers!,
      KAFKA_SASL_MECHANISM: 'scram-sha-256',
      KAFKA_SASL_USERNAME: USER.username,
      KAFKA_SASL_PASSWORD: USER.password,
      KAFKA_GROUP_ID: group,
      KAFKA_TOPIC_FLOWS: topics.flows,
      KAFKA_TOPIC_VM_ATTRIBUTES: topics.vmAttributes,
      KAFKA_TOPIC_TENANT_ATTRIBUTES: topics.tenantAttributes,
      KAFKA_DLQ_RECHECK_SECONDS: '1',
      SNAPSHOT_INTERVAL_SECONDS: '1',
      STATE_DIR: join(dir, `state-${group}`),
      LOG_LEVEL: 'info',
    };
    type Ready = { status: string; missing: string[]; reasons: string[] };
    const held = async (service: ServiceProcess): Promise<Ready | undefined> => {
      const { status, body } = await getJson<Ready>(`${service.url}/readyz`);
      return status === 503 && body.missing.includes('dead_letters') ? body : undefined;
    };
    const failureLines = (service: ServiceProcess): string[] => service.output().split('\n').filter((l) => l.includes('cannot write dead letters'));

    // 1. Held: not ready, saying why; counted; one log line however many retries; nothing committed.
    const first = await startServiceProcess(env);
    let stopped = false;
    try {
      await waitFor(async () => ((await getJson<{ messages: number }>(`${first.url}/v1/stats`)).status === 200 ? true : undefined), 30_000, 'the API');
      await send(topics.flows, records.map((value) => ({ value })));
      const t0 = performance.now();
      let ready: Ready | undefined;
      while (ready === undefined && performance.now() - t0 < 30_000) {
        ready = await held(first);
        if (ready === undefined) await new Promise((r) => setTimeout(r, 50));
      }
      const detectMs = performance.now() - t0;
      expect(ready?.status).toBe('not_ready');
      const reason = ready?.reasons[ready.missing.indexOf('dead_letters')];
      expect(reason).toMatch(
        new RegExp(
          `^rejects cannot be written to ${dlqTopic.replace(/\./g, '\\.')} since \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z: TOPIC_AUTHORIZATION_FAILED \\(.+\\); ` +
            'consuming is held and the records stay uncommitted \\(nothing is lost\\); ' +
            `grant the service's Kafka user WRITE \\(and DESCRIBE\\) on ${dlqTopic.replace(/\./g, '\\.')}: it is retried every 1 s$`,
        ),
      );
      // Seen within a few seconds of the produce (the fetch wait, one failed send, the next /readyz poll).
      expect(detectMs).toBeLessThan(10_000);
      await new Promise((r) => setTimeout(r, 3500));
      const metrics = await (await fetch(`${first.url}/metrics`)).text();
      const failures = Number(/^alcor_dead_letter_failures_total\{code="TOPIC_AUTHORIZATION_FAILED"\} (\d+)$/m.exec(metrics)?.[1]);
      // Retried once a second (KAFKA_DLQ_RECHECK_SECONDS=1): about 4 tries in 3.5 s, never a tight loop.
      expect(failures).toBeGreaterThanOrEqual(3);
      expect(failures).toBeLessThanOrEqual(6);
      expect(metrics).toMatch(/^alcor_dead_letter_blocked 1$/m);
      expect(failureLines(first)).toHaveLength(1);
      expect(await committedOffset(group, topics.flows)).toBe('-1');
      const t1 = performance.now();
      expect(await first.stop()).toBe(0);
      stopped = true;
      const stopMs = performance.now() - t1;
      expect(stopMs).toBeLessThan(10_000);
      expect(await committedOffset(group, topics.flows)).toBe('-1');
      console.log(`[dead-letter] no WRITE ACL: /readyz 503 (dead_letters) ${Math.round(detectMs)} ms after the produce; ${failures} failures counted in 3.5 s, 1 log line; SIGTERM to exit ${Math.round(stopMs)} ms`);
    } finally {
      if (!stopped) await first.stop('SIGKILL');
    }

    // 2. Restarted from the same state: held again; the ACL granted, it resumes by itself, and every reject is there once.
    const second = await startServiceProcess(env);
    try {
      await waitFor(() => held(second), 30_000, '/readyz to report the held input after the restart');
      await admin.createAcls({ acl: [allow(AclResourceTypes.TOPIC, dlqTopic, AclOperationTypes.WRITE)] });
      const t2 = performance.now();
      await waitFor(async () => ((await held(second)) === undefined ? true : undefined), 15_000, '/readyz to drop dead_letters');
      const resumeMs = performance.now() - t2;
      const dead = await readDeadLetters(dlqTopic, records.length);
      expect(dead.map((d) => d.value.raw)).toEqual(records);
      expect(dead.map((d) => d.value.source)).toEqual([0, 1, 2].map((i) => `${topics.flows}/0@${i}`));
      const { body: stats } = await getJson<{ messages: number; rejected: { count: number } }>(`${second.url}/v1/stats`);
      expect(stats).toMatchObject({ messages: records.length, rejected: { count: records.length } });
      await waitFor(async () => ((await committedOffset(group, topics.flows)) === String(records.length) ? true : undefined), 15_000, 'the offsets committed with a snapshot');
      expect(await (await fetch(`${second.url}/metrics`)).text()).toMatch(/^alcor_dead_letter_blocked 0$/m);
      expect(second.output()).toContain('dead-letter topic writable again');
      console.log(`[dead-letter] WRITE granted: resumed ${Math.round(resumeMs)} ms later (recheck every 1 s)`);
    } finally {
      expect(await second.stop()).toBe(0);
    }
  }, 150_000);
});
