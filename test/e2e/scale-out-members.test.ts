/**
 * Several members of one application, as real processes on the shared test broker: they split the
 * partitions between them, and every member serves the same clusters as the offline replay of the trace.
 * (Members that die and join: scale-out-failover.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedTestKafka } from '../helpers/kafka.ts';
import { agreement, featuresOf, SMALL_RECORDS, waitForRecords } from '../helpers/reliability.ts';
import { type MemberProcesses, memberProcesses, metric, replayReference, requestedRun } from '../helpers/scale-out.ts';

let kafka: { brokers: string };
let app: MemberProcesses | undefined;

beforeAll(async () => {
  kafka = await sharedTestKafka();
}, 180_000);

afterAll(async () => {
  await app?.stopAll();
}, 60_000);

describe('three members of one application', () => {
  it('share the partitions, and each serves the offline replay\'s clusters and features', async ({ onTestFailed }) => {
    app = await memberProcesses(kafka.brokers, 'scale3', 3);
    const { members } = app;
    onTestFailed(() => app?.keepLogs());
    const reference = replayReference();
    await app.produce();
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
