/**
 * Consumer throughput from a real broker through the service's path (startFlowConsumer ->
 * Pipeline.ingestMessage), for messages of `batchSize` flow records each, next to Kafka's own
 * ConsumerPerformance tool on the same topic, and next to the pipeline alone (no Kafka) on the same
 * message texts: the three figures separate kafkajs' cost from the pipeline's.
 *
 * Benchmark tooling: needs a running broker and the Kafka jars (tools/kafka-broker/); the service never
 * imports it.
 */
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Message } from 'kafkajs';
import type { TopicNames } from '../src/contract/topics.ts';
import { pipelineBatchHandler, startFlowConsumer } from '../src/kafka/consumer.ts';
import { localKafkaSettings } from '../src/kafka/options.ts';
import { defaultPipelineConfig, Pipeline } from '../src/pipeline/pipeline.ts';
import { runConsumerPerformance } from '../tools/kafka-broker/index.ts';

export interface BenchKafkaIngestOptions {
  brokers: string;
  /** Flow records in total. */
  records: number;
  /** Records per Kafka message: 1 sends single records, more sends JSON arrays. */
  batchSize: number;
  partitions?: number;
  /** Skip Kafka's ConsumerPerformance run (it needs Java and the jars). */
  skipKafkaTool?: boolean;
}

export interface BenchKafkaIngestResult {
  records: number;
  messages: number;
  batchSize: number;
  /** Value bytes produced. */
  bytes: number;
  topic: string;
  produceMs: number;
  /** From the first batch handed over to the last record applied (excludes the group join). */
  consumeMs: number;
  /**
   * This process's CPU (kafkajs, the consumer, the pipeline; the broker is another process) over the same
   * span, µs per record: what the machine's load moves much less than the wall time.
   */
  consumeCpuUsPerRecord: number;
  /** Group join until ready, for the record. */
  joinMs: number;
  recordsPerSec: number;
  messagesPerSec: number;
  mbPerSec: number;
  /** The same message texts through Pipeline.ingestMessage without Kafka. */
  pipelineOnlyRecordsPerSec: number;
  /** Kafka's ConsumerPerformance on the same topic (null when skipped). */
  kafkaTool: { messagesPerSec: number; fetchMessagesPerSec: number; fetchMbPerSec: number } | null;
  /** Our messages/s over the tool's fetch messages/s. */
  ratioToKafkaTool: number | null;
  /** Our MB/s over the tool's fetch MB/s: the fairer figure for array messages, where the tool's run is short. */
  mbRatioToKafkaTool: number | null;
}

const T0 = 1_793_491_200_000;

/** Deterministic synthetic flows: 2,000 VMs, event time rising ~10 ms per record (no late records). */
function syntheticFlow(i: number): Record<string, unknown> {
  const src = i % 2000;
  const dst = (i * 7 + 13) % 2000;
  return {
    ts: T0 + i * 10,
    start_ts: T0 + i * 10 - 60_000,
    src_vm: `vm-${src.toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`,
    dst_vm: `vm-${dst.toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`,
    src_ip: `10.${(src >> 8) & 255}.${src & 255}.10`,
    dst_ip: `10.${(dst >> 8) & 255}.${dst & 255}.10`,
    src_port: 32_768 + (i % 28_000),
    dst_port: [443, 80, 5432, 6379, 8080][i % 5],
    protocol: 'tcp',
    bytes: 1000 + ((i * 7919) % 100_000),
    packets: 1 + (i % 90),
    vni: 1000 + (src % 50),
  };
}

export function buildMessages(records: number, batchSize: number): string[] {
  const out: string[] = [];
  for (let start = 0; start < records; start += batchSize) {
    const n = Math.min(batchSize, records - start);
    if (batchSize === 1) out.push(JSON.stringify(syntheticFlow(start)));
    else out.push(JSON.stringify(Array.from({ length: n }, (_, j) => syntheticFlow(start + j))));
  }
  return out;
}

/** The three input topics of one bench run, `partitions` each, under a unique tag. */
export async function createBenchTopics(client: Kafka, tag: string, partitions = 1): Promise<TopicNames> {
  const topics: TopicNames = { flows: `bench-flows-${tag}`, vmAttributes: `bench-vms-${tag}`, tenantAttributes: `bench-tenants-${tag}` };
  const admin = client.admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: Object.values(topics).map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })),
  });
  await admin.disconnect();
  return topics;
}

/** Produces the message texts to `topic` in order; returns the wall time it took, ms. */
export async function produceTexts(client: Kafka, topic: string, texts: readonly string[]): Promise<number> {
  const producer = client.producer();
  await producer.connect();
  const produceStart = performance.now();
  // Requests stay under the broker's 1 MiB record-batch cap.
  let chunk: Message[] = [];
  let chunkBytes = 0;
  for (const value of texts) {
    const b = Buffer.byteLength(value);
    if (chunk.length > 0 && chunkBytes + b > 900_000) {
      await producer.send({ topic, acks: 1, messages: chunk });
      chunk = [];
      chunkBytes = 0;
    }
    chunk.push({ value });
    chunkBytes += b;
  }
  if (chunk.length > 0) await producer.send({ topic, acks: 1, messages: chunk });
  const produceMs = performance.now() - produceStart;
  await producer.disconnect();
  return produceMs;
}

export function benchKafkaClient(brokers: string): Kafka {
  return new Kafka({ clientId: 'bench-ingest', brokers: brokers.split(','), logLevel: logLevel.ERROR });
}

export async function benchKafkaIngest(opts: BenchKafkaIngestOptions): Promise<BenchKafkaIngestResult> {
  const tag = `${opts.batchSize}-${randomBytes(4).toString('hex')}`;
  const client = benchKafkaClient(opts.brokers);
  const texts = buildMessages(opts.records, opts.batchSize);
  const bytes = texts.reduce((s, t) => s + Buffer.byteLength(t), 0);
  const topics = await createBenchTopics(client, tag, opts.partitions ?? 1);
  const produceMs = await produceTexts(client, topics.flows, texts);

  // Through the service's consumer and pipeline.
  const pipeline = new Pipeline({ ...defaultPipelineConfig, topics, reclusterEveryMs: 0 });
  const ingest = pipelineBatchHandler(pipeline);
  let firstAt = 0;
  let doneAt = 0;
  let cpuAtFirst = 0;
  let cpuAtDone = 0;
  const cpuUs = (): number => {
    const u = process.cpuUsage();
    return u.user + u.system;
  };
  let finish: () => void = () => {};
  const finished = new Promise<void>((r) => {
    finish = r;
  });
  const joinStart = performance.now();
  const consumer = startFlowConsumer({
    kafka: localKafkaSettings(opts.brokers, { groupId: `bench-${tag}`, topics }),
    maxWaitTimeInMs: 100,
    onBatch: (messages) => {
      if (firstAt === 0) {
        firstAt = performance.now();
        cpuAtFirst = cpuUs();
      }
      ingest(messages);
      if (doneAt === 0 && pipeline.recordsIn.flows + pipeline.rejections.count >= opts.records) {
        doneAt = performance.now();
        cpuAtDone = cpuUs();
        finish();
      }
    },
  });
  await consumer.ready();
  const joinMs = performance.now() - joinStart;
  const timeout = setTimeout(finish, 300_000);
  await finished;
  clearTimeout(timeout);
  await consumer.stop();
  if (doneAt === 0) throw new Error(`consumed only ${pipeline.recordsIn.flows} of ${opts.records} records`);
  if (pipeline.rejections.count > 0) throw new Error(`synthetic records rejected: ${JSON.stringify(pipeline.rejections.summary())}`);
  const consumeMs = doneAt - firstAt;

  // The pipeline alone on the same texts.
  const alone = new Pipeline({ ...defaultPipelineConfig, topics, reclusterEveryMs: 0 });
  const aloneStart = performance.now();
  for (let i = 0; i < texts.length; i++) alone.ingestMessage(topics.flows, texts[i]!, `bench@${i}`);
  const aloneMs = performance.now() - aloneStart;

  let kafkaTool: BenchKafkaIngestResult['kafkaTool'] = null;
  if (!opts.skipKafkaTool) {
    const perf = await runConsumerPerformance({ brokers: opts.brokers, topic: topics.flows, messages: texts.length });
    kafkaTool = { messagesPerSec: perf.recordsPerSec, fetchMessagesPerSec: perf.fetchRecordsPerSec, fetchMbPerSec: perf.fetchMbPerSec };
  }
  const messagesPerSec = (texts.length * 1000) / consumeMs;
  const mbPerSec = bytes / 1e6 / (consumeMs / 1000);
  return {
    records: opts.records,
    messages: texts.length,
    batchSize: opts.batchSize,
    bytes,
    topic: topics.flows,
    produceMs,
    consumeMs,
    consumeCpuUsPerRecord: (cpuAtDone - cpuAtFirst) / opts.records,
    joinMs,
    recordsPerSec: (opts.records * 1000) / consumeMs,
    messagesPerSec,
    mbPerSec,
    pipelineOnlyRecordsPerSec: (opts.records * 1000) / aloneMs,
    kafkaTool,
    ratioToKafkaTool: kafkaTool ? messagesPerSec / kafkaTool.fetchMessagesPerSec : null,
    // The tool reports MB as 2^20 bytes.
    mbRatioToKafkaTool: kafkaTool ? bytes / 1048576 / (consumeMs / 1000) / kafkaTool.fetchMbPerSec : null,
  };
}

export interface BareConsumerOptions {
  brokers: string;
  topic: string;
  messages: number;
  /** The consumer's group timing: the member's (groupTiming) for a like-for-like ceiling. */
  timing: { sessionTimeout: number; heartbeatInterval: number; maxWaitTimeInMs: number };
  /** Turn each value into a string as the route stage does before decoding it; else no work at all. */
  decodeText: boolean;
}

/**
 * The ceiling of one kafkajs consumer on one event loop: `eachBatch` over a topic already filled, the
 * fetch settings the member's route consumer uses, and no work (or only the value's toString). The clock
 * runs from the first batch, as the member's does, to the last message.
 */
export async function benchBareKafkajs(o: BareConsumerOptions): Promise<{ messages_per_s: number; seconds: number; batches: number }> {
  const client = benchKafkaClient(o.brokers);
  const consumer = client.consumer({ groupId: `bench-bare-${randomBytes(4).toString('hex')}`, ...o.timing });
  await consumer.connect();
  await consumer.subscribe({ topics: [o.topic], fromBeginning: true });
  let seen = 0;
  let batches = 0;
  let chars = 0;
  let firstAt = 0;
  let doneAt = 0;
  let finish: () => void = () => {};
  const finished = new Promise<void>((r) => {
    finish = r;
  });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      if (firstAt === 0) firstAt = performance.now();
      batches++;
      if (o.decodeText) for (const m of batch.messages) chars += m.value?.toString().length ?? 0;
      seen += batch.messages.length;
      if (seen >= o.messages && doneAt === 0) {
        doneAt = performance.now();
        finish();
      }
    },
  });
  const timeout = setTimeout(finish, 300_000);
  await finished;
  clearTimeout(timeout);
  await consumer.disconnect();
  if (doneAt === 0) throw new Error(`the bare consumer read only ${seen} of ${o.messages} messages`);
  // Read, so that the toString above is not work the compiler may drop.
  if (o.decodeText && chars === 0) throw new Error('the bare consumer decoded no text');
  const seconds = (doneAt - firstAt) / 1000;
  return { messages_per_s: Math.round(o.messages / seconds), seconds: Math.round(seconds * 100) / 100, batches };
}
