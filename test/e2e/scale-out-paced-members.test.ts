/**
 * Issue 12, routers of different members far apart: the small fixture on 4 flows partitions, one of them
 * sparse (a twentieth of the VMs: one fetch of it spans the whole trace, one of the others' minutes), one
 * light, produced before two member processes start; one member routes the sparse and the light partitions,
 * the other the two dense ones, so that the first is far ahead of the second in event time. Each member
 * paces its own routers (member-paced-routers.test.ts); across members, every route transaction publishes its
 * router's watermark to `<app>-route-watermarks` and every member paces against the others' (docs/event-time.md,
 * "Routers of several members"). Without that, a member's sparse router ran 40 minutes ahead of the other
 * member's, and the other's flow sides were refused at the window partitions as too_late.
 */
import type { Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultTopics } from '../../src/contract/topics.ts';
import type { DeadLetterValue } from '../../src/kafka/dead-letter.ts';
import { vmKey } from '../../src/topology/by-vm.ts';
import { TopicReader } from '../../src/topology/topic-reader.ts';
import { traceMessages } from '../../src/trace/trace-messages.ts';
import { sharedTestKafka, testKafkaClient } from '../helpers/kafka.ts';
import { agreement, featuresOf, stats, waitForRecords } from '../helpers/reliability.ts';
import { type MemberProcesses, memberProcesses, metric, replayReference, requestedRun } from '../helpers/scale-out.ts';

let kafka: { brokers: string };
let app: MemberProcesses | undefined;

beforeAll(async () => {
  kafka = await sharedTestKafka();
}, 180_000);

afterAll(async () => {
  await app?.stopAll();
}, 60_000);

const INPUT_PARTITIONS = 4;

/**
 * The flows partition of a flow message, by its first record's VM: a twentieth of the VMs to partition 0 (the
 * sparse one), three twentieths to 2, the rest to 1 and 3. The route group deals the input partitions round
 * robin (kafkajs' assigner): one member routes 0 and 2, a fifth of the flows, the other 1 and 3; the first
 * reaches the end of the trace in event time while the second is a quarter through.
 */
function skewed(value: string): number {
  const parsed: unknown = JSON.parse(value);
  const first = (Array.isArray(parsed) ? parsed[0] : parsed) as { src_vm?: unknown; dst_vm?: unknown } | undefined;
  const vm = typeof first?.src_vm === 'string' ? first.src_vm : typeof first?.dst_vm === 'string' ? first.dst_vm : '';
  const k = vmKey(vm);
  const r = k % 20;
  return r === 0 ? 0 : r <= 3 ? 2 : Math.floor(k / 20) % 2 === 0 ? 1 : 3;
}

/** Every dead letter of `topic` (read to the end it has now). */
async function deadLetters(client: Kafka, topic: string): Promise<DeadLetterValue[]> {
  const out: DeadLetterValue[] = [];
  const reader = new TopicReader(client, topic, 'paced-members-dlq', (m) => {
    if (m.value !== null) out.push(JSON.parse(m.value.toString()) as DeadLetterValue);
  }, { maxWaitMs: 200 });
  await reader.start();
  await reader.caughtUp;
  await reader.stop();
  return out;
}

describe('routers of two members racing through a backlog', () => {
  it('are paced against each other: the replay\'s 49 too_late, no side refused at a window partition, and the replay\'s features', async ({ onTestFailed }) => {
    // A route transaction every 10 input messages: a member routes the trace in many round trips, not in the
    // 3 s of CPU it takes in megabyte transactions, so the second member joins while the first is still at
    // the start, and each router goes at about as many messages a second as any other.
    app = await memberProcesses(kafka.brokers, 'pacedacross', 0, INPUT_PARTITIONS, { env: { SCALE_OUT_ROUTE_COMMIT_MESSAGES: '10' } });
    const { topics } = app;
    onTestFailed(() => app?.keepLogs());
    const reference = replayReference();
    const topicOf: Record<string, string> = { [defaultTopics.flows]: topics.flows, [defaultTopics.vmAttributes]: topics.vm, [defaultTopics.tenantAttributes]: topics.tenant };
    const trace = (await traceMessages('fixtures/small.jsonl.gz')).flatMap(([topic, value]) => {
      const to = topicOf[topic];
      return to === undefined ? [] : [{ topic: to, value, partition: to === topics.flows ? skewed(value) : 0 }];
    });
    // The whole backlog before any member starts, each message to its partition, in the trace's order.
    const perPartition = [0, 0, 0, 0];
    const client = testKafkaClient(kafka.brokers, 'paced-members');
    const producer = client.producer();
    await producer.connect();
    try {
      for (let i = 0; i < trace.length; ) {
        const topic = trace[i]!.topic;
        const messages: Array<{ partition: number; value: string }> = [];
        for (; i < trace.length && trace[i]!.topic === topic && messages.length < 500; i++) {
          const m = trace[i]!;
          if (topic === topics.flows) perPartition[m.partition]!++;
          messages.push({ partition: m.partition, value: m.value });
        }
        await producer.send({ topic, messages });
      }
    } finally {
      await producer.disconnect();
    }
    // Flow messages per partition: partition 0 sparse, 2 light.
    expect(perPartition).toEqual([124, 1040, 391, 1081]);

    const members = await Promise.all([app.start(), app.start()]);
    const expected = await reference;
    for (const m of members) await waitForRecords(m.url, expected.records, 300_000);
    const served = await requestedRun(members, 180_000);
    // Each member routed part of the flows.
    const routed = await Promise.all(members.map((m) => metric(m.url, 'alcor_scale_out_routed_messages_total')));
    for (const r of routed) expect(r).toBeGreaterThan(0);
    // The routers' rejects, exactly once (their committed states): the replay's, 49 too_late among them, but
    // for the trace's lines that are no message (invalid lines, unknown topics), which are never produced.
    const { invalid_json, invalid_line, unknown_topic, ...ofMessages } = expected.rejected.by_reason;
    expect([invalid_json, invalid_line, unknown_topic]).toEqual([4, 2, 2]);
    expect((await stats(members[0]!.url)).rejected).toEqual({ count: expected.rejected.count - 8, by_reason: ofMessages });
    expect(ofMessages.too_late).toBe(49);
    // No flow side refused at a window partition (their dead letters name a by-VM partition as source): every
    // reject dead-lettered is a router's, the replay's 49 too_late distinct ones among them.
    const letters = await deadLetters(client, `${topics.flows}.rejected`);
    const atWindows = letters.filter((d) => !d.source.startsWith(`${topics.flows}/`));
    expect(atWindows.length, `sides refused at the window partitions: ${atWindows.length}`).toBe(0);
    expect(new Set(letters.filter((d) => d.reason === 'too_late').map((d) => `${d.source}#${d.index}`)).size).toBe(49);
    const vmIds = Object.keys(expected.vmClusters).sort();
    for (const [i, m] of members.entries()) {
      expect(agreement(served[i]!.vm_clusters, expected.vmClusters)).toBe(1);
      expect(await featuresOf(m.url, vmIds)).toEqual(expected.features);
    }
  }, 600_000);
});
