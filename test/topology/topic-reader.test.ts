/**
 * The table reader behind every restore and global table (src/topology/topic-reader.ts) on a real broker.
 * Regression: a partition whose tail is an aborted transaction (a fenced former owner's checkpoint, a route
 * transaction dropped at a rejoin) never reached `caughtUp`. kafkajs hands a fetch of only aborted records
 * and markers to no eachBatch, so the restore waited for ever: members stuck "restoring" after a rebalance
 * storm (issue 12).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { TopicReader } from '../../src/topology/topic-reader.ts';
import { createTopics, sharedTestKafka, testKafkaClient, uniqueTopic } from '../helpers/kafka.ts';
import { TEST_READER_WAIT_MS } from '../helpers/scale-out.ts';

let brokers = '';

beforeAll(async () => {
  brokers = (await sharedTestKafka()).brokers;
}, 180_000);

/** Resolves with the values read once `caughtUp` resolves, or with null after `ms`. */
async function readUntilCaughtUp(topic: string, partitions: ReadonlySet<number> | undefined, ms: number): Promise<string[] | null> {
  const values: string[] = [];
  const reader = new TopicReader(
    testKafkaClient(brokers, 'reader-test'),
    topic,
    'reader-test',
    (m) => {
      if (partitions === undefined || partitions.has(m.partition)) values.push(`${m.partition}:${m.value?.toString() ?? 'null'}`);
    },
    { partitions, maxWaitMs: TEST_READER_WAIT_MS },
  );
  let timer: NodeJS.Timeout | undefined;
  try {
    await reader.start();
    const outcome = await Promise.race([reader.caughtUp.then(() => 'caught up' as const), new Promise<'timed out'>((r) => (timer = setTimeout(() => r('timed out'), ms)))]);
    return outcome === 'caught up' ? values.sort() : null;
  } finally {
    clearTimeout(timer);
    await reader.stop();
  }
}

describe('TopicReader', () => {
  it('catches up with partitions whose tail is an aborted transaction', async () => {
    const topic = uniqueTopic('reader-aborted');
    await createTopics(brokers, [topic], 2);
    const kafka = testKafkaClient(brokers, 'reader-test-writer');
    const producer = kafka.producer({ transactionalId: uniqueTopic('reader-aborted-txn'), idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      // Partition 0: committed, then aborted (the tail). Partition 1: only an aborted transaction.
      const committed = await producer.transaction();
      await committed.send({ topic, messages: [{ partition: 0, value: 'kept' }] });
      await committed.commit();
      const aborted = await producer.transaction();
      await aborted.send({ topic, messages: [{ partition: 0, value: 'aborted-0' }, { partition: 1, value: 'aborted-1' }] });
      await aborted.abort();
    } finally {
      await producer.disconnect();
    }
    // Before the fix both timed out (null): the reader read 'kept' and then waited for offsets it had passed.
    const [every, second] = await Promise.all([readUntilCaughtUp(topic, undefined, 15_000), readUntilCaughtUp(topic, new Set([1]), 15_000)]);
    expect(every).toEqual(['0:kept']);
    expect(second).toEqual([]);
  }, 60_000);
});
