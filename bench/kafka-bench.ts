/**
 * Ingest from a real broker (started here on free loopback ports), single-record and batched messages,
 * next to Kafka's own ConsumerPerformance tool on the same topic.
 */
import { rm } from 'node:fs/promises';
import { getFreePorts, startKafkaBroker } from '../tools/kafka-broker/index.ts';
import { benchKafkaIngest } from './kafka-ingest.ts';

export async function benchKafka(records = 200_000): Promise<Record<string, unknown>> {
  const [port, controllerPort] = await getFreePorts(2);
  const dataDir = `.cache/kafka/bench-data-${port}`;
  const broker = await startKafkaBroker({
    port: port!,
    controllerPort: controllerPort!,
    dataDir,
    logDir: `.cache/kafka/bench-logs-${port}`,
    detached: false,
  });
  try {
    const single = await benchKafkaIngest({ brokers: broker.brokers, records, batchSize: 1 });
    const batched = await benchKafkaIngest({ brokers: broker.brokers, records, batchSize: 100 });
    const summary = (r: typeof single) => ({
      records: r.records,
      messages: r.messages,
      records_per_s: Math.round(r.recordsPerSec),
      messages_per_s: Math.round(r.messagesPerSec),
      cpu_us_per_record: Number(r.consumeCpuUsPerRecord.toFixed(2)),
      mb_per_s: Number(r.mbPerSec.toFixed(1)),
      pipeline_only_records_per_s: Math.round(r.pipelineOnlyRecordsPerSec),
      kafka_tool_fetch_messages_per_s: r.kafkaTool ? Math.round(r.kafkaTool.fetchMessagesPerSec) : null,
      kafka_tool_fetch_mb_per_s: r.kafkaTool ? Number(r.kafkaTool.fetchMbPerSec.toFixed(1)) : null,
      ratio_messages_to_kafka_tool: r.ratioToKafkaTool === null ? null : Number(r.ratioToKafkaTool.toFixed(3)),
      ratio_mb_to_kafka_tool: r.mbRatioToKafkaTool === null ? null : Number(r.mbRatioToKafkaTool.toFixed(3)),
    });
    return { single_record_messages: summary(single), arrays_of_100: summary(batched) };
  } finally {
    await broker.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}
