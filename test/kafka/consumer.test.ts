/**
 * The flow consumer against a real broker, with the real Pipeline and the dead-letter producer: valid
 * records are applied exactly once, every malformed one lands in `<topic>.rejected` with its reason and
 * original text, offsets are committed to the end, and a new member of the group resumes where the old one
 * committed (set SKIP_KAFKA_TESTS=1 to skip).
 */
import type { Kafka, Message } from 'kafkajs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RejectedRecord } from '../../src/contract/rejections.ts';
import { type FlowConsumer, pacedBatchHandler, pipelineBatchHandler, startFlowConsumer } from '../../src/kafka/consumer.ts';
import { DeadLetterProducer, type DeadLetterValue } from '../../src/kafka/dead-letter.ts';
import { KafkaEnvError, type KafkaSettings, parseKafkaEnv } from '../../src/config/kafka-settings.ts';
import { localKafkaSettings, redactKafkaSettings, toKafkaConfig } from '../../src/kafka/options.ts';
import type { TopicNames } from '../../src/contract/topics.ts';
import { defaultPipelineConfig, Pipeline } from '../../src/pipeline/pipeline.ts';
import { createTopics, sharedTestKafka, testKafkaClient, uniqueGroup, uniqueTopic } from '../helpers/kafka.ts';

const T0 = 1_793_491_200_000;
let seq = 0;
/** A valid flow; event time rises slowly so nothing is ever too late. */
function flow(over: Record<string, unknown> = {}): Record<string, unknown> {
  seq++;
  return {
    ts: T0 + seq * 100,
    src_vm: `vm-${seq % 7}`,
    dst_vm: `vm-${(seq + 3) % 7}`,
    src_ip: '10.0.0.1',
    dst_ip: '10.0.0.2',
    src_port: 40_000 + (seq % 1000),
    dst_port: 443,
    protocol: 'tcp',
    bytes: 1000 + seq,
    packets: 3,
    ...over,
  };
}

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Harness {
  pipeline: Pipeline;
  dlq: DeadLetterProducer;
  consumer: FlowConsumer;
  rejects: RejectedRecord[];
  stop(): Promise<void>;
}

async function startHarness(client: Kafka, settings: KafkaSettings): Promise<Harness> {
  const rejects: RejectedRecord[] = [];
  const dlq = new DeadLetterProducer(client, {
    sourceTopics: Object.values(settings.topics),
    suffix: settings.dlqSuffix,
    catchAllTopic: settings.dlqCatchAllTopic,
  });
  await dlq.connect();
  const pipeline = new Pipeline({ ...defaultPipelineConfig, topics: settings.topics }, (r) => {
    rejects.push(r);
    dlq.add(r);
  });
  const consumer = startFlowConsumer({
    kafka: settings,
    onBatch: pipelineBatchHandler(pipeline),
    deadLetter: dlq,
    sessionTimeoutMs: 10_000,
    heartbeatIntervalMs: 500,
    maxWaitTimeInMs: 100,
  });
  await Promise.race([
    consumer.ready(),
    new Promise((_, reject) => setTimeout(() => reject(new Error('consumer did not join the group')), 30_000)),
  ]);
  return {
    pipeline,
    dlq,
    consumer,
    rejects,
    stop: async () => {
      await consumer.stop();
      await dlq.disconnect();
    },
  };
}

async function send(client: Kafka, topic: string, messages: Message[]): Promise<void> {
  const producer = client.producer();
  await producer.connect();
  await producer.send({ topic, acks: -1, messages });
  await producer.disconnect();
}

describe('Kafka settings from the environment', () => {
  it('is null without KAFKA_BROKERS and fills the defaults otherwise', () => {
    expect(parseKafkaEnv({})).toBeNull();
    expect(parseKafkaEnv({ KAFKA_BROKERS: '  ' })).toBeNull();
    const s = parseKafkaEnv({ KAFKA_BROKERS: 'a:9092, b:9093', KAFKA_TOPIC_FLOWS: '' });
    expect(s).toMatchObject({
      brokers: ['a:9092', 'b:9093'],
      clientId: 'alcor-traffic-clusters',
      groupId: 'alcor-traffic-clusters',
      topics: { flows: 'overlay-flows', vmAttributes: 'vm-attributes', tenantAttributes: 'tenant-attributes' },
      dlqSuffix: '.rejected',
      dlqCatchAllTopic: 'unknown.rejected',
      fromBeginning: true,
      sasl: null,
      tls: null,
    });
  });

  it('lists every bad variable and never echoes the password', () => {
    const secret = 'hunter2-very-secret';
    let error: unknown;
    try {
      parseKafkaEnv({
        KAFKA_BROKERS: 'nohostport,ok:1',
        KAFKA_TOPIC_FLOWS: 'bad topic',
        KAFKA_FROM_BEGINNING: 'maybe',
        KAFKA_SASL_MECHANISM: 'kerberos',
        KAFKA_SASL_PASSWORD: secret,
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(KafkaEnvError);
    const message = (error as KafkaEnvError).message;
    for (const name of ['KAFKA_BROKERS', 'KAFKA_TOPIC_FLOWS', 'KAFKA_FROM_BEGINNING', 'KAFKA_SASL_MECHANISM']) expect(message).toContain(name);
    expect(message).not.toContain(secret);
    expect(() => parseKafkaEnv({ KAFKA_BROKERS: 'a:1', KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u' })).toThrow(/KAFKA_SASL_PASSWORD/);
    expect(() => parseKafkaEnv({ KAFKA_BROKERS: 'a:1', KAFKA_TLS_CA_FILE: '/nonexistent/ca.pem' })).toThrow(/KAFKA_TLS_CA_FILE/);
  });

  it('maps SASL and TLS to kafkajs and redacts the password for logs', () => {
    const s = parseKafkaEnv({
      KAFKA_BROKERS: '[::1]:9093',
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      KAFKA_SASL_USERNAME: 'svc',
      KAFKA_SASL_PASSWORD: 'pw',
      KAFKA_TLS: 'true',
      KAFKA_TLS_REJECT_UNAUTHORIZED: 'false',
      KAFKA_FROM_BEGINNING: 'no',
    });
    expect(s).not.toBeNull();
    const config = toKafkaConfig(s as KafkaSettings);
    expect(config.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'svc', password: 'pw' });
    expect(config.ssl).toEqual({ rejectUnauthorized: false });
    expect(s?.fromBeginning).toBe(false);
    expect(JSON.stringify(redactKafkaSettings(s as KafkaSettings))).not.toContain('"pw"');
  });
});

describe.skipIf(process.env.SKIP_KAFKA_TESTS === '1')('flow consumer on a real broker', () => {
  let kafka: { brokers: string };
  let client: Kafka;

  beforeAll(async () => {
    kafka = await sharedTestKafka();
    client = testKafkaClient(kafka.brokers, 'consumer-test');
  }, 120_000);

  it('reads a backlog of 2 flows partitions with a watermark per partition: none too late, each flow once, committed to the end', async () => {
    const topics: TopicNames = { flows: uniqueTopic('paced-flows'), vmAttributes: uniqueTopic('paced-vms'), tenantAttributes: uniqueTopic('paced-tenants') };
    await createTopics(kafka.brokers, [topics.flows], 2);
    await createTopics(kafka.brokers, [topics.vmAttributes, topics.tenantAttributes], 1);
    // 20 minutes of event time on each partition, 4 times the allowed lateness, there before the consumer starts.
    const at = (i: number) => flow({ ts: T0 + i * 10_000 });
    for (const partition of [0, 1]) await send(client, topics.flows, Array.from({ length: 120 }, (_, i) => ({ partition, value: JSON.stringify(at(i)) })));
    const tooLate: number[] = [];
    for (const paced of [true, false]) {
      const pipeline = new Pipeline({ ...defaultPipelineConfig, topics });
      const consumer = startFlowConsumer({
        kafka: localKafkaSettings(kafka.brokers, { groupId: uniqueGroup('paced'), topics }),
        ...(paced ? pacedBatchHandler(pipeline, topics.flows) : { onBatch: pipelineBatchHandler(pipeline) }),
        sessionTimeoutMs: 10_000,
        heartbeatIntervalMs: 500,
        maxWaitTimeInMs: 100,
      });
      try {
        await waitFor(() => pipeline.recordsIn.flows >= 240 && consumer.lag().every((l) => l.committed === 120) && consumer.lag().length === 2, 60_000, () => JSON.stringify(consumer.lag()));
        expect(pipeline.recordsIn.flows).toBe(240);
        tooLate.push(pipeline.rejections.summary().by_reason.too_late ?? 0);
      } finally {
        await consumer.stop();
      }
    }
    // Read with one watermark (the second reader), the partition fetched second loses its older stretch:
    // how much depends on how kafkajs splits the fetches, so only that it does.
    expect(tooLate[0]).toBe(0);
    expect(tooLate[1]).toBeGreaterThan(0);
  }, 120_000);

  it('applies valid records once, dead-letters the rest, commits to the end and resumes there', async () => {
    const topics: TopicNames = { flows: uniqueTopic('flows'), vmAttributes: uniqueTopic('vms'), tenantAttributes: uniqueTopic('tenants') };
    await createTopics(kafka.brokers, [topics.flows], 2);
    await createTopics(kafka.brokers, [topics.vmAttributes, topics.tenantAttributes], 1);
    const settings = localKafkaSettings(kafka.brokers, { groupId: uniqueGroup('consumer-test'), topics });

    // Phase 1: 20 single flows + 5 arrays of 10 (one record bad) = 69 valid flows, 5 valid VMs, 1 tenant,
    // and 5 rejects on the flows topic.
    const singles = Array.from({ length: 20 }, () => flow());
    const arrays = Array.from({ length: 5 }, (_, a) =>
      Array.from({ length: 10 }, (_, i) => (a === 2 && i === 4 ? flow({ src_port: 70_000 }) : flow())),
    );
    const badPort = JSON.stringify(flow({ dst_port: 70_000 }));
    const badProtocol = JSON.stringify(flow({ protocol: 'quic' }));
    const badJson = '{"ts": 1793491200000, "src_vm": ';
    const flowMessages: Message[] = [
      ...singles.map((f) => ({ key: String(f.src_vm), value: JSON.stringify(f) })),
      ...arrays.map((arr, i) => ({ key: `batch-${i}`, value: JSON.stringify(arr) })),
      { key: 'bad-json', value: badJson },
      { key: 'bad-port', value: badPort },
      { key: 'bad-protocol', value: badProtocol },
      { key: 'tombstone', value: null },
    ];
    await send(client, topics.flows, flowMessages);
    await send(client, topics.vmAttributes, [
      ...[1, 2, 3].map((i) => ({ key: `vm-${i}`, value: JSON.stringify({ ts: T0, vm_id: `vm-${i}`, tenant_id: 't-1' }) })),
      { value: JSON.stringify([4, 5].map((i) => ({ ts: T0, device_id: `vm-${i}`, project_id: 't-2' }))) },
    ]);
    await send(client, topics.tenantAttributes, [{ key: 't-1', value: JSON.stringify({ ts: T0, tenant_id: 't-1', tier: 'gold' }) }]);

    const first = await startHarness(client, settings);
    const { pipeline } = first;
    await waitFor(
      () => pipeline.messagesIn >= flowMessages.length + 5,
      30_000,
      () => `all phase-1 messages (got ${pipeline.messagesIn})`,
    );

    // Offsets committed up to the end of every partition of every topic.
    const admin = client.admin();
    await admin.connect();
    const committedEqualsEnd = async (): Promise<boolean> => {
      for (const topic of Object.values(topics)) {
        const ends = await admin.fetchTopicOffsets(topic);
        const [committed] = await admin.fetchOffsets({ groupId: settings.groupId, topics: [topic] });
        for (const end of ends) {
          const c = committed?.partitions.find((p) => p.partition === end.partition);
          // An empty partition has nothing to commit (-1); any other must be committed to its end.
          if (end.high !== '0' && c?.offset !== end.high) return false;
        }
      }
      return true;
    };
    await waitFor(committedEqualsEnd, 15_000, () => 'committed offsets to reach the end offsets');
    expect(first.consumer.connected).toBe(true);
    expect(first.consumer.messagesCommitted).toBe(flowMessages.length + 5);
    for (const l of first.consumer.lag()) expect(l.lag, `${l.topic}/${l.partition}`).toBe(0);

    expect(pipeline.recordsIn).toEqual({ flows: 69, vmAttributes: 5, tenantAttributes: 1 });
    expect(pipeline.fleet.counters.flowsApplied).toBe(69);
    expect(pipeline.fleet.counters.vmAttributesApplied).toBe(5);
    expect(pipeline.fleet.counters.tenantAttributesApplied).toBe(1);
    expect(pipeline.rejections.summary()).toEqual({ count: 5, by_reason: { invalid_json: 1, null_value: 1, out_of_range: 2, unknown_protocol: 1 } });

    // Every reject is in <flows>.rejected already (flushed before the commit that we just saw).
    const dlqTopic = `${topics.flows}.rejected`;
    expect(first.dlq.sentByTopic.get(dlqTopic)).toBe(5);
    const dead: Array<{ reason: string | undefined; value: DeadLetterValue }> = [];
    const reader = client.consumer({ groupId: uniqueGroup('dlq-reader'), maxWaitTimeInMs: 100 });
    await reader.connect();
    await reader.subscribe({ topic: dlqTopic, fromBeginning: true });
    await reader.run({
      eachMessage: async ({ message }) => {
        dead.push({
          reason: message.headers?.reason?.toString(),
          value: JSON.parse(message.value?.toString('utf8') ?? 'null') as DeadLetterValue,
        });
      },
    });
    await waitFor(() => dead.length >= 5, 20_000, () => `5 dead letters (got ${dead.length})`);
    await reader.disconnect();
    const byRaw = new Map(dead.map((d) => [d.value.raw, d]));
    expect(byRaw.get(badJson)?.reason).toBe('invalid_json');
    expect(byRaw.get('')?.reason).toBe('null_value'); // the tombstone
    expect(byRaw.get(badPort)?.reason).toBe('out_of_range');
    expect(byRaw.get(badPort)?.value.field).toBe('dst_port');
    expect(byRaw.get(badProtocol)?.reason).toBe('unknown_protocol');
    // A bad element of an array: kept as its own JSON, with its index, beside the 9 good ones applied.
    const inArray = dead.find((d) => d.value.index !== null);
    expect(inArray?.reason).toBe('out_of_range');
    expect(inArray?.value.index).toBe(4);
    expect(JSON.parse(inArray?.value.raw ?? 'null')).toEqual(arrays[2]?.[4]);
    for (const d of dead) {
      expect(d.value.reason).toBe(d.reason);
      expect(d.value.topic).toBe(topics.flows);
      expect(d.value.source).toMatch(new RegExp(`^${topics.flows}/[01]@\\d+$`));
    }

    await first.stop();
    expect(first.consumer.connected).toBe(false);

    // Phase 2: new messages while nobody consumes; a new member of the same group gets only those.
    const later = Array.from({ length: 7 }, () => flow());
    await send(client, topics.flows, [
      ...later.map((f) => ({ key: String(f.src_vm), value: JSON.stringify(f) })),
      { key: 'bad-late', value: JSON.stringify(flow({ protocol: 'bogus' })) },
    ]);
    const second = await startHarness(client, settings);
    await waitFor(() => second.pipeline.messagesIn >= 8, 20_000, () => `phase-2 messages (got ${second.pipeline.messagesIn})`);
    await waitFor(committedEqualsEnd, 15_000, () => 'phase-2 commits');
    await new Promise((r) => setTimeout(r, 500)); // room for a duplicate to show up
    expect(second.pipeline.messagesIn).toBe(8);
    expect(second.pipeline.recordsIn).toEqual({ flows: 7, vmAttributes: 0, tenantAttributes: 0 });
    expect(second.rejects.map((r) => r.reason)).toEqual(['unknown_protocol']);
    await second.stop();
    await admin.disconnect();
  }, 80_000);
});
