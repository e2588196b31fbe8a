/**
 * Several members of one application, as real processes on the shared test broker: they split the
 * partitions between them, and every member serves the same clusters as the offline replay of the trace.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { produceTrace } from '../../src/kafka/produce-trace.ts';
import { defaultTopics } from '../../src/pipeline/pipeline.ts';
import { createServiceInputs, sharedTestKafka, testKafkaClient } from '../helpers/kafka.ts';
import { agreement, featuresOf, SMALL_RECORDS, waitForRecords } from '../helpers/reliability.ts';
import { memberEnv, replayReference, requestedRun } from '../helpers/scale-out.ts';
import { type ServiceProcess, startServiceProcess } from '../helpers/service-process.ts';

let kafka: { brokers: string };
const processes: ServiceProcess[] = [];

beforeAll(async () => {
  kafka = await sharedTestKafka();
}, 180_000);

afterAll(async () => {
  for (const p of processes) await p.stop('SIGKILL');
}, 60_000);

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.split(' ')[1]);
}

describe('three members of one application', () => {
  it('share the partitions, and each serves the offline replay\'s clusters and features', async () => {
    const { topics, env } = await createServiceInputs(kafka.brokers, 'scale3');
    const member = memberEnv(env, 'scale3');
    const members = await Promise.all([0, 1, 2].map(() => startServiceProcess(member)));
    processes.push(...members);
    const reference = replayReference();
    await produceTrace(
      'fixtures/small.jsonl.gz',
      { topicMap: { [defaultTopics.flows]: topics.flows, [defaultTopics.vmAttributes]: topics.vm, [defaultTopics.tenantAttributes]: topics.tenant } },
      testKafkaClient(kafka.brokers, 'scale3-producer'),
    );
    for (const m of members) await waitForRecords(m.url, SMALL_RECORDS, 90_000);
    const served = await requestedRun(members).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${members.map((m, i) => `--- member ${i}\n${m.output().slice(-6000)}`).join('\n')}`);
    });
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
  }, 180_000);
});
