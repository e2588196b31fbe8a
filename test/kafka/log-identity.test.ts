/**
 * Whether a snapshot's offsets still point into the same Kafka log: the comparison itself, then the log
 * identity read from a real broker through deleted records and a recreated topic.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { KafkaLogIdentity } from '../../src/contract/topics.ts';
import { checkResumePoint, describeKafkaLog, startOffsets } from '../../src/kafka/log-identity.ts';
import { createTopics, sharedTestKafka, testKafkaClient, uniqueTopic } from '../helpers/kafka.ts';

const identity = (clusterId: string, low: string, high: string): KafkaLogIdentity => ({
  clusterId,
  partitions: [
    { topic: 'flows', partition: 0, low, high },
    { topic: 'flows', partition: 1, low: '0', high: '9' },
  ],
});
const at = (next: string) => [
  { topic: 'flows', partition: 0, next },
  { topic: 'flows', partition: 1, next: '9' },
];

describe('checkResumePoint', () => {
  it('accepts offsets within the same log, from its start to its end', () => {
    expect(checkResumePoint(at('5'), identity('c1', '5', '10'), identity('c1', '5', '10'))).toEqual([]);
    expect(checkResumePoint(at('10'), identity('c1', '0', '10'), identity('c1', '7', '30'))).toEqual([]);
    // A format-1 snapshot kept no identity: its offsets are still checked against the log.
    expect(checkResumePoint(at('10'), null, identity('c1', '0', '10'))).toEqual([]);
  });

  it('names every way the offsets no longer fit', () => {
    expect(checkResumePoint(at('5'), identity('c1', '0', '10'), identity('c2', '0', '10'))).toEqual([
      { reason: 'cluster_changed', detail: 'cluster id c1 in the snapshot, c2 now' },
    ]);
    expect(checkResumePoint(at('5'), null, identity('c1', '8', '20'))).toEqual([{ reason: 'below_start', detail: 'flows/0: snapshot offset 5, log now 8..20' }]);
    expect(checkResumePoint(at('50'), null, identity('c1', '0', '3'))).toEqual([{ reason: 'beyond_end', detail: 'flows/0: snapshot offset 50, log now 0..3' }]);
    expect(checkResumePoint(at('50'), identity('c1', '40', '50'), identity('c1', '0', '60'))).toEqual([
      { reason: 'start_moved_back', detail: 'flows/0: log started at 40 when the snapshot was taken, at 0 now' },
    ]);
    expect(checkResumePoint([{ topic: 'flows', partition: 7, next: '1' }], null, identity('c1', '0', '3'))).toEqual([
      { reason: 'partition_missing', detail: 'flows/7: in the snapshot, not in the cluster' },
    ]);
  });

  it('rebuilds from the start of every partition', () => {
    expect(startOffsets(identity('c1', '8', '20'))).toEqual([
      { topic: 'flows', partition: 0, next: '8' },
      { topic: 'flows', partition: 1, next: '0' },
    ]);
  });
});

describe('describeKafkaLog against a broker', () => {
  let kafka: { brokers: string };
  beforeAll(async () => {
    kafka = await sharedTestKafka();
  }, 180_000);

  it('reads the cluster id and partition extents; records deleted below a snapshot offset and a recreated topic are caught', async () => {
    const topic = uniqueTopic('identity');
    await createTopics(kafka.brokers, [topic], 2);
    const client = testKafkaClient(kafka.brokers, 'identity');
    const producer = client.producer();
    const admin = client.admin();
    await Promise.all([producer.connect(), admin.connect()]);
    try {
      await producer.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ value: `m${i}`, partition: 0 })) });
      const saved = await describeKafkaLog(admin, [topic, topic]);
      expect(saved.clusterId).toMatch(/^\S{10,}$/);
      expect(saved.partitions).toEqual([
        { topic, partition: 0, low: '0', high: '10' },
        { topic, partition: 1, low: '0', high: '0' },
      ]);
      const offsets = [
        { topic, partition: 0, next: '4' },
        { topic, partition: 1, next: '0' },
      ];
      expect(checkResumePoint(offsets, saved, saved)).toEqual([]);

      // Retention (or an operator) removed records the snapshot had not applied yet.
      await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '7' }] });
      const trimmed = await describeKafkaLog(admin, [topic]);
      expect(checkResumePoint(offsets, saved, trimmed).map((p) => p.reason)).toEqual(['below_start']);

      // Deleted and recreated with fewer records than the snapshot had applied.
      await admin.deleteTopics({ topics: [topic] });
      for (let attempt = 1; ; attempt++) {
        try {
          await createTopics(kafka.brokers, [topic], 2);
          break;
        } catch (err) {
          if (attempt >= 20) throw err;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      await producer.send({ topic, messages: [{ value: 'again', partition: 0 }] });
      const recreated = await describeKafkaLog(admin, [topic]);
      expect(recreated.clusterId).toBe(saved.clusterId);
      expect(checkResumePoint(offsets, saved, recreated)).toEqual([{ reason: 'beyond_end', detail: `${topic}/0: snapshot offset 4, log now 0..1` }]);
      // Taken after the trim: the start moved back from 7 to 0 even where the offset itself fits.
      expect(checkResumePoint([{ topic, partition: 0, next: '1' }], trimmed, recreated).map((p) => p.reason)).toEqual(['start_moved_back']);
    } finally {
      await Promise.all([producer.disconnect(), admin.disconnect()]);
    }
  }, 120_000);
});
