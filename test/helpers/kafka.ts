/**
 * Integration-test helpers around a real single-node KRaft broker (src/dev/kafka-broker.ts).
 *
 * Either call startTestKafka()/stop() in beforeAll/afterAll, or use this file as a vitest globalSetup:
 * `setup` starts one broker on free ports for the whole run and publishes its address both as
 * `process.env.TEST_KAFKA_BROKERS` and via `project.provide('kafkaBrokers', ...)`; tests read it with
 * getTestKafkaBrokers(). Give every test its own topic (uniqueTopic) and consumer group (uniqueGroup).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Admin, Kafka, logLevel } from 'kafkajs';
import { getFreePorts, type KafkaBroker, startKafkaBroker } from '../../src/dev/kafka-broker.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string;
  }
}

export const TEST_KAFKA_ENV = 'TEST_KAFKA_BROKERS';

export interface TestKafka extends KafkaBroker {
  /** Stops the broker and deletes its temporary data and logs. */
  stop(): Promise<void>;
}

/** Starts a fresh broker on free ports with data + log in a temporary directory. */
export async function startTestKafka(): Promise<TestKafka> {
  let broker: KafkaBroker | undefined;
  let dir = '';
  // A free port can be taken by someone else before Kafka binds it: retry on a bind failure.
  for (let attempt = 1; broker === undefined; attempt++) {
    dir = await mkdtemp(join(tmpdir(), 'kafka-test-'));
    const [port, controllerPort] = await getFreePorts(2);
    if (port === undefined || controllerPort === undefined) throw new Error('no free ports');
    try {
      broker = await startKafkaBroker({
        port,
        controllerPort,
        dataDir: join(dir, 'data'),
        logDir: join(dir, 'logs'),
        readyTimeoutMs: 90_000,
      });
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      const inUse = err instanceof Error && /already in use/i.test(err.message);
      if (!inUse || attempt >= 3) throw err;
    }
  }
  const started = broker;
  try {
    await warmUpGroupCoordinator(started.brokers);
  } catch (err) {
    await started.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    ...started,
    stop: async () => {
      try {
        await started.stop();
      } finally {
        if (process.env.KEEP_KAFKA_TEST_DATA !== '1') await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * The first FindCoordinator creates __consumer_offsets; until its leader is elected kafkajs logs
 * "group coordinator is not available" at ERROR and retries. Do that once, silently, here.
 */
async function warmUpGroupCoordinator(brokers: string): Promise<void> {
  const admin = new Kafka({
    clientId: 'test-warmup',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
    retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1000 },
  }).admin();
  await admin.connect();
  try {
    await admin.describeGroups(['warmup']);
  } finally {
    await admin.disconnect();
  }
}

// ----- vitest globalSetup ---------------------------------------------------------------------------

let globalBroker: TestKafka | undefined;

interface ProvideLike {
  provide(key: 'kafkaBrokers', value: string): void;
}

/** vitest globalSetup `setup`: one broker per test run. Reuses TEST_KAFKA_BROKERS when already set. */
export async function setup(project?: ProvideLike): Promise<void> {
  let brokers = process.env[TEST_KAFKA_ENV];
  if (!brokers) {
    globalBroker = await startTestKafka();
    brokers = globalBroker.brokers;
    process.env[TEST_KAFKA_ENV] = brokers;
  }
  project?.provide('kafkaBrokers', brokers);
}

/** vitest globalSetup `teardown`. */
export async function teardown(): Promise<void> {
  const b = globalBroker;
  globalBroker = undefined;
  if (b) {
    delete process.env[TEST_KAFKA_ENV];
    await b.stop();
  }
}

/** The broker address published by `setup` (env var; pass vitest's `inject('kafkaBrokers')` as fallback). */
export function getTestKafkaBrokers(injected?: string): string {
  const brokers = process.env[TEST_KAFKA_ENV] ?? injected;
  if (!brokers) {
    throw new Error(
      `${TEST_KAFKA_ENV} is not set: add "test/helpers/kafka.ts" to vitest globalSetup, or call startTestKafka() in beforeAll`,
    );
  }
  return brokers;
}

// ----- names and topics -----------------------------------------------------------------------------

let counter = 0;
function uniqueSuffix(): string {
  counter += 1;
  return `${Date.now().toString(36)}-${process.pid}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
}

/** A topic name no other test (or earlier run against the same broker) uses. */
export function uniqueTopic(prefix = 'test'): string {
  return `${prefix.replace(/[^a-zA-Z0-9._-]/g, '_')}-${uniqueSuffix()}`;
}

/** A consumer group id no other test uses. */
export function uniqueGroup(prefix = 'group'): string {
  return `${prefix}-${uniqueSuffix()}`;
}

/** A kafkajs client with the noisy logs silenced (ERROR only). */
export function testKafkaClient(brokers: string, clientId = 'test'): Kafka {
  return new Kafka({
    clientId,
    brokers: brokers.split(','),
    logLevel: logLevel.ERROR,
    retry: { retries: 8, initialRetryTime: 100 },
  });
}

/** Creates the topics (waiting for leaders) with `partitions` partitions each, replication factor 1. */
export async function createTopics(brokers: string, topics: string[], partitions = 1): Promise<void> {
  const admin: Admin = testKafkaClient(brokers, 'test-admin').admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: topics.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })),
    });
    // Make sure metadata lists every partition before producers start.
    const meta = await admin.fetchTopicMetadata({ topics });
    for (const t of meta.topics) {
      if (t.partitions.length !== partitions) {
        throw new Error(`topic ${t.name} has ${t.partitions.length} partitions, expected ${partitions}`);
      }
    }
  } finally {
    await admin.disconnect();
  }
}
