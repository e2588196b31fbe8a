/**
 * The live service as operators run it, against a real broker: records from the future (a host two hours
 * ahead, a 9999-12-31 flow, far-future deleted and tenant messages) are rejected as future_ts and
 * dead-lettered, the watermark stays at the wall-clock present, and a restart from the snapshot keeps it.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServiceInputs, sharedTestKafka, testKafkaClient, uniqueGroup } from '../helpers/kafka.ts';
import { type Assignments, rerun, type Stats } from '../helpers/reliability.ts';
import { getJson, type ServiceProcess, startServiceProcess, waitFor } from '../helpers/service-process.ts';

let kafka: { brokers: string };
const services: ServiceProcess[] = [];

beforeAll(async () => {
  kafka = await sharedTestKafka();
}, 180_000);

afterAll(async () => {
  for (const s of services) await s.stop('SIGKILL');
}, 60_000);

type LiveStats = Stats & { watermark: string | null };
const MIN = 60_000;
const FAR = '9999-12-31T23:59:59Z';

const flow = (ts: number | string, host: string) => ({
  ts,
  src_vm: `vm-${host}`,
  src_host: host,
  src_ip: '10.0.0.1',
  dst_ip: '198.51.100.7',
  src_port: 40_000,
  dst_port: 443,
  protocol: 'tcp',
  bytes: 1000,
  packets: 10,
});

describe('the live service and records from the future', () => {
  it('rejects and dead-letters them, keeps the watermark at the present, and keeps it across a restart', async () => {
    const { topics, env: inputs } = await createServiceInputs(kafka.brokers, 'future');
    const env = {
      ...inputs,
      KAFKA_GROUP_ID: uniqueGroup('future'),
      STATE_DIR: mkdtempSync(join(tmpdir(), 'future-state-')),
      SNAPSHOT_INTERVAL_SECONDS: '1',
    };
    const base = Math.floor((Date.now() - 10 * MIN) / MIN) * MIN;
    const hosts = ['h1', 'h2', 'h3', 'h4'];
    const producer = testKafkaClient(kafka.brokers).producer();
    await producer.connect();
    const send = (topic: string, value: unknown) => producer.send({ topic, messages: [{ value: JSON.stringify(value) }] });
    await send(topics.vm, hosts.map((h) => ({ ts: base, vm_id: `vm-${h}`, tenant_id: 'tenant-a', state: 'active' })));
    await send(topics.tenant, { ts: base, tenant_id: 'tenant-a', name: 'before', deleted: false });
    for (let m = 0; m < 3; m++) {
      await send(topics.flows, hosts.map((h) => flow(base + m * MIN, h)));
      // A hypervisor whose clock runs two hours ahead.
      await send(topics.flows, flow(base + m * MIN + 120 * MIN, 'h5'));
    }
    await send(topics.flows, flow(FAR, 'h1'));
    await send(topics.vm, { ts: FAR, vm_id: 'vm-h1', tenant_id: 'tenant-a', state: 'deleted' });
    await send(topics.tenant, { ts: FAR, tenant_id: 'tenant-a', name: 'pinned', deleted: false });
    await send(topics.tenant, { ts: base + MIN, tenant_id: 'tenant-a', name: 'after', deleted: false });

    const svc = await startServiceProcess(env);
    services.push(svc);
    const stats = await waitFor(
      async () => {
        const { body } = await getJson<LiveStats>(`${svc.url}/v1/stats`);
        // Each input topic is consumed on its own: wait for all three, the far-future deletion included.
        return body.records.flows === 16 && body.records.vm_attributes === 5 && body.records.tenant_attributes === 3 ? body : undefined;
      },
      60_000,
      'the records to be consumed',
    );
    expect(stats.rejected).toEqual({ count: 6, by_reason: { future_ts: 6 } });
    expect(stats.watermark).toBe(new Date(base + 2 * MIN).toISOString());
    const served: Assignments = await rerun(svc.url);
    // Not banned by the far-future deletion; the host with the wrong clock brought no VM.
    expect(Object.keys(served.vm_clusters).sort()).toEqual(['vm-h1', 'vm-h2', 'vm-h3', 'vm-h4']);
    expect(Object.keys(served.tenant_clusters)).toEqual(['tenant-a']);
    const tenant = await getJson<{ attributes?: { name?: string }; name?: string }>(`${svc.url}/v1/tenants/tenant-a`);
    expect(JSON.stringify(tenant.body)).toContain('"after"');

    // Every future_ts reject is in its topic's dead-letter topic with its reason.
    const consumer = testKafkaClient(kafka.brokers).consumer({ groupId: uniqueGroup('future-dlq') });
    await consumer.connect();
    await consumer.subscribe({ topics: [`${topics.flows}.rejected`, `${topics.vm}.rejected`, `${topics.tenant}.rejected`], fromBeginning: true });
    const dead: Array<{ topic: string; reason: string }> = [];
    await consumer.run({
      eachMessage: async ({ topic, message }) => {
        dead.push({ topic, reason: String(message.headers?.reason) });
      },
    });
    await waitFor(async () => (dead.length >= 6 ? true : undefined), 30_000, 'the dead letters');
    await consumer.disconnect();
    const count = (t: string) => dead.filter((d) => d.topic === t && d.reason === 'future_ts').length;
    expect([count(`${topics.flows}.rejected`), count(`${topics.vm}.rejected`), count(`${topics.tenant}.rejected`)]).toEqual([4, 1, 1]);

    // A restart restores the snapshot: the same sane watermark, and the next minute is not too late.
    expect(await svc.stop('SIGTERM')).toBe(0);
    await send(topics.flows, hosts.map((h) => flow(base + 3 * MIN, h)));
    await producer.disconnect();
    const again = await startServiceProcess(env);
    services.push(again);
    const after = await waitFor(
      async () => {
        const { body } = await getJson<LiveStats>(`${again.url}/v1/stats`);
        return body.records.flows === 20 ? body : undefined;
      },
      60_000,
      'the records after the restart',
    );
    expect(after.rejected).toEqual({ count: 6, by_reason: { future_ts: 6 } });
    expect(after.watermark).toBe(new Date(base + 3 * MIN).toISOString());
    expect(again.output()).not.toMatch(/skipping the snapshot/);
    expect(await again.stop('SIGTERM')).toBe(0);
  }, 240_000);
});
