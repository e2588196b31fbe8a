/**
 * Members of one application that die (`kill -9`, the leader too) and join in the middle of the stream, as
 * real processes on the shared test broker: nothing is lost or counted twice, and run and cluster ids go on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { produceTrace } from '../../src/kafka/produce-trace.ts';
import { defaultTopics } from '../../src/contract/topics.ts';
import { createServiceInputs, sharedTestKafka, testKafkaClient } from '../helpers/kafka.ts';
import { agreement, featuresOf, SMALL_RECORDS, stats, waitForRecords } from '../helpers/reliability.ts';
import { keepLogs, memberEnv, metric, replayReference, requestedRun } from '../helpers/scale-out.ts';
import { getJson, type ServiceProcess, startServiceProcess, waitFor } from '../helpers/service-process.ts';

let kafka: { brokers: string };
const processes: ServiceProcess[] = [];

beforeAll(async () => {
  kafka = await sharedTestKafka();
}, 180_000);

afterAll(async () => {
  for (const p of processes) await p.stop('SIGKILL');
}, 60_000);

interface RunSummary {
  run_id: string;
  previous_run_id: string | null;
  reason: string;
}

const runNumber = (id: string): number => Number(id.replace(/^run-/, ''));

describe('members that die and join mid-stream', () => {
  it('kill -9 of a member, then of the leader, and a fourth member joining: nothing lost or doubled, run and cluster ids continue', async ({ onTestFailed }) => {
    const { topics, env } = await createServiceInputs(kafka.brokers, 'scalefail');
    const member = memberEnv(env, 'scalefail');
    const members = await Promise.all([0, 1, 2].map(() => startServiceProcess(member)));
    processes.push(...members);
    const everyMember = [...members];
    onTestFailed(() => keepLogs('failover', () => everyMember));
    const reference = replayReference();
    const produced = produceTrace(
      'fixtures/small.jsonl.gz',
      { rate: 4000, topicMap: { [defaultTopics.flows]: topics.flows, [defaultTopics.vmAttributes]: topics.vm, [defaultTopics.tenantAttributes]: topics.tenant } },
      testKafkaClient(kafka.brokers, 'scalefail-producer'),
    );
    const leaderOf = async (alive: ServiceProcess[]): Promise<ServiceProcess | undefined> => {
      for (const m of alive) if ((await metric(m.url, 'alcor_scale_out_leader')) === 1) return m;
      return undefined;
    };
    const flowsAtLeast = (m: ServiceProcess, n: number) =>
      waitFor(async () => ((await stats(m.url)).records.flows >= n ? true : undefined), 90_000, `${n} flows routed`).catch((err: unknown) => {
        throw new Error(`${String(err)}\n${m.output().slice(-4000)}`);
      });

    await flowsAtLeast(members[0]!, 15_000);
    const firstLeader = await waitFor(() => leaderOf(members), 30_000, 'a leader');
    const victim = members.find((m) => m !== firstLeader)!;
    for (const m of members) if (m.child.exitCode !== null) throw new Error(`a member exited with ${m.child.exitCode}:\n${m.output().slice(-5000)}`);
    expect(await victim.stop('SIGKILL')).toBe(null);
    let alive = members.filter((m) => m !== victim);

    await flowsAtLeast(alive[0]!, 40_000);
    // The leader has published runs: the next leader must continue them.
    const before = await waitFor(async () => {
      const { body } = await getJson<{ runs: RunSummary[] }>(`${firstLeader.url}/v1/runs`);
      return body.runs.length > 0 ? body.runs[0] : undefined;
    }, 60_000, 'a published run');
    expect(await firstLeader.stop('SIGKILL')).toBe(null);
    alive = alive.filter((m) => m !== firstLeader);
    const joiner = await startServiceProcess(member);
    processes.push(joiner);
    everyMember.push(joiner);
    alive.push(joiner);

    await produced;
    for (const m of alive) await waitForRecords(m.url, SMALL_RECORDS, 150_000);
    const served = await requestedRun(alive);
    const expected = await reference;
    for (const s of served) {
      expect(s.vm_clusters).toEqual(served[0]!.vm_clusters);
      expect(agreement(s.vm_clusters, expected.vmClusters)).toBe(1);
      expect(agreement(s.tenant_clusters, expected.tenantClusters)).toBe(1);
    }
    const vmIds = Object.keys(expected.vmClusters).sort();
    const got = await featuresOf(joiner.url, vmIds);
    if (JSON.stringify(got) !== JSON.stringify(expected.features)) {
      const logs = [...members, joiner].map((m, i) => `--- ${i}\n${m.output().split('\n').filter((l) => /holding|"level":(40|50)|leader/.test(l)).join('\n')}`);
      console.log(logs.join('\n'), JSON.stringify(await stats(joiner.url)));
    }
    expect(got).toEqual(expected.features);

    // Run ids go on from the dead leader's, and the first run after it was matched against its last one.
    const { body } = await getJson<{ runs: RunSummary[] }>(`${joiner.url}/v1/runs`);
    const ids = body.runs.map((r) => r.run_id);
    expect(ids).toContain(before.run_id);
    const after = body.runs.filter((r) => runNumber(r.run_id) > runNumber(before.run_id)).reverse();
    expect(after.length).toBeGreaterThan(0);
    expect(runNumber(after[0]!.run_id)).toBe(runNumber(before.run_id) + 1);
    expect(after[0]!.previous_run_id).toBe(before.run_id);
    const newLeader = await waitFor(() => leaderOf(alive), 30_000, 'the new leader');
    expect(await metric(newLeader.url, 'alcor_scale_out_leaderships')).toBe(1);
  }, 480_000);
});
