/**
 * Several members of one application, as real processes on the shared test broker: they split the
 * partitions between them, and every member serves the same clusters as the offline replay of the trace.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { produceTrace } from '../../src/kafka/produce-trace.ts';
import { defaultTopics } from '../../src/contract/topics.ts';
import { createServiceInputs, sharedTestKafka, testKafkaClient } from '../helpers/kafka.ts';
import { agreement, featuresOf, SMALL_RECORDS, stats, waitForRecords } from '../helpers/reliability.ts';
import { memberEnv, replayReference, requestedRun } from '../helpers/scale-out.ts';
import { getJson, type ServiceProcess, startServiceProcess, waitFor } from '../helpers/service-process.ts';

let kafka: { brokers: string };
const processes: ServiceProcess[] = [];

beforeAll(async () => {
  kafka = await sharedTestKafka();
}, 180_000);

afterAll(async () => {
  for (const p of processes) await p.stop('SIGKILL');
}, 60_000);

/** Every member's whole log, for whoever reads a failure: test-output/scale-out/<test>-member-<i>.log. */
function keepLogs(test: string, members: () => ServiceProcess[]): void {
  mkdirSync('test-output/scale-out', { recursive: true });
  for (const [i, m] of members().entries()) writeFileSync(`test-output/scale-out/${test}-member-${i}.log`, m.output());
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.split(' ')[1]);
}

describe('three members of one application', () => {
  it('share the partitions, and each serves the offline replay\'s clusters and features', async ({ onTestFailed }) => {
    const { topics, env } = await createServiceInputs(kafka.brokers, 'scale3');
    const member = memberEnv(env, 'scale3');
    const members = await Promise.all([0, 1, 2].map(() => startServiceProcess(member)));
    processes.push(...members);
    onTestFailed(() => keepLogs('three', () => members));
    const reference = replayReference();
    await produceTrace(
      'fixtures/small.jsonl.gz',
      { topicMap: { [defaultTopics.flows]: topics.flows, [defaultTopics.vmAttributes]: topics.vm, [defaultTopics.tenantAttributes]: topics.tenant } },
      testKafkaClient(kafka.brokers, 'scale3-producer'),
    );
    for (const m of members) await waitForRecords(m.url, SMALL_RECORDS, 150_000);
    const served = await requestedRun(members);
    const expected = await reference;
    for (const s of served) {
      expect(s.run_id).toBe(served[0]!.run_id);
      expect(s.vm_clusters).toEqual(served[0]!.vm_clusters);
      expect(agreement(s.vm_clusters, expected.vmClusters)).toBe(1);
      expect(agreement(s.tenant_clusters, expected.tenantClusters)).toBe(1);
    }
    const vmIds = Object.keys(expected.vmClusters).sort();
    for (const m of members) expect(await featuresOf(m.url, vmIds)).toEqual(expected.features);
    // Six partitions over three members, one leader.
    const owned = await Promise.all(members.map((m) => metric(m.url, 'alcor_scale_out_partitions_owned')));
    expect(owned.reduce((a, b) => a + b, 0)).toBe(6);
    const leaders = await Promise.all(members.map((m) => metric(m.url, 'alcor_scale_out_leader')));
    expect(leaders.reduce((a, b) => a + b, 0)).toBe(1);
  }, 300_000);
});

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
