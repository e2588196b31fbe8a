/**
 * Security groups in a scale-out application: the routers write every flow they route once to
 * `<app>-connections`, the leader keeps the connection log from it and learns the groups with each run,
 * and every member serves them from the run's record. They equal the groups one process learns from its
 * own log with the same run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig } from '../../src/config/pipeline-options.ts';
import { TraceGenerator } from '../../src/generator/index.ts';
import { Pipeline, type PipelineConfig } from '../../src/pipeline/pipeline.ts';
import { membershipOf } from '../../src/runs/membership.ts';
import { recommendSecurityGroups } from '../../src/security-groups/recommend.ts';
import { ScaleOutView } from '../../src/topology/view.ts';
import { createServiceInputs, sharedTestKafka, testKafkaClient, uniqueTopic } from '../helpers/kafka.ts';
import { generatedMessages, startTestMember, type TestMember } from '../helpers/members.ts';
import { waitFor } from '../helpers/service-process.ts';

let brokers = '';
const started: TestMember[] = [];

beforeAll(async () => {
  brokers = (await sharedTestKafka()).brokers;
}, 180_000);

afterAll(async () => {
  for (const m of started) await m.stop().catch(() => undefined);
}, 60_000);

describe('security groups on scale-out members', () => {
  it('are learned by the leader from every routed flow and served by every member, as one process learns them', async () => {
    const { topics } = await createServiceInputs(brokers, 'secgroups');
    const defaults = toPipelineConfig(PipelineOptions.parse({}));
    const pipeline: PipelineConfig = {
      ...defaults,
      topics: { flows: topics.flows, vmAttributes: topics.vm, tenantAttributes: topics.tenant },
      future: { ...defaults.future!, wallClock: Date.now },
    };
    const topicOf: Record<string, string> = { 'overlay-flows': topics.flows, 'vm-attributes': topics.vm, 'tenant-attributes': topics.tenant };
    const trace = generatedMessages(new TraceGenerator({ name: 'sg', seed: 7, vms: 60, tenants: 6, minutes: 22 }), topicOf);
    const attributes = trace.filter((m) => m.topic !== topics.flows);
    const flows = trace.filter((m) => m.topic === topics.flows);
    const single = new Pipeline(pipeline);
    for (const [i, m] of [...attributes, ...flows].entries()) {
      single.ingestMessage(m.topic, m.value, `m${i}`);
      if (single.runDue()) single.runInput();
    }
    expect(single.connections.size).toBeGreaterThan(100);

    const topology = { appId: uniqueTopic('secgroups'), partitions: 3, replicationFactor: 1, sessionTimeoutMs: 10_000 };
    const a = await startTestMember(brokers, topology, pipeline);
    const b = await startTestMember(brokers, topology, pipeline);
    started.push(a, b);
    const producer = testKafkaClient(brokers, 'secgroups-producer').producer();
    await producer.connect();
    for (const phase of [attributes, flows])
      for (let i = 0; i < phase.length; i += 50) {
        const slice = phase.slice(i, i + 50);
        for (const topic of new Set(slice.map((m) => m.topic))) await producer.send({ topic, messages: slice.filter((m) => m.topic === topic).map((m) => ({ value: m.value })) });
      }
    await producer.disconnect();
    await waitFor(async () => (a.member.status().records.flows === single.recordsIn.flows ? true : undefined), 90_000, 'the flows routed');
    const leader = await waitFor(async () => [a, b].find((m) => m.member.status().leader && m.member.notReadyReason() === null), 60_000, 'a leader ready');
    const other = leader === a ? b : a;
    const runs = leader.service.runHistory().length;
    leader.member.requestRun(false);
    await waitFor(async () => (leader.service.runHistory().length > runs && leader.service.runHistory().at(-1)?.reason === 'request' && leader.service.runInProgress() === null ? true : undefined), 90_000, 'the requested run').catch((err: unknown) => {
      throw new Error(`${String(err)}\n${leader.logs.slice(-20).join('\n')}`);
    });
    const run = leader.service.latestRun()!;
    // Learned from the one process's connection log with the run the members serve.
    const expected = recommendSecurityGroups(membershipOf(run), single.connections).document;
    expect(expected.tenants.length).toBeGreaterThan(1);
    expect(expected.summary.rules).toBeGreaterThan(0);
    for (const m of [leader, other]) {
      const served = await waitFor(async () => {
        const doc = new ScaleOutView(m.service, m.member).securityGroups();
        return doc?.run_id === run.runId ? doc : undefined;
      }, 60_000, 'the run\'s security groups served');
      expect(served).toEqual(expected);
    }
  }, 240_000);
});
