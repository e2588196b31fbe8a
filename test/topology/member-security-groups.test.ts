/**
 * Security groups in a scale-out application: the routers write every flow they route once to
 * `<app>-connections`, the leader keeps the connection log from it and learns the groups with each run,
 * and every member serves them from the run's record. They equal the groups one process learns from its
 * own log with the same run.
 */
import { describe, expect, it } from 'vitest';
import { TraceGenerator } from '../../src/generator/index.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { membershipOf } from '../../src/runs/membership.ts';
import { recommendSecurityGroups } from '../../src/security-groups/recommend.ts';
import { ScaleOutView } from '../../src/topology/view.ts';
import { generatedMessages } from '../helpers/members.ts';
import { memberTestFile } from '../helpers/scale-out.ts';
import { waitFor } from '../helpers/service-process.ts';

const file = memberTestFile();

describe('security groups on scale-out members', () => {
  it('are learned by the leader from every routed flow and served by every member, as one process learns them', async () => {
    const app = await file.app('secgroups', 3);
    const { topics, topology, pipeline, topicOf, send } = app;
    const trace = generatedMessages(new TraceGenerator({ name: 'sg', seed: 7, vms: 60, tenants: 6, minutes: 22 }), topicOf);
    const attributes = trace.filter((m) => m.topic !== topics.flows);
    const flows = trace.filter((m) => m.topic === topics.flows);
    const single = new Pipeline(pipeline);
    for (const [i, m] of [...attributes, ...flows].entries()) {
      single.ingestMessage(m.topic, m.value, `m${i}`);
      if (single.runDue()) single.runInput();
    }
    expect(single.connections.size).toBeGreaterThan(100);

    const a = await file.member(topology, pipeline);
    const b = await file.member(topology, pipeline);
    for (const phase of [attributes, flows]) await send(phase);
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
