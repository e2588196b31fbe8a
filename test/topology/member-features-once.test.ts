/**
 * Issue 12, "one member must not be slower than one process": every router announces every tick to every
 * window partition, and a partition published a tick's features once per announcement. Now it publishes at
 * the first only, and the choice survives a partition moving: a member joining (a rebalance) and a member
 * stopping hand partitions over with ticks published after their last checkpoint, and the features topic
 * still holds each tick once per partition, none skipped.
 */
import { describe, expect, it } from 'vitest';
import { TraceGenerator } from '../../src/generator/index.ts';
import { decodeDocumentInSlices } from '../../src/snapshots/sliced-document.ts';
import { decodeByVm } from '../../src/topology/by-vm.ts';
import { topologyTopics } from '../../src/topology/config.ts';
import type { PartitionFeatures } from '../../src/topology/partition-state.ts';
import { TopicReader } from '../../src/topology/topic-reader.ts';
import { generatedMessages, requestedInput, type TestMember } from '../helpers/members.ts';
import { testKafkaClient } from '../helpers/kafka.ts';
import { memberTestFile, TEST_READER_WAIT_MS } from '../helpers/scale-out.ts';
import { waitFor } from '../helpers/service-process.ts';

const file = memberTestFile();

const PARTITIONS = 4;

/** Every record of a topic, from its beginning (read_committed). */
async function readTopic(brokers: string, topic: string, each: (partition: number, value: Buffer) => Promise<void> | void): Promise<void> {
  const reader = new TopicReader(testKafkaClient(brokers, 'features-once-reader'), topic, 'features-once', (m) => (m.value === null ? undefined : each(m.partition, m.value)), { maxWaitMs: TEST_READER_WAIT_MS });
  try {
    await reader.start();
    await reader.caughtUp;
  } finally {
    await reader.stop();
  }
}

describe('a tick announced by several routers', () => {
  it('is published once per window partition, across a member joining and another leaving after ticks with no checkpoint', async () => {
    const app = await file.app('featuresonce', PARTITIONS);
    const { topology, pipeline } = app;
    // Three input partitions of the flows: three routers, each announcing every tick to every partition.
    const admin = testKafkaClient(file.brokers, 'features-once-admin').admin();
    await admin.connect();
    await admin.createPartitions({ topicPartitions: [{ topic: app.topics.flows, count: 3 }] }).finally(() => admin.disconnect());
    const trace = generatedMessages(new TraceGenerator({ name: 'featuresonce', seed: 12, vms: 80, tenants: 6, minutes: 45 }), app.topicOf);
    const cut = Math.floor(trace.length * 0.4);
    const cut2 = Math.floor(trace.length * 0.7);
    // Only the first tick of each partition (and requested runs) checkpoints: the ticks after it are on the
    // features topic with nothing in the changelog past them, what a successor replays.
    const member = (): Promise<TestMember> => file.member(topology, pipeline, { checkpointEveryMs: 3_600_000 });
    const routedAndApplied = (ms: TestMember[], messages: number, what: string) =>
      waitFor(
        async () => {
          const s = ms.map((m) => m.member.status());
          const routed = s.reduce((n, x) => n + x.routedMessages, 0);
          return routed >= messages && s.reduce((n, x) => n + x.appliedRecords, 0) >= s.reduce((n, x) => n + x.routedRecords, 0) ? true : undefined;
        },
        120_000,
        what,
      );
    const holding = (ms: TestMember[], shares: number[]) =>
      waitFor(
        async () => (JSON.stringify(ms.map((m) => m.member.status().partitions.length)) === JSON.stringify(shares) && ms.every((m) => m.member.notReadyReason() === null) ? true : undefined),
        90_000,
        `partitions held ${shares.join(', ')}`,
      );

    const a = await member();
    await holding([a], [PARTITIONS]);
    await app.send(trace.slice(0, cut));
    await routedAndApplied([a], cut, 'the first part routed and applied');

    // B joins: two partitions move to it, restored from their first tick's checkpoint and replayed.
    const b = await member();
    await holding([a, b], [2, 2]);
    expect(b.member.status().restores.changelog).toBe(2);
    // B's restore replays ticks A had published: computed again, sent again never.
    await waitFor(async () => (b.member.status().ticksNotSentAgain > 0 ? true : undefined), 60_000, 'ticks replayed by B and not sent again');
    await app.send(trace.slice(cut, cut2));
    await waitFor(async () => ((a.member.status().routedMessages + b.member.status().routedMessages) >= cut2 ? true : undefined), 120_000, 'the second part routed');

    // A stops: its partitions move to B, again with ticks past their checkpoints.
    const notSentBefore = b.member.status().ticksNotSentAgain;
    await a.stop();
    await holding([b], [PARTITIONS]);
    await app.send(trace.slice(cut2));
    await waitFor(async () => ((a.member.status().routedMessages + b.member.status().routedMessages) >= trace.length ? true : undefined), 120_000, 'the trace routed');
    // Routed before it, the request is the last record of every partition: once it is run, every partition
    // has applied the whole trace and committed every tick's features.
    await requestedInput(b, 120_000);
    expect(b.member.status().restores.changelog).toBe(4);
    expect(b.member.status().ticksNotSentAgain).toBeGreaterThan(notSentBefore);

    // What each partition was announced, in its order, and what the rule makes of it: the first announcement
    // of each tick newer than every tick before it.
    const topics = topologyTopics(topology.appId);
    const announced = new Map<number, number[]>();
    await readTopic(file.brokers, topics.byVm, (p, value) => {
      for (const r of decodeByVm(value) ?? []) if (r.k === 't') announced.set(p, [...(announced.get(p) ?? []), r.tick]);
    });
    const published = new Map<number, number[]>();
    await readTopic(file.brokers, topics.features, async (_p, value) => {
      const f = (await decodeDocumentInSlices(value)) as PartitionFeatures;
      if (f.tick !== null) published.set(f.partition, [...(published.get(f.partition) ?? []), f.tick]);
    });
    for (let p = 0; p < PARTITIONS; p++) {
      const ticks = announced.get(p) ?? [];
      const expected: number[] = [];
      for (const t of ticks) if (t > (expected[expected.length - 1] ?? Number.NEGATIVE_INFINITY)) expected.push(t);
      // Several routers announced each tick: the duplicates the rule removes were there.
      expect(ticks.length, `announcements to partition ${p}`).toBeGreaterThan(expected.length);
      expect(expected.length).toBeGreaterThanOrEqual(6);
      expect(published.get(p), `ticks published by partition ${p}`).toEqual(expected);
    }
  }, 420_000);
});
