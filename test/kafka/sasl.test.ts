/**
 * Kafka security from the configuration: one broker with a SASL_PLAINTEXT listener (PLAIN, SCRAM-SHA-256,
 * SCRAM-SHA-512) and a SASL_SSL listener with a self-signed certificate made at test time. The service's
 * consumer gets its settings from environment variables through parseKafkaEnv and toKafkaConfig, as the
 * service does, and must consume; a wrong password must fail with a clear error naming what to check.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getFreePort, getFreePorts, type KafkaBroker, makeSelfSignedKeystore, type SelfSignedKeystore, startKafkaBroker } from '../../tools/kafka-broker/index.ts';
import { type ConsumedMessage, startFlowConsumer } from '../../src/kafka/consumer.ts';
import { type KafkaSettings, parseKafkaEnv } from '../../src/config/kafka-settings.ts';
import { describeKafkaError, type KafkaLogger } from '../../src/kafka/options.ts';
import { createService } from '../../src/composition/create-service.ts';
import { loadServiceConfig } from '../../src/config/service-config.ts';
import { ServiceError } from '../../src/errors/catalogue.ts';
import { createTopics, testKafkaClient, uniqueGroup, uniqueTopic } from '../helpers/kafka.ts';
import { getJson, serviceArgs, startServiceProcess, waitFor } from '../helpers/service-process.ts';

const USER = { username: 'alcor-svc', password: 'Sup3r-s3cret.pw' };

let dir = '';
let broker: KafkaBroker;
let tls: SelfSignedKeystore;
const topics = { flows: uniqueTopic('sasl-flows'), vms: uniqueTopic('sasl-vms'), tenants: uniqueTopic('sasl-tenants') };
const records = [0, 1, 2, 3, 4].map((i) => JSON.stringify({ ts: 1_700_000_000_000 + i, src_vm: `vm-${i}`, bytes: 100 * i }));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kafka-sasl-'));
  tls = await makeSelfSignedKeystore(join(dir, 'tls'));
  const [port, controllerPort, saslPort, sslPort] = await getFreePorts(4);
  broker = await startKafkaBroker({
    port: port!,
    controllerPort: controllerPort!,
    dataDir: join(dir, 'data'),
    logDir: join(dir, 'logs'),
    sasl: { port: saslPort!, users: [USER] },
    ssl: { port: sslPort!, keystorePath: tls.keystorePath, keystorePassword: tls.keystorePassword, sasl: true },
  });
  // Topics and records through the PLAINTEXT listener: what is tested is the consumer's side.
  await createTopics(broker.brokers, Object.values(topics));
  const producer = testKafkaClient(broker.brokers, 'sasl-test-producer').producer();
  await producer.connect();
  await producer.send({ topic: topics.flows, messages: records.map((value) => ({ value })) });
  await producer.disconnect();
  // The first group lookup creates __consumer_offsets; until it has a leader kafkajs logs errors and retries.
  const admin = testKafkaClient(broker.brokers, 'sasl-test-warmup').admin();
  await admin.connect();
  await admin.describeGroups(['warmup']);
  await admin.disconnect();
}, 180_000);

afterAll(async () => {
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Captured {
  logger: KafkaLogger;
  lines: Array<{ level: string; msg: string; fields: Record<string, unknown> }>;
}

function capture(): Captured {
  const lines: Captured['lines'] = [];
  const at =
    (level: string) =>
    (fields: object, msg: string): void => {
      lines.push({ level, msg, fields: fields as Record<string, unknown> });
    };
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

function settingsFrom(env: Record<string, string>): KafkaSettings {
  const s = parseKafkaEnv({
    KAFKA_TOPIC_FLOWS: topics.flows,
    KAFKA_TOPIC_VM_ATTRIBUTES: topics.vms,
    KAFKA_TOPIC_TENANT_ATTRIBUTES: topics.tenants,
    KAFKA_GROUP_ID: uniqueGroup('sasl'),
    ...env,
  });
  if (s === null) throw new Error('no settings');
  return s;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Consumes until every record has arrived (or the time is up) and stops the consumer. */
async function consumeAll(settings: KafkaSettings, timeoutMs = 60_000): Promise<{ values: string[]; log: Captured['lines'] }> {
  const got: ConsumedMessage[] = [];
  const { logger, lines } = capture();
  const consumer = startFlowConsumer({ kafka: settings, logger, onBatch: (m) => void got.push(...m) });
  try {
    const deadline = Date.now() + timeoutMs;
    while (got.length < records.length && Date.now() < deadline) await sleep(100);
  } finally {
    await consumer.stop();
  }
  return { values: got.map((m) => m.value ?? ''), log: lines };
}

describe('SASL and TLS from the configuration', () => {
  it.each([
    ['plain', 'PLAIN'],
    ['SCRAM-SHA-256', 'SCRAM-SHA-256'],
    ['scram-sha-512', 'SCRAM-SHA-512'],
  ])('consumes over SASL_PLAINTEXT with KAFKA_SASL_MECHANISM=%s', async (mechanism) => {
    const { values, log } = await consumeAll(
      settingsFrom({ KAFKA_BROKERS: broker.saslBrokers!, KAFKA_SASL_MECHANISM: mechanism, KAFKA_SASL_USERNAME: USER.username, KAFKA_SASL_PASSWORD: USER.password }),
    );
    expect(values).toEqual(records);
    expect(log.filter((l) => l.level === 'error')).toEqual([]);
  }, 90_000);

  it('consumes over SASL_SSL, verifying the broker against KAFKA_TLS_CA_FILE', async () => {
    const { values } = await consumeAll(
      settingsFrom({
        KAFKA_BROKERS: broker.sslBrokers!,
        KAFKA_TLS_CA_FILE: tls.certificatePath,
        KAFKA_SASL_MECHANISM: 'scram-sha-512',
        KAFKA_SASL_USERNAME: USER.username,
        KAFKA_SASL_PASSWORD: USER.password,
      }),
    );
    expect(values).toEqual(records);
  }, 90_000);

  it.each(['plain', 'scram-sha-256'])('fails with a clear error on a wrong %s password, retrying slowly, never logging it', async (mechanism) => {
    const wrong = 'not-the-password';
    const { values, log } = await consumeAll(
      settingsFrom({ KAFKA_BROKERS: broker.saslBrokers!, KAFKA_SASL_MECHANISM: mechanism, KAFKA_SASL_USERNAME: USER.username, KAFKA_SASL_PASSWORD: wrong }),
      3000,
    );
    expect(values).toEqual([]);
    const failures = log.filter((l) => l.level === 'error' && l.msg === 'Kafka consumer failed to start; retrying');
    expect(failures.length).toBeGreaterThanOrEqual(1);
    // Backed off (1 s, then 2 s): at most three attempts in 3 s, not a tight loop.
    expect(failures.length).toBeLessThanOrEqual(3);
    expect(failures[0]!.fields.err).toBe(
      `Kafka rejected the credentials: SASL ${mechanism.toUpperCase()} authentication of user "${USER.username}" failed (` +
        `${String(failures[0]!.fields.cause)}); check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD`,
    );
    expect(JSON.stringify(log)).not.toContain(wrong);
  }, 90_000);

  it('fails with a clear error when the broker certificate is not trusted', async () => {
    const { values, log } = await consumeAll(
      settingsFrom({ KAFKA_BROKERS: broker.sslBrokers!, KAFKA_TLS: 'true', KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: USER.username, KAFKA_SASL_PASSWORD: USER.password }),
      3000,
    );
    expect(values).toEqual([]);
    const failure = log.find((l) => l.level === 'error' && l.msg === 'Kafka consumer failed to start; retrying');
    expect(failure?.fields.err).toMatch(/^TLS connection to Kafka failed: .*self[- ]signed.*; check KAFKA_TLS_CA_FILE/);
  }, 90_000);

  it('runs the service over SASL_SSL with SCRAM: it consumes, and its dead-letter producer writes the rejects', async () => {
    const group = uniqueGroup('sasl-service');
    const service = await startServiceProcess({
      KAFKA_BROKERS: broker.sslBrokers!,
      KAFKA_TLS_CA_FILE: tls.certificatePath,
      KAFKA_SASL_MECHANISM: 'scram-sha-256',
      KAFKA_SASL_USERNAME: USER.username,
      KAFKA_SASL_PASSWORD: USER.password,
      KAFKA_GROUP_ID: group,
      KAFKA_TOPIC_FLOWS: topics.flows,
      KAFKA_TOPIC_VM_ATTRIBUTES: topics.vms,
      KAFKA_TOPIC_TENANT_ATTRIBUTES: topics.tenants,
      STATE_DIR: join(dir, `state-${group}`),
    });
    try {
      // The records lack most flow fields: all five are rejected, and go to <flows>.rejected.
      const stats = await waitFor(
        async () => {
          const { body } = await getJson<{ messages: number; rejected: { count: number } }>(`${service.url}/v1/stats`);
          return body.rejected.count >= records.length ? body : undefined;
        },
        60_000,
        'the service to consume the records',
      );
      expect(stats).toMatchObject({ messages: records.length, rejected: { count: records.length } });
      const admin = testKafkaClient(broker.brokers, 'sasl-dlq-admin').admin();
      await admin.connect();
      const written = await waitFor(
        async () => {
          const offsets = await admin.fetchTopicOffsets(`${topics.flows}.rejected`).catch(() => []);
          const high = offsets.reduce((n, p) => n + Number(p.high), 0);
          return high >= records.length ? high : undefined;
        },
        30_000,
        'the rejects in the dead-letter topic',
      );
      await admin.disconnect();
      expect(written).toBe(records.length);
      const dlq: string[] = [];
      const consumer = testKafkaClient(broker.brokers, 'sasl-dlq-reader').consumer({ groupId: uniqueGroup('dlq') });
      await consumer.connect();
      await consumer.subscribe({ topic: `${topics.flows}.rejected`, fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void dlq.push(message.value?.toString() ?? '') });
      await waitFor(async () => (dlq.length >= records.length ? true : undefined), 30_000, 'the rejects in the dead-letter topic');
      await consumer.disconnect();
      expect(dlq.map((v) => (JSON.parse(v) as { raw: string }).raw)).toEqual(records);
      expect(service.output()).not.toContain(USER.password);
    } finally {
      expect(await service.stop()).toBe(0);
    }
  }, 120_000);

  it('stops the service at start-up with one line naming the settings to check, never the password', async () => {
    const wrong = 'also-not-the-password';
    const child = spawn(process.execPath, await serviceArgs(), {
      env: {
        ...process.env,
        HOST: '127.0.0.1',
        PORT: String(await getFreePort()),
        LOG_LEVEL: 'warn',
        MODELS_DIR: join(dir, 'models'),
        STATE_DIR: join(dir, 'state'),
        KAFKA_BROKERS: broker.saslBrokers!,
        KAFKA_SASL_MECHANISM: 'scram-sha-512',
        KAFKA_SASL_USERNAME: USER.username,
        KAFKA_SASL_PASSWORD: wrong,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(err).toMatch(
      /^alcor-traffic-clusters: cannot connect to Kafka: Kafka rejected the credentials: SASL SCRAM-SHA-512 authentication of user "alcor-svc" failed \(.+\); check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD\n$/,
    );
    expect(out + err).not.toContain(wrong);
  }, 90_000);

  it('keeps the broker\'s own error as the cause of the start-up error, under a catalogue code', async () => {
    const config = loadServiceConfig({
      PORT: '0',
      LOG_LEVEL: 'silent',
      MODELS_DIR: join(dir, 'models-cause'),
      STATE_DIR: join(dir, 'state-cause'),
      KAFKA_BROKERS: broker.saslBrokers!,
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: USER.username,
      KAFKA_SASL_PASSWORD: 'not-the-password-either',
    });
    const service = await createService(config);
    let failure: unknown;
    try {
      await service.start();
    } catch (err) {
      failure = err;
    } finally {
      await service.stop();
    }
    expect(failure).toBeInstanceOf(ServiceError);
    expect((failure as ServiceError).errorCode).toBe('kafka_connect_failed');
    const cause = (failure as ServiceError).cause;
    expect(cause).toBeInstanceOf(Error);
    expect((cause as Error).name).toMatch(/^KafkaJS/);
  }, 90_000);

  it('explains other errors by their own message', () => {
    const s = settingsFrom({ KAFKA_BROKERS: '127.0.0.1:1' });
    expect(describeKafkaError(new Error('Connection timeout'), s)).toEqual({ message: 'Connection timeout', cause: null });
  });
});
