/**
 * Offsets that go backwards: the input topics deleted and recreated while the service was down. The
 * snapshot's offsets then point past the end of the new log; resuming from them would skip the new records
 * as "already applied". The service must notice, say so in one line and a metric, and rebuild its state
 * from the start of the input instead.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServiceInputs, createTopics, sharedTestKafka, testKafkaClient, uniqueGroup } from '../helpers/kafka.ts';
import { stats, writeReliabilityReport } from '../helpers/reliability.ts';
import { type ServiceProcess, startServiceProcess, waitFor } from '../helpers/service-process.ts';

let kafka: { brokers: string };
const services: ServiceProcess[] = [];

beforeAll(async () => {
  kafka = await sharedTestKafka();
}, 180_000);

afterAll(async () => {
  for (const s of services) await s.stop('SIGKILL');
}, 60_000);

const BASE_TS = Date.now() - 10 * 60_000;

/** `messages` messages of `perMessage` flows each, from VMs named `<prefix>-<n>`. */
async function produceFlows(topic: string, prefix: string, messages: number, perMessage: number): Promise<void> {
  const producer = testKafkaClient(kafka.brokers, 'rewind-producer').producer();
  await producer.connect();
  try {
    for (let m = 0; m < messages; m++) {
      const records = Array.from({ length: perMessage }, (_, i) => ({
        ts: new Date(BASE_TS + (m * perMessage + i) * 1000).toISOString(),
        src_vm: `${prefix}-${i % 4}`,
        dst_vm: `${prefix}-${(i + 1) % 4}`,
        src_ip: '10.0.0.1',
        dst_ip: '10.0.0.2',
        src_port: 40_000 + i,
        dst_port: 443,
        protocol: 'tcp',
        bytes: 1000,
        packets: 2,
      }));
      await producer.send({ topic, messages: [{ value: JSON.stringify(records) }] });
    }
  } finally {
    await producer.disconnect();
  }
}

async function recreateTopics(topics: string[]): Promise<void> {
  const admin = testKafkaClient(kafka.brokers, 'rewind-admin').admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics });
    // Deletion completes in the background: creating the same name fails until it has.
    await waitFor(
      async () => {
        const left = (await admin.listTopics()).filter((t) => topics.includes(t));
        return left.length === 0 ? true : undefined;
      },
      30_000,
      'the topics to be deleted',
    );
  } finally {
    await admin.disconnect();
  }
  for (let attempt = 1; ; attempt++) {
    try {
      await createTopics(kafka.brokers, topics, 1);
      return;
    } catch (err) {
      if (attempt >= 20) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

describe('Kafka offsets that go backwards', () => {
  it('a snapshot whose offsets lie beyond the end of recreated topics: logged, counted, state rebuilt from the input, no record skipped', async () => {
    const { topics, env: inputs } = await createServiceInputs(kafka.brokers, 'rewind');
    const env = {
      ...inputs,
      KAFKA_GROUP_ID: uniqueGroup('rewind'),
      STATE_DIR: mkdtempSync(join(tmpdir(), 'rewind-state-')),
      SNAPSHOT_INTERVAL_SECONDS: '0.5',
      LOG_LEVEL: 'info',
    };

    await produceFlows(topics.flows, 'old', 6, 10);
    const first = await startServiceProcess(env);
    services.push(first);
    await waitFor(async () => ((await stats(first.url)).records.flows === 60 ? true : undefined), 60_000, '60 flows applied');
    // SIGTERM: a final snapshot at offset 6 of the flows topic, committed.
    expect(await first.stop('SIGTERM')).toBe(0);
    expect(readdirSync(join(env.STATE_DIR, 'snapshots')).filter((f) => f.endsWith('.bin')).length).toBeGreaterThan(0);

    await recreateTopics(Object.values(topics));
    await produceFlows(topics.flows, 'new', 2, 10);

    const restartedAt = Date.now();
    const second = await startServiceProcess(env);
    services.push(second);
    // Every record of the new log, and only those: the old state is not kept on top of them.
    const after = await waitFor(
      async () => {
        const s = await stats(second.url);
        return s.records.flows === 20 ? s : undefined;
      },
      30_000,
      'the 20 flows of the recreated topic to be applied',
    );
    const rebuiltMs = Date.now() - restartedAt;
    expect(after.rejected.count).toBe(0);
    const lines = second.output().split('\n');
    const rewind = lines.filter((l) => l.includes('no longer fit the Kafka log'));
    expect(rewind).toHaveLength(1);
    expect(rewind[0]).toContain(`beyond_end: ${topics.flows}/0: snapshot offset 6, log now 0..2`);
    expect(rewind[0]).toContain('rebuilding the state from the start of the input topics');
    const metrics = await (await fetch(`${second.url}/metrics`)).text();
    expect(metrics).toContain('alcor_kafka_offset_mismatches_total{reason="beyond_end"} 1');
    const vms = (await (await fetch(`${second.url}/v1/vms/old-0`)).json()) as { error?: string };
    expect(vms.error).toBe('unknown_vm');
    const detectedMs = (JSON.parse(rewind[0]!) as { time: number }).time - restartedAt;
    await writeReliabilityReport('offset-rewind', {
      snapshot_offset: 6,
      log_after_recreation: '0..2',
      detected_ms_after_start: detectedMs,
      rebuilt_ms_after_start: rebuiltMs,
      flows_applied_after_restart: after.records.flows,
    });
    expect(await second.stop('SIGTERM')).toBe(0);
  }, 240_000);
});
