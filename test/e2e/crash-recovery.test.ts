/**
 * kill -9 in the middle of a stream, restart: the service resumes from its latest snapshot and the Kafka
 * offsets stored with it, so that its final state equals that of a service that was never interrupted —
 * every record applied exactly once, the same features for every VM, the same clusters.
 */
import { readdir } from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { produceTrace } from '../../src/kafka/produce-trace.ts';
import { defaultTopics } from '../../src/contract/topics.ts';
import { createServiceInputs, sharedTestKafka, testKafkaClient, uniqueGroup } from '../helpers/kafka.ts';
import { agreement, featuresOf, rerun, SMALL_RECORDS, stats, waitForRecords, writeReliabilityReport } from '../helpers/reliability.ts';
import { type ServiceProcess, startServiceProcess, waitFor } from '../helpers/service-process.ts';

let kafka: { brokers: string };
const services: ServiceProcess[] = [];

beforeAll(async () => {
  kafka = await sharedTestKafka();
}, 180_000);

afterAll(async () => {
  for (const s of services) await s.stop('SIGKILL');
}, 60_000);

describe('crash recovery from snapshots', () => {
  it('after kill -9 mid-stream and a restart, applies every record once and ends in the state of an uninterrupted run', async () => {
    const { topics, env: inputs } = await createServiceInputs(kafka.brokers, 'crash');
    const base = inputs;
    const crashing = { ...base, KAFKA_GROUP_ID: uniqueGroup('crash'), STATE_DIR: mkdtempSync(join(tmpdir(), 'crash-state-')), SNAPSHOT_INTERVAL_SECONDS: '0.5', LOG_LEVEL: 'info' };
    const snapshotDir = join(crashing.STATE_DIR, 'snapshots');

    // The reference: the same topics read by a service that is never interrupted (and takes no snapshots),
    // started beside the crashing one so that its start and its reading overlap the crash and the restart.
    const referenceStarted = startServiceProcess({ ...base, KAFKA_GROUP_ID: uniqueGroup('uninterrupted'), SNAPSHOT_INTERVAL_SECONDS: '0' });
    referenceStarted.then((s) => services.push(s), () => undefined);
    // The stream takes ~6 s, so the kill lands in the middle of it.
    let first = await startServiceProcess(crashing);
    services.push(first);
    const produced = produceTrace(
      'fixtures/small.jsonl.gz',
      { rate: 12_000, topicMap: { [defaultTopics.flows]: topics.flows, [defaultTopics.vmAttributes]: topics.vm, [defaultTopics.tenantAttributes]: topics.tenant } },
      testKafkaClient(kafka.brokers, 'crash-producer'),
    );
    const atKill = await waitFor(
      async () => {
        const s = await stats(first.url);
        const snapshots = (await readdir(snapshotDir).catch(() => [])).filter((f) => f.endsWith('.bin'));
        return s.records.flows >= 20_000 && snapshots.length > 0 ? s : undefined;
      },
      60_000,
      'a snapshot and 20,000 flows applied',
    );
    expect(await first.stop('SIGKILL')).toBe(null);
    const producedResult = await produced;
    expect(producedResult.records).toBeGreaterThan(SMALL_RECORDS.flows);

    first = await startServiceProcess(crashing);
    services.push(first);
    const afterRestart = await waitForRecords(first.url, SMALL_RECORDS, 90_000);
    expect(first.output()).not.toMatch(/skipping the snapshot/);
    // It resumed from a snapshot (not from offset 0 with empty windows, which would also end right).
    const restoredLine = first.output().split('\n').find((l) => l.includes('restored the state from a snapshot'));
    if (restoredLine === undefined) throw new Error(`no snapshot restored:\n${first.output()}`);
    const restoredFlows = (JSON.parse(restoredLine) as { offsets: Array<{ topic: string; next: string }> }).offsets.find((o) => o.topic === topics.flows);
    expect(Number(restoredFlows?.next)).toBeGreaterThan(0);

    const reference = await referenceStarted;
    const expected = await waitForRecords(reference.url, SMALL_RECORDS, 90_000);
    // A little longer: nothing more may arrive (records counted twice would show up here).
    await new Promise((r) => setTimeout(r, 1500));
    expect((await stats(first.url)).records).toEqual(expected.records);
    expect(afterRestart.rejected).toEqual(expected.rejected);

    const [restarted, uninterrupted] = await Promise.all([rerun(first.url), rerun(reference.url)]);
    const vmIds = Object.keys(uninterrupted.vm_clusters).sort();
    expect(await featuresOf(first.url, vmIds)).toEqual(await featuresOf(reference.url, vmIds));
    const vmAri = agreement(restarted.vm_clusters, uninterrupted.vm_clusters);
    const tenantAri = agreement(restarted.tenant_clusters, uninterrupted.tenant_clusters);
    expect(vmAri).toBe(1);
    expect(tenantAri).toBe(1);

    await writeReliabilityReport('kill-9', {
      produced: { lines: producedResult.lines, records: producedResult.records },
      applied_before_kill: atKill.records,
      applied_after_restart: afterRestart.records,
      applied_uninterrupted: expected.records,
      rejected_after_restart: afterRestart.rejected.count,
      rejected_uninterrupted: expected.rejected.count,
      vms_compared: vmIds.length,
      vm_ari: vmAri,
      tenant_ari: tenantAri,
    });
    expect(await first.stop('SIGTERM')).toBe(0);
    expect(await reference.stop('SIGTERM')).toBe(0);
  }, 300_000);
});
