/**
 * External commits (the service with snapshots) against a real broker: messages redelivered below the
 * applied offset are skipped (and counted); a log that ends below the applied offset (the topic recreated or
 * truncated under the consumer) is reported and its messages applied, not skipped as "already applied".
 * Per-batch commits: a fetched batch handed over in slices commits once at its end, unless commitIntervalMs
 * has passed within it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { type ConsumedMessage, startFlowConsumer } from '../../src/kafka/consumer.ts';
import { localKafkaSettings } from '../../src/kafka/options.ts';
import { createTopics, sharedTestKafka, testKafkaClient, uniqueGroup, uniqueTopic } from '../helpers/kafka.ts';

let kafka: { brokers: string };
beforeAll(async () => {
  kafka = await sharedTestKafka();
}, 180_000);

describe('consumer offsets going backwards', () => {
  it('applies the messages of a log that ends below the applied offset, and still resumes the others at their applied offset', async () => {
    const prefix = uniqueTopic('behind');
    const topics = { flows: `${prefix}.flows`, vmAttributes: `${prefix}.vms`, tenantAttributes: `${prefix}.tenants` };
    await createTopics(kafka.brokers, Object.values(topics), 1);
    const producer = testKafkaClient(kafka.brokers, 'behind').producer();
    await producer.connect();
    await producer.send({ topic: topics.flows, messages: ['f0', 'f1', 'f2'].map((value) => ({ value })) });
    await producer.send({ topic: topics.vmAttributes, messages: ['v0', 'v1', 'v2'].map((value) => ({ value })) });
    await producer.disconnect();

    const applied: string[] = [];
    const behind: unknown[] = [];
    const consumer = startFlowConsumer({
      kafka: localKafkaSettings(kafka.brokers, { topics, groupId: uniqueGroup('behind'), fromBeginning: true }),
      commits: 'external',
      // A snapshot of an earlier incarnation of the flows topic (50 applied); 2 of the vm topic's 3 applied.
      resumeFrom: [
        { topic: topics.flows, partition: 0, next: '50' },
        { topic: topics.vmAttributes, partition: 0, next: '2' },
      ],
      onBatch: (messages: ConsumedMessage[]) => {
        for (const m of messages) applied.push(`${m.value}@${m.offset}`);
      },
      onOffsetsBehind: (p) => behind.push(p),
      maxWaitTimeInMs: 100,
    });
    try {
      const deadline = Date.now() + 30_000;
      while (applied.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(applied.sort()).toEqual(['f0@0', 'f1@1', 'f2@2', 'v2@2']);
      expect(behind).toEqual([{ topic: topics.flows, partition: 0, applied: '50', logEnd: '3' }]);
      // The vm topic was sought to its applied offset: nothing below it was even fetched.
      expect(consumer.messagesSkipped).toBe(0);
      expect(consumer.appliedOffsets().sort((a, b) => a.topic.localeCompare(b.topic))).toEqual([
        { topic: topics.flows, partition: 0, next: '3' },
        { topic: topics.vmAttributes, partition: 0, next: '3' },
      ]);
    } finally {
      await consumer.stop();
    }
  }, 90_000);
});

describe('per-batch commits', () => {
  it('commits a batch handed over in slices once at its end, or after every slice with commitIntervalMs 0', async () => {
    const seen: Record<string, string[]> = {};
    // 60 s: longer than the test, so only the batch's end commits; 0: every slice commits (the earlier behaviour).
    for (const commitIntervalMs of [60_000, 0]) {
      const prefix = uniqueTopic('slices');
      const topics = { flows: `${prefix}.flows`, vmAttributes: `${prefix}.vms`, tenantAttributes: `${prefix}.tenants` };
      await createTopics(kafka.brokers, Object.values(topics), 1);
      const client = testKafkaClient(kafka.brokers, 'slices');
      const producer = client.producer();
      await producer.connect();
      // One send: one record batch, fetched whole, handed over in 3 slices of 10.
      await producer.send({ topic: topics.flows, messages: Array.from({ length: 30 }, (_, i) => ({ value: `m${i}` })) });
      await producer.disconnect();
      const admin = client.admin();
      await admin.connect();
      const groupId = uniqueGroup('slices');
      const committedAtSlice: string[] = [];
      const consumer = startFlowConsumer({
        kafka: localKafkaSettings(kafka.brokers, { topics, groupId, fromBeginning: true }),
        maxMessagesPerCall: 10,
        commitIntervalMs,
        // What the group has committed when each slice is handed over.
        onBatch: async () => {
          const [offsets] = await admin.fetchOffsets({ groupId, topics: [topics.flows] });
          committedAtSlice.push(offsets?.partitions[0]?.offset ?? 'none');
        },
        maxWaitTimeInMs: 100,
      });
      try {
        const deadline = Date.now() + 30_000;
        while (consumer.messagesCommitted < 30 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        expect(consumer.messagesCommitted).toBe(30);
        expect(consumer.lag()).toEqual([{ topic: topics.flows, partition: 0, highWatermark: 30, committed: 30, lag: 0 }]);
        seen[String(commitIntervalMs)] = committedAtSlice;
      } finally {
        await consumer.stop();
        await admin.disconnect();
      }
    }
    expect(seen).toEqual({ '60000': ['-1', '-1', '-1'], '0': ['-1', '10', '20'] });
  }, 90_000);
});

describe('per-batch commits and a handler that throws', () => {
  it('commits the slices applied before the throw, so that only the failed slice is read again', async () => {
    const prefix = uniqueTopic('throws');
    const topics = { flows: `${prefix}.flows`, vmAttributes: `${prefix}.vms`, tenantAttributes: `${prefix}.tenants` };
    await createTopics(kafka.brokers, Object.values(topics), 1);
    const client = testKafkaClient(kafka.brokers, 'throws');
    const producer = client.producer();
    await producer.connect();
    await producer.send({ topic: topics.flows, messages: Array.from({ length: 30 }, (_, i) => ({ value: `m${i}` })) });
    await producer.disconnect();
    const admin = client.admin();
    await admin.connect();
    const groupId = uniqueGroup('throws');
    // Per slice handed over: its first offset and what the group had committed by then.
    const slices: string[] = [];
    let thrown = false;
    const consumer = startFlowConsumer({
      kafka: localKafkaSettings(kafka.brokers, { topics, groupId, fromBeginning: true }),
      maxMessagesPerCall: 10,
      commitIntervalMs: 60_000,
      onBatch: async (messages) => {
        const [offsets] = await admin.fetchOffsets({ groupId, topics: [topics.flows] });
        slices.push(`${messages[0]?.offset}:${offsets?.partitions[0]?.offset}`);
        if (messages[0]?.offset === '20' && !thrown) {
          thrown = true;
          throw new Error('the handler fails once');
        }
      },
      maxWaitTimeInMs: 100,
      reconnectMinMs: 100,
    });
    try {
      const deadline = Date.now() + 45_000;
      while (consumer.lag()[0]?.committed !== 30 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(consumer.lag()).toEqual([{ topic: topics.flows, partition: 0, highWatermark: 30, committed: 30, lag: 0 }]);
      expect(slices).toEqual(['0:-1', '10:-1', '20:-1', '20:20']);
    } finally {
      await consumer.stop();
      await admin.disconnect();
    }
  }, 90_000);
});
