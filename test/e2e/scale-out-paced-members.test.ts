/**
 * Issue 12, routers of different members more than a window apart: two member processes, each routing one
 * of two flows partitions; the small fixture's flows split so that partition 0 is sparse (a twentieth of the
 * VMs: one fetch of it, 1 MiB, spans the whole 45 minutes of the trace) and partition 1 dense (a fetch of it
 * about 5 minutes). The whole backlog is committed in one producer transaction once both members own their
 * partition, so it appears to both routers at once (they read committed): the sparse partition's router has
 * routed to the trace's end in its first batch while the dense one's is minutes in. Each member paces only
 * its own routers (member-paced-routers.test.ts); without a pace across members, the window partitions moved
 * 45 minutes on with the sparse router's sides and refused most of the dense router's as too_late.
 */
import { AssignerProtocol, type Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultTopics } from '../../src/contract/topics.ts';
import type { DeadLetterValue } from '../../src/kafka/dead-letter.ts';
import { vmKey } from '../../src/topology/by-vm.ts';
import { topologyGroups } from '../../src/topology/config.ts';
import { TopicReader } from '../../src/topology/topic-reader.ts';
import { traceMessages } from '../../src/trace/trace-messages.ts';
import { sharedTestKafka, testKafkaClient } from '../helpers/kafka.ts';
import { featuresOf, stats, waitForRecords } from '../helpers/reliability.ts';
import { differenceFromReplay, type MemberProcesses, memberProcesses, metric, replayReference, requestedRun } from '../helpers/scale-out.ts';
import { waitFor } from '../helpers/service-process.ts';

let kafka: { brokers: string };
let app: MemberProcesses | undefined;

beforeAll(async () => {
  kafka = await sharedTestKafka();
}, 180_000);

afterAll(async () => {
  await app?.stopAll();
}, 60_000);

/** The flows partition of a flow message, by its first record's VM: a twentieth of the VMs to partition 0. */
function sparseOrDense(value: string): number {
  const parsed: unknown = JSON.parse(value);
  const first = (Array.isArray(parsed) ? parsed[0] : parsed) as { src_vm?: unknown; dst_vm?: unknown } | undefined;
  const vm = typeof first?.src_vm === 'string' ? first.src_vm : typeof first?.dst_vm === 'string' ? first.dst_vm : '';
  return vmKey(vm) % 20 === 0 ? 0 : 1;
}

/** The flows partitions each member of the route group is assigned, once the group is stable (else null). */
async function routeAssignment(client: Kafka, group: string, flows: string): Promise<number[][] | null> {
  const admin = client.admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([group]);
    const g = groups[0];
    if (g === undefined || g.state !== 'Stable') return null;
    return g.members.map((m) => AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[flows] ?? []);
  } finally {
    await admin.disconnect();
  }
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

describe('routers of two members a window apart', () => {
  it('are paced against each other: the replay\'s rejects, no side refused at a window partition, every VM\'s features the replay\'s', async ({ onTestFailed }) => {
    app = await memberProcesses(kafka.brokers, 'pacedacross', 2, 2);
    const { members, topics } = app;
    onTestFailed(() => app?.keepLogs());
    const client = testKafkaClient(kafka.brokers, 'paced-members');
    const reference = replayReference();
    // Each member owns one flows partition before any flow exists.
    const owned = await waitFor(
      async () => {
        const a = await routeAssignment(client, topologyGroups(app!.appId).route, topics.flows);
        return a !== null && a.length === 2 && a.every((parts) => parts.length === 1) ? a : undefined;
      },
      120_000,
      'the route group stable, a flows partition to each member',
    );
    expect(owned.flat().sort()).toEqual([0, 1]);

    const topicOf: Record<string, string> = { [defaultTopics.flows]: topics.flows, [defaultTopics.vmAttributes]: topics.vm, [defaultTopics.tenantAttributes]: topics.tenant };
    const trace = (await traceMessages('fixtures/small.jsonl.gz')).flatMap(([topic, value]) => {
      const to = topicOf[topic];
      return to === undefined ? [] : [{ topic: to, value, partition: to === topics.flows ? sparseOrDense(value) : 0 }];
    });
    const perPartition = [0, 0];
    const producer = client.producer({ transactionalId: `${app.appId}-backlog`, idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      const txn = await producer.transaction();
      for (let i = 0; i < trace.length; ) {
        const topic = trace[i]!.topic;
        const messages: Array<{ partition: number; value: string }> = [];
        for (; i < trace.length && trace[i]!.topic === topic && messages.length < 500; i++) {
          const m = trace[i]!;
          if (topic === topics.flows) perPartition[m.partition]!++;
          messages.push({ partition: m.partition, value: m.value });
        }
        await txn.send({ topic, messages });
      }
      await txn.commit();
    } finally {
      await producer.disconnect();
    }
    // Flow messages per partition: 0.98 MB against 19.3 MB.
    expect(perPartition).toEqual([124, 2512]);

    const expected = await reference;
    for (const m of members) await waitForRecords(m.url, expected.records, 300_000);
    const served = await requestedRun(members, 180_000);
    const routed = await Promise.all(members.map((m) => metric(m.url, 'alcor_scale_out_routed_messages_total')));
    for (const r of routed) expect(r).toBeGreaterThan(0);
    // No flow side refused at a window partition (their dead letters name a by-VM partition as their source):
    // every dead letter is a router's, the replay's 49 too_late among them, each once.
    const letters = await deadLetters(client, `${topics.flows}.rejected`);
    const atWindows = letters.filter((d) => !d.source.startsWith(`${topics.flows}/`));
    const rejected = await Promise.all(members.map(async (m) => (await stats(m.url)).rejected));
    expect(atWindows.length, `flow sides refused at the window partitions: ${atWindows.length}; the members' rejects ${JSON.stringify(rejected)}`).toBe(0);
    expect(new Set(letters.filter((d) => d.reason === 'too_late').map((d) => `${d.source}#${d.index}`)).size).toBe(49);
    // The routers' rejects, once each (their committed states): the replay's, but for the trace's lines
    // that are no message (invalid lines, unknown topics), which are never produced.
    const { invalid_json, invalid_line, unknown_topic, ...ofMessages } = expected.rejected.by_reason;
    expect([invalid_json, invalid_line, unknown_topic]).toEqual([4, 2, 2]);
    expect(ofMessages.too_late).toBe(49);
    for (const r of rejected) expect(r).toEqual({ count: expected.rejected.count - 8, by_reason: ofMessages });
    for (const [i, m] of members.entries()) expect(await differenceFromReplay(m.url, served[i]!, expected)).toBeNull();
    const vmIds = Object.keys(expected.vmClusters).sort();
    for (const m of members) expect(await featuresOf(m.url, vmIds)).toEqual(expected.features);
  }, 600_000);
});
