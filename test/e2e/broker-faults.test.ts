/**
 * Broker outages: a broker that is down when the service starts, and one that restarts in the middle of a
 * stream. The service stays up (not ready meanwhile), reconnects by itself, and ends with every record
 * applied exactly once and the clusters replay finds on the same trace.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import { getFreePorts, type KafkaBroker, startKafkaBroker } from '../../tools/kafka-broker/index.ts';
import { produceTrace } from '../../src/kafka/produce-trace.ts';
import { defaultTopics } from '../../src/contract/topics.ts';
import { replayTrace } from '../../src/replay/replay.ts';
import { createTopics, testKafkaClient, uniqueGroup, uniqueTopic } from '../helpers/kafka.ts';
import { agreement, rerun, SMALL_RECORDS, stats, waitForRecords, writeReliabilityReport } from '../helpers/reliability.ts';
import { type ServiceProcess, startServiceProcess, waitFor } from '../helpers/service-process.ts';

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
}, 60_000);

/** A broker we can stop and start again on the same ports and data. */
async function restartableBroker(): Promise<{ start: () => Promise<KafkaBroker>; stop: () => Promise<void>; brokers: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'kafka-fault-'));
  const [port, controllerPort] = await getFreePorts(2);
  if (port === undefined || controllerPort === undefined) throw new Error('no free ports');
  let current: KafkaBroker | null = null;
  const handle = {
    brokers: `127.0.0.1:${port}`,
    start: async () => {
      current = await startKafkaBroker({ port, controllerPort, dataDir: join(dir, 'data'), logDir: join(dir, 'logs'), readyTimeoutMs: 90_000 });
      return current;
    },
    stop: async () => {
      await current?.stop();
      current = null;
    },
  };
  cleanups.push(async () => {
    // Killed: its data is deleted next (the test's own stop, in the middle of the stream, is the clean one).
    await current?.stop(0);
    current = null;
    await rm(dir, { recursive: true, force: true });
  });
  return handle;
}

function topicsFor(prefix: string): { flows: string; vm: string; tenant: string } {
  return { flows: `${prefix}.flows`, vm: `${prefix}.vms`, tenant: `${prefix}.tenants` };
}

function serviceEnv(brokers: string, topics: ReturnType<typeof topicsFor>): Record<string, string> {
  return {
    KAFKA_BROKERS: brokers,
    KAFKA_GROUP_ID: uniqueGroup('faults'),
    KAFKA_TOPIC_FLOWS: topics.flows,
    KAFKA_TOPIC_VM_ATTRIBUTES: topics.vm,
    KAFKA_TOPIC_TENANT_ATTRIBUTES: topics.tenant,
    RECLUSTER_WALLCLOCK_SECONDS: '0',
    SNAPSHOT_INTERVAL_SECONDS: '1',
  };
}

function topicMap(topics: ReturnType<typeof topicsFor>): Record<string, string> {
  return { [defaultTopics.flows]: topics.flows, [defaultTopics.vmAttributes]: topics.vm, [defaultTopics.tenantAttributes]: topics.tenant };
}

async function readyz(url: string): Promise<number> {
  return (await fetch(`${url}/readyz`)).status;
}

let replayed: Awaited<ReturnType<typeof replayTrace>> | null = null;
async function replayOfSmall(): Promise<Awaited<ReturnType<typeof replayTrace>>> {
  const defaults = PipelineOptions.parse({});
  replayed ??= await replayTrace('fixtures/small.jsonl.gz', { pipeline: toPipelineConfig(defaults), run: toRunOptions(defaults) });
  return replayed;
}

async function track(svc: Promise<ServiceProcess>): Promise<ServiceProcess> {
  const s = await svc;
  cleanups.push(async () => void (await s.stop('SIGKILL')));
  return s;
}

describe('broker faults', () => {
  it('starts while the broker is down, stays alive and not ready, and consumes everything once the broker comes up', async () => {
    const broker = await restartableBroker();
    const topics = topicsFor(uniqueTopic('down-at-start'));
    const svc = await track(startServiceProcess(serviceEnv(broker.brokers, topics)));
    await new Promise((r) => setTimeout(r, 3000));
    expect((await fetch(`${svc.url}/healthz`)).status).toBe(200);
    expect(await readyz(svc.url)).toBe(503);

    await broker.start();
    await createTopics(broker.brokers, Object.values(topics), 1);
    const produced = await produceTrace('fixtures/small.jsonl.gz', { topicMap: topicMap(topics) }, testKafkaClient(broker.brokers, 'fault-producer'));
    const applied = await waitForRecords(svc.url, SMALL_RECORDS, 120_000);

    const { result } = await replayOfSmall();
    const served = await rerun(svc.url);
    await waitFor(async () => ((await readyz(svc.url)) === 200 ? true : undefined), 15_000, 'ready once connected with a run');
    const vmAri = agreement(served.vm_clusters, result.vm_clusters);
    expect(vmAri).toBe(1);
    expect(applied.rejected.count).toBe(expectedRejects(result.rejected, produced));
    await writeReliabilityReport('broker-down-at-start', {
      produced: { lines: produced.lines, records: produced.records },
      applied: applied.records,
      applied_by_replay: SMALL_RECORDS,
      rejected: applied.rejected.count,
      rejected_by_replay: result.rejected.count,
      vm_ari_vs_replay: vmAri,
    });
    expect(await svc.stop('SIGTERM')).toBe(0);
  }, 300_000);

  it('rides out a broker restart in the middle of the stream without losing or doubling a record', async () => {
    const broker = await restartableBroker();
    await broker.start();
    const topics = topicsFor(uniqueTopic('restart'));
    await createTopics(broker.brokers, Object.values(topics), 1);
    const svc = await track(startServiceProcess(serviceEnv(broker.brokers, topics)));

    // The first part of the trace at a pace; the broker stops under the consumer; the rest after the restart.
    const [head, tail] = await splitTrace('fixtures/small.jsonl.gz', 2000);
    const first = await produceTrace(head, { rate: 8000, topicMap: topicMap(topics) }, testKafkaClient(broker.brokers, 'fault-producer'));
    const beforeStop = await stats(svc.url);
    await broker.stop();
    await waitFor(async () => ((await readyz(svc.url)) === 503 ? true : undefined), 60_000, 'not ready while the broker is down');
    expect((await fetch(`${svc.url}/healthz`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 2000));
    await broker.start();
    const second = await produceTrace(tail, { topicMap: topicMap(topics) }, testKafkaClient(broker.brokers, 'fault-producer'));
    const applied = await waitForRecords(svc.url, SMALL_RECORDS, 120_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await stats(svc.url)).records).toEqual(applied.records);
    const { result } = await replayOfSmall();
    expect(applied.rejected.count).toBe(expectedRejects(result.rejected, { invalid: first.invalid + second.invalid, skipped: first.skipped + second.skipped }));
    const served = await rerun(svc.url);
    const vmAri = agreement(served.vm_clusters, result.vm_clusters);
    expect(vmAri).toBe(1);
    await writeReliabilityReport('broker-restart', {
      produced: { lines: first.lines + second.lines, records: first.records + second.records },
      applied_before_stop: beforeStop.records,
      applied: applied.records,
      applied_by_replay: SMALL_RECORDS,
      rejected: applied.rejected.count,
      vm_ari_vs_replay: vmAri,
    });
    expect(await svc.stop('SIGTERM')).toBe(0);
  }, 300_000);
});

/**
 * What the service should reject of what replay rejects: lines that are not a topic + value are never
 * produced, and lines for a topic the service does not read go to a topic of that name, unread.
 */
function expectedRejects(replayed: { count: number; by_reason: Partial<Record<string, number>> }, produced: { invalid: number; skipped: number }): number {
  return replayed.count - produced.invalid - produced.skipped - (replayed.by_reason.unknown_topic ?? 0);
}

/** The trace's first `lines` lines and the rest, as two plain trace files. */
async function splitTrace(path: string, lines: number): Promise<[string, string]> {
  const all = gunzipSync(await readFile(path)).toString('utf8').split('\n').filter((l) => l.length > 0);
  const dir = await mkdtemp(join(tmpdir(), 'trace-split-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const head = join(dir, 'head.jsonl');
  const tail = join(dir, 'tail.jsonl');
  await writeFile(head, `${all.slice(0, lines).join('\n')}\n`);
  await writeFile(tail, `${all.slice(lines).join('\n')}\n`);
  return [head, tail];
}
