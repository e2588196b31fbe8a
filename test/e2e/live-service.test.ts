/**
 * The service as operators run it, against a real Kafka broker: `npm run produce` streams a fixture in,
 * the service consumes it, and its REST API must agree with `npm run replay` on the same trace.
 * The flows and VM attributes topics have 3 partitions, produced before the service starts: a backlog of
 * 45 minutes of event time read a partition's stretch at a time, which one watermark for the reader judged
 * 38,822 of its records too_late (docs/event-time.md, "Several input partitions").
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import { adjustedRandIndex } from '../../src/evaluation/metrics.ts';
import { replayTrace } from '../../src/replay/replay.ts';
import { createServiceInputs, sharedTestKafka, testKafkaClient, uniqueGroup } from '../helpers/kafka.ts';
import { rerun, type Stats } from '../helpers/reliability.ts';
import { getJson, type ServiceProcess, startServiceProcess, waitFor } from '../helpers/service-process.ts';
import { compiled } from '../helpers/build.ts';

let kafka: { brokers: string };
const FIVE_MINUTES = 5 * 60_000;
const INPUT_PARTITIONS = 3;
const services: ServiceProcess[] = [];

beforeAll(async () => {
  kafka = await sharedTestKafka();
}, 180_000);

afterAll(async () => {
  for (const s of services) await s.stop('SIGKILL');
}, 60_000);

describe('the live service over Kafka', () => {
  it('consumes a produced fixture, serves the clusters replay finds, dead-letters bad records and resumes from committed offsets', async () => {
    const { topics, env: inputs } = await createServiceInputs(kafka.brokers, 'live', INPUT_PARTITIONS);
    const env = { ...inputs, KAFKA_GROUP_ID: uniqueGroup('live') };
    await promisify(execFile)(process.execPath, [await compiled('src/cli/produce.ts'), 'fixtures/small.jsonl.gz'], {
      env: { ...process.env, ...env },
      maxBuffer: 1 << 24,
    });

    const svc = await startServiceProcess(env);
    services.push(svc);
    const stats = await waitFor(
      async () => {
        const { body } = await getJson<Stats>(`${svc.url}/v1/stats`);
        return body.records.flows === 70_578 && body.records.vm_attributes === 3_210 && body.records.tenant_attributes === 68 ? body : undefined;
      },
      90_000,
      'the fixture to be consumed',
    );
    // Ticks the watermark passed while a run was in flight are caught up when it ends: with no wall-clock
    // trigger, the latest run still comes to describe the last tick of the backlog, by itself.
    const { body: now } = await getJson<{ watermark: string }>(`${svc.url}/v1/stats`);
    const lastTick = Math.floor(Date.parse(now.watermark) / FIVE_MINUTES) * FIVE_MINUTES;
    expect(new Date(lastTick).toISOString()).toBe('2026-11-01T00:45:00.000Z');
    await waitFor(
      async () => {
        const { body } = await getJson<{ runs: Array<{ computed_at: string | null }> }>(`${svc.url}/v1/runs`);
        const newest = body.runs[0]?.computed_at;
        return newest != null && Date.parse(newest) >= lastTick ? true : undefined;
      },
      30_000,
      'a run at the backlog\'s last tick',
    );
    const served = await rerun(svc.url);

    const defaults = PipelineOptions.parse({});
    const { result } = await replayTrace('fixtures/small.jsonl.gz', { pipeline: toPipelineConfig(defaults), run: toRunOptions(defaults) });
    // The replay's too_late records are the trace's deliberately late ones (600 s and more behind).
    expect(result.rejected.by_reason.too_late).toBe(49);
    expect(stats.rejected.by_reason.too_late).toBe(result.rejected.by_reason.too_late);
    const ids = Object.keys(result.vm_clusters).sort();
    expect(Object.keys(served.vm_clusters).sort()).toEqual(ids);
    expect(Object.keys(served.tenant_clusters).sort()).toEqual(Object.keys(result.tenant_clusters).sort());
    const vmAri = adjustedRandIndex(
      ids.map((id) => result.vm_clusters[id]!),
      ids.map((id) => served.vm_clusters[id]!),
    );
    const tenants = Object.keys(result.tenant_clusters).sort();
    const tenantAri = adjustedRandIndex(
      tenants.map((id) => result.tenant_clusters[id]!),
      tenants.map((id) => served.tenant_clusters[id]!),
    );
    // The state does not depend on how Kafka interleaved the three topics, so the clusters are the same.
    expect(vmAri).toBe(1);
    expect(tenantAri).toBe(1);

    // Every record the service rejected is in a dead-letter topic, with its reason.
    const dlqTopics = [`${topics.flows}.rejected`, `${topics.vm}.rejected`, `${topics.tenant}.rejected`];
    const consumer = testKafkaClient(kafka.brokers).consumer({ groupId: uniqueGroup('dlq-check') });
    await consumer.connect();
    const existing = new Set(await testKafkaClient(kafka.brokers).admin().listTopics());
    await consumer.subscribe({ topics: dlqTopics.filter((t) => existing.has(t)), fromBeginning: true });
    const dead: Array<{ reason: string; value: { reason: string; raw: string } }> = [];
    await consumer.run({
      eachMessage: async ({ message }) => {
        dead.push({ reason: String(message.headers?.reason), value: JSON.parse(String(message.value)) });
      },
    });
    await waitFor(async () => (dead.length >= stats.rejected.count ? true : undefined), 30_000, 'the dead letters');
    await consumer.disconnect();
    expect(dead).toHaveLength(stats.rejected.count);
    const byReason: Record<string, number> = {};
    for (const d of dead) {
      expect(d.value.reason).toBe(d.reason);
      byReason[d.reason] = (byReason[d.reason] ?? 0) + 1;
    }
    expect(byReason).toEqual(stats.rejected.by_reason);

    // Graceful stop commits; a new process in the same group reads only what came after.
    expect(await svc.stop('SIGTERM')).toBe(0);
    const producer = testKafkaClient(kafka.brokers).producer();
    await producer.connect();
    const fresh = Array.from({ length: 5 }, (_, i) => ({
      ts: Date.UTC(2026, 10, 1, 1, 0, i),
      src_vm: `after-restart-${i}`,
      src_ip: '10.200.0.1',
      dst_ip: '198.51.100.7',
      src_port: 40_000 + i,
      dst_port: 443,
      protocol: 'tcp',
      bytes: 1000,
      packets: 10,
    }));
    await producer.send({ topic: topics.flows, messages: [{ value: JSON.stringify(fresh) }] });
    await producer.disconnect();
    const again = await startServiceProcess(env);
    services.push(again);
    await waitFor(async () => ((await getJson<Stats>(`${again.url}/v1/stats`)).body.records.flows === 5 ? true : undefined), 60_000, 'the new records');
    await new Promise((r) => setTimeout(r, 1500));
    expect((await getJson<Stats>(`${again.url}/v1/stats`)).body.records.flows).toBe(5);
    expect(await again.stop('SIGTERM')).toBe(0);
  }, 300_000);
});
