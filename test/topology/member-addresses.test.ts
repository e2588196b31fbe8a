/**
 * Issue 14's "travels with the state partitions": address-only flows routed by a member that never saw the
 * VMs' attributes (they were routed by another member, since stopped) are attributed from the shared
 * address table, and the run's input is exactly one process's over the same messages. Every member serves
 * the run's VMs with their attributes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TraceGenerator } from '../../src/generator/index.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { sharedTestKafka } from '../helpers/kafka.ts';
import { ScaleOutView } from '../../src/topology/view.ts';
import { comparableRunInput, generatedMessages, startTestMember, type TestMember } from '../helpers/members.ts';
import { type InProcessApp, inProcessApp } from '../helpers/scale-out.ts';
import { waitFor } from '../helpers/service-process.ts';

let brokers = '';
const started: TestMember[] = [];
let app: InProcessApp | undefined;

beforeAll(async () => {
  brokers = (await sharedTestKafka()).brokers;
}, 180_000);

afterAll(async () => {
  for (const m of started) await m.stop().catch(() => undefined);
  await app?.close();
}, 60_000);

describe('the shared address table', () => {
  it('attributes address-only flows on a member that never routed the VMs\' attributes, as one process does', async () => {
    app = await inProcessApp(brokers, 'addrtable', 3, { hostAttributes: true });
    const { topics, topology, pipeline, topicOf, send } = app;
    const hostTopic = app.hostTopic!;
    // Flows that carry only addresses and the VNI, every VPC reusing the same addresses.
    const trace = generatedMessages(new TraceGenerator({ name: 'addr', seed: 31, vms: 60, tenants: 6, minutes: 22, addresses: 'shared', addressOnly: true }), topicOf);
    // Every host's capacity, one of them announced twice (the newer wins): placement advice in member mode.
    const hostIds = [...new Set(trace.flatMap((m) => [...m.value.matchAll(/"host_id":"([^"]+)"/g)].map((x) => x[1]!)))].sort();
    expect(hostIds.length).toBeGreaterThan(3);
    const T0 = Date.UTC(2026, 10, 1);
    const hosts = hostIds.map((id, i) => ({ topic: hostTopic, value: JSON.stringify({ ts: T0, host_id: id, vcpus: 32 + i, memory_mb: 131072, labels: { rack: `r${i % 2}`, zone: 'az1' } }) }));
    hosts.push({ topic: hostTopic, value: JSON.stringify({ ts: T0 + 60_000, host_id: hostIds[0], vcpus: 96, memory_mb: 393216 }) });
    const attributes = [...trace.filter((m) => m.topic !== topics.flows), ...hosts];
    const flows = trace.filter((m) => m.topic === topics.flows);

    // One process over the same messages in the same order: the attributes, then the flows.
    const single = new Pipeline(pipeline);
    for (const [i, m] of [...attributes, ...flows].entries()) {
      single.ingestMessage(m.topic, m.value, `m${i}`);
      if (single.runDue()) single.runInput();
    }
    // One process holds address-only flows with an unknown private end for attributes that may still come
    // (docs/exporters.md); a member's router routes them at once (docs/scale-out.md). No attributes come
    // after these flows: once the process settles what it held, both have applied the same flows.
    expect(single.held.size).toBeGreaterThan(0);
    single.releaseHeld();
    const expected = single.runInput();
    expect(single.addresses.counters.endsByAddress).toBeGreaterThan(1000);

    // Member A routes the attributes, then stops: what it learnt lives on only in <app>-addresses.
    const a = await startTestMember(brokers, topology, pipeline, { hostAttributesTopic: hostTopic });
    started.push(a);
    await send(attributes.filter((m) => m.topic === topics.vm));
    await send(attributes.filter((m) => m.topic === topics.tenant));
    await send(hosts);
    await waitFor(async () => (a.member.status().records.vmAttributes === single.recordsIn.vmAttributes ? true : undefined), 60_000, 'the attributes routed by member A');
    expect(a.member.addressTable.vms).toBeGreaterThan(50);
    await a.stop();

    // Member B starts afresh: its routers learn every claim from the table before they route a flow.
    const b = await startTestMember(brokers, topology, pipeline, { hostAttributesTopic: hostTopic });
    started.push(b);
    expect(b.member.addressTable.recordsRead).toBeGreaterThan(0);
    await send(flows);
    await waitFor(async () => (b.member.status().records.flows === single.recordsIn.flows ? true : undefined), 60_000, 'the flows routed by member B');
    await waitFor(async () => (b.member.notReadyReason() === null ? true : undefined), 60_000, 'member B ready');
    b.member.requestRun(false);
    const run = await waitFor(async () => b.service.inputs.find((r) => r.reason === 'request'), 60_000, 'the requested run').catch((err: unknown) => {
      throw new Error(`${String(err)}\n${b.logs.slice(-30).join('\n')}`);
    });
    expect(b.member.status().rejected).toEqual(single.rejections.summary());
    expect(b.member.addressTable.map.counters.endsByAddress).toBe(single.addresses.counters.endsByAddress);
    expect(b.member.addressTable.map.counters.unattributed).toEqual(single.addresses.counters.unattributed);
    expect(comparableRunInput(run.input)).toEqual(comparableRunInput(expected));
    // The hosts' capacities reached the leader through <app>-hosts, as one process holds them.
    expect(run.input.placement?.hostCapacity).toEqual(expected.placement?.hostCapacity);
    expect(run.input.placement?.hostCapacity.find(([id]) => id === hostIds[0])?.[1]).toEqual({ vcpus: 96, memoryMb: 393216 });
    expect(run.input.placement?.vmHosts).toEqual(expected.placement?.vmHosts);

    // /v1/vms/{id} has the VM's attributes on the leader that ran it, and on a member that only read the run.
    await waitFor(async () => (b.service.runHistory().some((r) => r.reason === 'request') && b.service.runInProgress() === null ? true : undefined), 60_000, 'the run completed');
    const c = await startTestMember(brokers, topology, pipeline);
    started.push(c);
    await waitFor(async () => (c.service.latestRun()?.runId === b.service.latestRun()?.runId ? true : undefined), 60_000, 'the run read by member C');
    const ids = expected.vmIds;
    for (const m of [b, c]) {
      const view = new ScaleOutView(m.service, m.member);
      for (const id of ids) expect(view.vm(id)?.attributes).toEqual(single.fleet.vms.get(id)?.attributes);
    }
    expect(new ScaleOutView(c.service, c.member).vm(ids[0]!)?.attributes?.ip).toMatch(/^10\./);
  }, 180_000);
});
