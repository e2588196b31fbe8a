/**
 * Issue 12, routers far apart: a backlog on 3 input partitions produced before the member starts, one of
 * them sparse (a twentieth of the VMs), so that its first fetch covers the whole trace while the others'
 * cover minutes. Unpaced, that router moved every window partition 40 minutes ahead and the others' flow
 * sides fell out of the rings (refused as too_late since 8312702, silently lost before). Paced (a router
 * reads no more than a bucket ahead of the slowest, docs/event-time.md), the member's end result is one
 * process's over the same messages in the trace's order: the offline replay's.
 */
import { describe, expect, it } from 'vitest';
import type { RejectedRecord } from '../../src/contract/rejections.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { vmKey } from '../../src/topology/by-vm.ts';
import { traceMessages } from '../../src/trace/trace-messages.ts';
import { testKafkaClient } from '../helpers/kafka.ts';
import { comparableRunInput, requestedInput } from '../helpers/members.ts';
import { memberTestFile } from '../helpers/scale-out.ts';
import { waitFor } from '../helpers/service-process.ts';

const file = memberTestFile();

const INPUT_PARTITIONS = 3;

/** The flows partition of a flow message: by its first record's VM, a twentieth of the VMs to partition 0. */
function skewedPartition(value: string): number {
  const parsed: unknown = JSON.parse(value);
  const first = (Array.isArray(parsed) ? parsed[0] : parsed) as { src_vm?: unknown; dst_vm?: unknown } | undefined;
  const vm = typeof first?.src_vm === 'string' ? first.src_vm : typeof first?.dst_vm === 'string' ? first.dst_vm : '';
  const k = vmKey(vm);
  return k % 20 === 0 ? 0 : 1 + (k % 2);
}

describe('routers of one member racing through a backlog', () => {
  it('are paced to the slowest: the too_late count, the records and the run input are one process\'s (the replay\'s)', async () => {
    const app = await file.app('pacedrouters', 3);
    const { topology, pipeline, topicOf } = app;
    const admin = testKafkaClient(file.brokers, 'paced-routers-admin').admin();
    await admin.connect();
    await admin.createPartitions({ topicPartitions: [{ topic: app.topics.flows, count: INPUT_PARTITIONS }] }).finally(() => admin.disconnect());
    const trace = (await traceMessages('fixtures/small.jsonl.gz')).flatMap(([topic, value]) => {
      const to = topicOf[topic];
      return to === undefined ? [] : [{ topic: to, value, partition: to === app.topics.flows ? skewedPartition(value) : 0 }];
    });

    // The reference: one process reading the messages in the trace's order, as the replay does.
    const single = new Pipeline(pipeline);
    for (const [i, m] of trace.entries()) {
      single.ingestMessage(m.topic, m.value, `m${i}`);
      if (single.runDue()) single.runInput();
    }
    const expected = single.runInput();
    expect(single.rejections.summary().by_reason.too_late).toBe(49);

    // The whole backlog first, each message to its partition.
    const perPartition = [0, 0, 0];
    const producer = testKafkaClient(file.brokers, 'paced-routers-producer').producer();
    await producer.connect();
    try {
      for (let i = 0; i < trace.length; ) {
        const topic = trace[i]!.topic;
        const messages: Array<{ partition: number; value: string }> = [];
        for (; i < trace.length && trace[i]!.topic === topic && messages.length < 500; i++) {
          const m = trace[i]!;
          if (topic === app.topics.flows) perPartition[m.partition]!++;
          messages.push({ partition: m.partition, value: m.value });
        }
        await producer.send({ topic, messages });
      }
    } finally {
      await producer.disconnect();
    }
    // Flow messages (arrays of records) per partition. Partition 0 is sparse, 0.98 MB against 8.9 and 10.4 MB:
    // a fetch or two of it (1 MiB a partition) span the whole trace, one of the others' about 5 minutes.
    expect(perPartition).toEqual([124, 1139, 1373]);

    const rejected: RejectedRecord[] = [];
    const m = await file.member(topology, pipeline, { onReject: (r) => void rejected.push(r) });
    await waitFor(async () => (m.member.status().records.flows === single.recordsIn.flows ? true : undefined), 180_000, 'every flow routed').catch((err: unknown) => {
      throw new Error(`${String(err)} ${JSON.stringify(m.member.status().records)} of ${single.recordsIn.flows}\n${m.logs.slice(-20).join('\n')}`);
    });
    const run = await requestedInput(m, 120_000);
    // Every rejection the member counted (its routers' and its window partitions'), by reason: no flow side
    // refused at a window partition, the replay's 49 too_late and nothing more.
    const byReason: Record<string, number> = {};
    for (const r of rejected) byReason[r.reason] = (byReason[r.reason] ?? 0) + 1;
    expect(byReason).toEqual(single.rejections.summary().by_reason);
    expect(m.member.status().records).toEqual(single.recordsIn);
    expect(m.member.status().rejected).toEqual(single.rejections.summary());
    expect(comparableRunInput(run)).toEqual(comparableRunInput(expected));
    // The sparse partition's batches were cut at a bucket ahead, and read again.
    expect(m.member.status().routePacedCuts).toBeGreaterThan(0);
  }, 400_000);
});
