/**
 * External commits (the service with snapshots) against a real broker: messages redelivered below the
 * applied offset are skipped (and counted); a log that ends below the applied offset (the topic recreated or
 * truncated under the consumer) is reported and its messages applied, not skipped as "already applied".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConsumedMessage, startFlowConsumer } from '../../src/kafka/consumer.ts';
import { localKafkaSettings } from '../../src/kafka/options.ts';
import { createTopics, startTestKafka, type TestKafka, testKafkaClient, uniqueGroup, uniqueTopic } from '../helpers/kafka.ts';

let kafka: TestKafka;
beforeAll(async () => {
  kafka = await startTestKafka();
}, 180_000);
afterAll(async () => {
  await kafka?.stop();
}, 60_000);

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
