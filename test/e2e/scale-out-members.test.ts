/**
 * Several members of one application, as real processes on the shared test broker: they split the
 * partitions between them, the input's as well as the by-VM topic's (so each routes part of the input, in
 * routers of their own event time), and every member serves the same clusters as the offline replay of the
 * trace. (Members that die and join, over inputs of one partition each: scale-out-failover.test.ts.)
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

/** Of the flows and the VM attributes: with one tenants' partition, 7 input partitions over 3 members. */
const INPUT_PARTITIONS = 3;

describe('three members of one application', () => {
  it('share the partitions, the input\'s too, and each serves the offline replay\'s clusters and features', async ({ onTestFailed }) => {
    app = await memberProcesses(kafka.brokers, 'scale3', 3, INPUT_PARTITIONS);
    const { members } = app;
    onTestFailed(() => app?.keepLogs());
    const reference = replayReference();
    const { byTopic } = await app.produce();
    // The trace's lines of other topics go to topics of their own, that no member reads.
    const messages = Object.values(app.topics).reduce((n, topic) => n + (byTopic[topic] ?? 0), 0);
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
    // Every member routed part of the input, and each message once (a transaction committed per batch).
    const routed = await Promise.all(members.map((m) => metric(m.url, 'alcor_scale_out_routed_messages_total')));
    for (const r of routed) expect(r).toBeGreaterThan(0);
    expect(routed.reduce((a, b) => a + b, 0)).toBe(messages);
  }, 300_000);
});
