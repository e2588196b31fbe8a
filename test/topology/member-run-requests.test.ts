/**
 * A requested run is run by whichever member leads when every partition has answered it, which need not be
 * the one that read the request: a leader that dies (or drops out of its group under load) after writing the
 * request's markers leaves them to its successor. Before, only the reader knew whether the run searches for
 * k, so the successor ran a searching request without the search: other clusters on the same features
 * (the failover test's one failure at load 41: the replay's 485 VMs, agreement 0.908).
 */
import { describe, expect, it } from 'vitest';
import { TraceGenerator } from '../../src/generator/index.ts';
import { encodeByVm } from '../../src/topology/by-vm.ts';
import { newRunRequestId } from '../../src/topology/run-request.ts';
import { generatedMessages } from '../helpers/members.ts';
import { testKafkaClient } from '../helpers/kafka.ts';
import { memberTestFile } from '../helpers/scale-out.ts';
import { waitFor } from '../helpers/service-process.ts';

const file = memberTestFile();

const PARTITIONS = 2;

describe('a requested run whose request another member read', () => {
  it('searches for k as the request asked, from its markers alone', async () => {
    const app = await file.app('runrequests', PARTITIONS);
    const trace = generatedMessages(new TraceGenerator({ name: 'runrequests', seed: 5, vms: 40, tenants: 3, minutes: 20 }), app.topicOf);
    const m = await file.member(app.topology, app.pipeline);
    await app.send(trace);
    await waitFor(
      async () => {
        const s = m.member.status();
        return s.leader && m.member.notReadyReason() === null && s.routedMessages >= trace.length && s.appliedRecords >= s.routedRecords ? true : undefined;
      },
      120_000,
      'the trace routed and applied by the leader',
    );
    const producer = testKafkaClient(file.brokers, 'runrequests-producer').producer();
    await producer.connect();
    try {
      for (const search of [true, false]) {
        // What a former leader wrote before it died: the request's marker in every by-VM partition, behind
        // what was routed. This member never read the request on the leader topic.
        const before = m.service.inputs.length;
        const value = encodeByVm([{ k: 'q', req: newRunRequestId(search), w: null, sa: null }]);
        await producer.send({ topic: m.member.topics.byVm, messages: Array.from({ length: PARTITIONS }, (_, partition) => ({ partition, value })) });
        const run = await waitFor(async () => m.service.inputs.slice(before).find((r) => r.reason === 'request'), 90_000, 'the requested run').catch((err: unknown) => {
          throw new Error(`${String(err)}\n${m.logs.slice(-30).join('\n')}`);
        });
        expect(run.request).toEqual({ search });
        // The whole trace: the 40 VMs but one that its trace deletes.
        expect(run.input.vmIds.length).toBe(39);
      }
    } finally {
      await producer.disconnect();
    }
  }, 240_000);
});
