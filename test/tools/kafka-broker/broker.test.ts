/**
 * Real integration test against a single-node KRaft broker started from the Maven jars (needs Java 17 + Maven;
 * set SKIP_KAFKA_TESTS=1 to skip). Produces 1000 messages to a 3-partition topic, consumes them all with a
 * group (eachBatch), commits, and checks that a restarted member of the same group gets nothing old.
 */
import type { Consumer, EachBatchPayload } from 'kafkajs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createTopics,
  sharedTestKafka,
  testKafkaClient,
  uniqueGroup,
  uniqueTopic,
} from '../../helpers/kafka.ts';

const N = 1000;
const PARTITIONS = 3;

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Joins `groupId`, resolves once the group has assigned partitions to this member. */
async function startConsumer(
  brokers: string,
  groupId: string,
  topic: string,
  onMessage: (value: string, partition: number) => void,
): Promise<Consumer> {
  const consumer = testKafkaClient(brokers, 'broker-test').consumer({
    groupId,
    sessionTimeout: 10_000,
    heartbeatInterval: 500,
    maxWaitTimeInMs: 100,
  });
  let joined = false;
  consumer.on(consumer.events.GROUP_JOIN, () => {
    joined = true;
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: true,
    eachBatch: async ({ batch, resolveOffset, heartbeat }: EachBatchPayload) => {
      for (const m of batch.messages) {
        onMessage(m.value?.toString('utf8') ?? '', batch.partition);
        resolveOffset(m.offset);
      }
      const last = batch.messages.at(-1);
      if (last) {
        // autoCommit is off, so commitOffsetsIfNecessary() would be a no-op: commit explicitly.
        const offset = (BigInt(last.offset) + 1n).toString();
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset }]);
      }
      await heartbeat();
    },
  });
  await waitFor(() => joined, 30_000, `consumer to join ${groupId}`);
  return consumer;
}

describe.skipIf(process.env.SKIP_KAFKA_TESTS === '1')('local KRaft broker', () => {
  let kafka: { brokers: string };

  beforeAll(async () => {
    kafka = await sharedTestKafka();
  }, 120_000);

  it('produces 1000 messages to 3 partitions and consumes exactly them once per group', async () => {
    const topic = uniqueTopic('broker-test');
    const groupId = uniqueGroup('broker-test');
    await createTopics(kafka.brokers, [topic], PARTITIONS);

    const producer = testKafkaClient(kafka.brokers, 'broker-test-producer').producer();
    await producer.connect();
    const expected = Array.from({ length: N }, (_, i) => `msg-${i}`);
    for (let start = 0; start < N; start += 250) {
      await producer.send({
        topic,
        acks: -1,
        messages: expected.slice(start, start + 250).map((value, j) => ({ key: `k${start + j}`, value })),
      });
    }
    await producer.disconnect();

    // First member: receives everything exactly once, across all 3 partitions.
    const received: string[] = [];
    const partitionsSeen = new Set<number>();
    const first = await startConsumer(kafka.brokers, groupId, topic, (value, partition) => {
      received.push(value);
      partitionsSeen.add(partition);
    });
    await waitFor(() => received.length >= N, 30_000, `${N} messages (got ${received.length})`);
    await new Promise((r) => setTimeout(r, 300)); // would catch duplicates arriving late
    expect(received.length).toBe(N);
    expect([...received].sort()).toEqual([...expected].sort());
    expect(new Set(received).size).toBe(N);
    expect(partitionsSeen.size).toBe(PARTITIONS);

    // Offsets are committed for all partitions and add up to N.
    const admin = testKafkaClient(kafka.brokers, 'broker-test-admin').admin();
    await admin.connect();
    await first.disconnect();
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const committedTotal = (committed?.partitions ?? []).reduce((sum, p) => sum + Number(p.offset), 0);
    expect(committedTotal).toBe(N);

    // A restarted member of the same group gets nothing old, but does get new messages.
    const afterRestart: string[] = [];
    const second = await startConsumer(kafka.brokers, groupId, topic, (value) => afterRestart.push(value));
    const producer2 = testKafkaClient(kafka.brokers, 'broker-test-producer-2').producer();
    await producer2.connect();
    await producer2.send({ topic, acks: -1, messages: [{ value: 'fresh' }] });
    await producer2.disconnect();
    await waitFor(() => afterRestart.length >= 1, 15_000, 'the fresh message');
    await new Promise((r) => setTimeout(r, 300));
    await second.disconnect();
    await admin.disconnect();
    expect(afterRestart).toEqual(['fresh']);
  }, 80_000);
});
