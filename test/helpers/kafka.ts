/**
 * Integration-test helpers around a real single-node KRaft broker (tools/kafka-broker/).
 *
 * Most tests share one broker for the whole run: `await sharedTestKafka()` in beforeAll (this file is
 * vitest's globalSetup, see below). A test that needs a broker of its own calls startTestKafka()/stop().
 * Give every test its own topic (uniqueTopic) and consumer group (uniqueGroup).
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Admin, Kafka, logLevel } from 'kafkajs';
import { getFreePorts, type KafkaBroker, startKafkaBroker } from '../../tools/kafka-broker/index.ts';

export const TEST_KAFKA_ENV = 'TEST_KAFKA_BROKERS';

/** The test brokers' group.min.session.timeout.ms (Kafka's default: 6000). */
const TEST_MIN_SESSION_TIMEOUT_MS = 1000;

export interface TestKafka extends KafkaBroker {
  /** Stops the broker (killed: its data is deleted next) and deletes its temporary data and logs. */
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
        // Kafka's floor is 6 s: the scale-out tests fail members over with sessions of a few seconds.
        extraProperties: { 'group.min.session.timeout.ms': TEST_MIN_SESSION_TIMEOUT_MS },
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
      const keep = process.env.KEEP_KAFKA_TEST_DATA === '1';
      try {
        // Its data is deleted next, so a clean shutdown is time spent for nothing: 9 s for a broker of 30
        // topics at load 20, and the shared one stops at the end of a run, holding up its end. Kept data is
        // left as a clean shutdown leaves it.
        await started.stop(keep ? undefined : 0);
      } finally {
        if (!keep) await rm(dir, { recursive: true, force: true });
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

// ----- one broker for the whole test run (vitest globalSetup) ------------------------------------------

/**
 * vitest.config.ts names this file as a globalSetup. `setup` starts no broker: it opens a loopback HTTP
 * endpoint (its address in TEST_KAFKA_LAUNCHER) that starts one on the first request and answers every
 * request with its address, so that a run without Kafka tests starts no broker, and a run with them starts
 * exactly one, shared by every file that calls sharedTestKafka(). Tests that need a specially configured
 * broker (SASL and ACLs, a small message.max.bytes, a broker they kill) start their own.
 */
export const TEST_KAFKA_LAUNCHER_ENV = 'TEST_KAFKA_LAUNCHER';

let launcher: Server | undefined;
let sharedBroker: Promise<TestKafka> | undefined;

/** vitest globalSetup `setup`. A TEST_KAFKA_BROKERS already set (a broker of your own) is used as it is. */
export async function setup(): Promise<void> {
  if (process.env[TEST_KAFKA_ENV]) return;
  const server = createServer((_request, response) => {
    // Started once; a failure is kept too, so that every file reports it at once instead of retrying.
    sharedBroker ??= startTestKafka();
    sharedBroker.then(
      (broker) => response.end(broker.brokers),
      (err: unknown) => {
        response.statusCode = 500;
        response.end(err instanceof Error ? err.message : String(err));
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  launcher = server;
  process.env[TEST_KAFKA_LAUNCHER_ENV] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** vitest globalSetup `teardown`: stops the shared broker if a test started it. */
export async function teardown(): Promise<void> {
  const server = launcher;
  const broker = sharedBroker;
  launcher = undefined;
  sharedBroker = undefined;
  delete process.env[TEST_KAFKA_LAUNCHER_ENV];
  server?.closeAllConnections();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  const started = await broker?.catch(() => undefined);
  await started?.stop();
}

/** A test file whose source says it uses the shared broker: directly, or through the scale-out helper. */
export const NEEDS_SHARED_BROKER: RegExp = /\bsharedTestKafka\(|helpers\/scale-out\.ts/;

/**
 * Starts the shared broker now, without waiting for it, when a file of the run will ask for it (the sequencer
 * calls this before it builds dist/): the broker's start (a JVM, about 10 s on an idle machine) then overlaps
 * the build instead of holding up the first files after it. A run of pure files starts none; a failure is
 * kept by the launcher and reported to every file that asks, as before.
 */
export function startSharedBrokerFor(files: readonly string[]): void {
  const url = process.env[TEST_KAFKA_LAUNCHER_ENV];
  if (!url || process.env[TEST_KAFKA_ENV]) return;
  if (!files.some((file) => NEEDS_SHARED_BROKER.test(readFileSync(file, 'utf8')))) return;
  void fetch(url)
    .then((r) => r.text())
    .catch(() => undefined);
}

/**
 * The broker shared by the whole test run, started by the first file that asks (give every test its own
 * topics and groups: uniqueTopic, uniqueGroup). Outside vitest's globalSetup, TEST_KAFKA_BROKERS names one.
 */
export async function sharedTestKafka(): Promise<{ brokers: string }> {
  const given = process.env[TEST_KAFKA_ENV];
  if (given) return { brokers: given };
  const url = process.env[TEST_KAFKA_LAUNCHER_ENV];
  if (!url) {
    throw new Error(`neither ${TEST_KAFKA_ENV} nor ${TEST_KAFKA_LAUNCHER_ENV} is set: run the tests with vitest (its globalSetup starts the broker), or set ${TEST_KAFKA_ENV}`);
  }
  const response = await fetch(url);
  const body = await response.text();
  if (!response.ok) throw new Error(`the shared test broker did not start: ${body}`);
  return { brokers: body };
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

/**
 * The values of the first `expected` messages of `topic` (fewer when `timeoutMs` passes first: the caller's
 * exact expectation then says what is missing), read from the beginning by a fresh consumer group.
 */
export async function readTopicValues(brokers: string, topic: string, expected: number, timeoutMs: number): Promise<string[]> {
  const values: string[] = [];
  const consumer = testKafkaClient(brokers, 'topic-reader').consumer({ groupId: uniqueGroup('topic-reader'), maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let done: () => void = () => {};
    const finished = new Promise<void>((ok) => {
      done = ok;
    });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (message.value !== null) values.push(message.value.toString('utf8'));
        if (values.length >= expected) done();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([finished, new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  } finally {
    await consumer.disconnect();
  }
  return values;
}

/** The three input topics of one service under test: fresh names, created on the broker. */
export interface ServiceInputs {
  topics: { flows: string; vm: string; tenant: string };
  /** The service's environment for them: brokers, topic names, and no wall-clock runs (event time only). */
  env: Record<string, string>;
}

/**
 * `partitions`: of the flows and VM-attributes topics (several: a scale-out application routes them in several
 * routers, spread over its members); the tenants' topic keeps one, as an application expects (docs/scale-out.md).
 */
export async function createServiceInputs(brokers: string, name: string, partitions = 1): Promise<ServiceInputs> {
  const prefix = uniqueTopic(name);
  const topics = { flows: `${prefix}.flows`, vm: `${prefix}.vms`, tenant: `${prefix}.tenants` };
  if (partitions === 1) await createTopics(brokers, Object.values(topics), 1);
  else {
    await createTopics(brokers, [topics.flows, topics.vm], partitions);
    await createTopics(brokers, [topics.tenant], 1);
  }
  return {
    topics,
    env: {
      KAFKA_BROKERS: brokers,
      KAFKA_TOPIC_FLOWS: topics.flows,
      KAFKA_TOPIC_VM_ATTRIBUTES: topics.vm,
      KAFKA_TOPIC_TENANT_ATTRIBUTES: topics.tenant,
      RECLUSTER_WALLCLOCK_SECONDS: '0',
    },
  };
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
