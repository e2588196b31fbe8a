/**
 * The route stage in a worker thread (route-thread.ts, route-worker.ts), on the shared test broker: the
 * worker ended in the middle of the stream (as a crash would end it) is started again by the member, which
 * is not ready meanwhile, and the end result is one process's over the same messages: nothing lost or
 * routed twice, since the route transaction still carries the input offsets.
 */
import { describe, expect, it } from 'vitest';
import { TraceGenerator } from '../../src/generator/index.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { comparableRunInput, generatedMessages, requestedInput } from '../helpers/members.ts';
import { memberTestFile } from '../helpers/scale-out.ts';
import { waitFor } from '../helpers/service-process.ts';

const file = memberTestFile();

describe('the route worker', () => {
  it('ended in the middle of the stream, is started again and the run input equals one process\'s', async () => {
    const { topics, topology, pipeline, topicOf, send } = await file.app('routeworker', 3);
    // Single-record flow messages, so that the stream is many batches long; bad ones among them for the rejects.
    const trace = generatedMessages(new TraceGenerator({ name: 'rw', seed: 12, vms: 60, tenants: 6, minutes: 22 }), topicOf).flatMap((m) => {
      if (m.topic !== topics.flows) return [m];
      const value: unknown = JSON.parse(m.value);
      return (Array.isArray(value) ? value : [value]).map((r) => ({ topic: m.topic, value: JSON.stringify(r) }));
    });
    const flowAt = trace.findIndex((m) => m.topic === topics.flows);
    trace.splice(flowAt + 50, 0, { topic: topics.flows, value: '{"ts":' }, { topic: topics.flows, value: '{"ts":1}' });
    const single = new Pipeline(pipeline);
    for (const [i, m] of trace.entries()) {
      single.ingestMessage(m.topic, m.value, `m${i}`);
      if (single.runDue()) single.runInput();
    }
    const expected = single.runInput();
    // The generator's own malformed records (seed 12) and the two above.
    expect(single.rejections.count).toBe(13);

    const m = await file.member(topology, pipeline, { routeWorker: true });
    const thread = m.member.routeThread;
    if (thread === null) throw new Error('the member runs no route worker');
    await waitFor(async () => (m.member.notReadyReason() === null ? true : undefined), 60_000, 'the member ready');
    const sending = send(trace);
    await waitFor(async () => (m.member.status().routedMessages > 0 ? true : undefined), 60_000, 'a first batch routed by the worker');
    const routedBefore = m.member.status().routedMessages;
    await thread.terminate();
    // Not ready from the moment the worker ended until a new one has joined the route group.
    await waitFor(async () => (/joining the consumer groups/.test(m.member.notReadyReason() ?? '') ? true : undefined), 5000, 'the member not ready');
    await sending;
    expect(routedBefore).toBeLessThan(trace.length);
    // Every input partition, not only the flows': each has a router of its own, and the VM attributes' may
    // come back later than the flows' (the ended worker's group member holds what it was assigned until its
    // session expires). Asserted after the flows alone, they were once 56 of 217 (load 33-39), and a run
    // requested then is given the VM attributes routed so far, not one process's.
    const all = single.recordsIn;
    const routedAll = ({ flows, vmAttributes, tenantAttributes }: typeof all) => flows === all.flows && vmAttributes === all.vmAttributes && tenantAttributes === all.tenantAttributes;
    const sent = performance.now();
    let atFlows: { s: number; records: typeof all } | null = null;
    await waitFor(async () => {
      const { records } = m.member.status();
      if (atFlows === null && records.flows === all.flows) atFlows = { s: (performance.now() - sent) / 1000, records };
      return routedAll(records) ? true : undefined;
    }, 90_000, 'every record routed').catch((err: unknown) => {
      throw new Error(`${String(err)} ${JSON.stringify(m.member.status().records)} of ${JSON.stringify(all)}\n${m.logs.slice(-30).join('\n')}`);
    });
    // Where the time went (docs/testing.md): the flows' partition against the others'.
    const flowsDone = atFlows as { s: number; records: typeof all } | null;
    console.log(`route-thread test: every flow routed ${flowsDone?.s.toFixed(1)} s after the send (then ${JSON.stringify(flowsDone?.records)}), every record ${((performance.now() - sent) / 1000).toFixed(1)} s`);
    expect(thread.restarts).toBe(1);
    expect(m.member.status().routeWorkerRestarts).toBe(1);
    expect(m.logs.some((l) => l.includes('the route worker ended'))).toBe(true);
    const run = await requestedInput(m, 90_000);
    expect(m.member.status().records).toEqual(single.recordsIn);
    expect(m.member.status().rejected).toEqual(single.rejections.summary());
    expect(comparableRunInput(run)).toEqual(comparableRunInput(expected));
    // The member's live counters run on across the restart: what each worker committed, added up.
    expect(m.member.status().routedMessages).toBeGreaterThanOrEqual(trace.length - routedBefore);
  }, 240_000);
});
