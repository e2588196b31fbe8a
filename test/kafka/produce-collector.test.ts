/**
 * produceTrace with a trace of a collector's flows (--flow-format): values go out unchanged, keyed by the
 * source address (a collector names no VM), and --speedup paces by the collector's own time fields.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { produceTrace } from '../../src/kafka/produce-trace.ts';
import { defaultTopics } from '../../src/contract/topics.ts';
import { createTopics, sharedTestKafka, testKafkaClient, uniqueGroup, uniqueTopic } from '../helpers/kafka.ts';

const T0_NS = 1_793_491_200_000_000_000;
const flow = (i: number) => ({
  type: 'NETFLOW_V9',
  time_flow_end_ns: T0_NS + i * 1_000_000_000,
  bytes: 100 + i,
  packets: 1,
  src_addr: `10.0.0.${i + 1}`,
  dst_addr: '10.0.0.99',
  proto: 'TCP',
  src_port: 40_000 + i,
  dst_port: 443,
});

describe.skipIf(process.env.SKIP_KAFKA_TESTS === '1')('produceTrace of goflow2 flows', () => {
  const dir = mkdtempSync(join(tmpdir(), 'produce-collector-'));
  const trace = join(dir, 'goflow2.jsonl');
  let brokers = '';

  beforeAll(async () => {
    writeFileSync(trace, `${[0, 1, 2].map((i) => JSON.stringify({ topic: defaultTopics.flows, value: flow(i) })).join('\n')}\n`);
    ({ brokers } = await sharedTestKafka());
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keys each record by its source address, paces by time_flow_end_ns, and sends the value unchanged', async () => {
    const topic = uniqueTopic('goflow2-flows');
    await createTopics(brokers, [topic]);
    const started = Date.now();
    // Two seconds of event time at 4x: about half a second of pacing.
    const result = await produceTrace(trace, { flowFormat: 'goflow2', speedup: 4, topicMap: { [defaultTopics.flows]: topic } }, testKafkaClient(brokers, 'produce-collector'));
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(result.messages).toBe(3);
    const got: { key: string | null; value: string }[] = [];
    const consumer = testKafkaClient(brokers, 'produce-collector-reader').consumer({ groupId: uniqueGroup('produce-collector'), maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void got.push({ key: message.key?.toString('utf8') ?? null, value: message.value?.toString('utf8') ?? '' }) });
    for (let i = 0; i < 100 && got.length < 3; i++) await new Promise((r) => setTimeout(r, 100));
    await consumer.disconnect();
    expect(got).toEqual([0, 1, 2].map((i) => ({ key: `10.0.0.${i + 1}`, value: JSON.stringify(flow(i)) })));
  }, 60_000);
});
