/**
 * Regression test of the watermark per input partition (docs/event-time.md, "Several input partitions"):
 * a backlog longer than the allowed lateness, spread over 3 flow partitions and produced before the service
 * starts, is read a partition's stretch at a time. With one watermark per reader, the first stretch moved it
 * past the other partitions' records (40,049 of 73,856 too_late); the service must reject what the offline
 * replay of the same trace (one ordered file) rejects, and serve the same clusters.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import { replayTrace } from '../../src/replay/replay.ts';
import { compiled } from '../helpers/build.ts';
import { createServiceInputs, sharedTestKafka, uniqueGroup } from '../helpers/kafka.ts';
import { agreement, rerun, SMALL_RECORDS, waitForRecords } from '../helpers/reliability.ts';
import { type ServiceProcess, startServiceProcess } from '../helpers/service-process.ts';

let kafka: { brokers: string };
const services: ServiceProcess[] = [];

beforeAll(async () => {
  kafka = await sharedTestKafka();
}, 180_000);

afterAll(async () => {
  for (const s of services) await s.stop('SIGKILL');
}, 60_000);

describe('a backlog on several input partitions', () => {
  it('is judged as the replay of the same trace judges it: the same too_late rejects and the same clusters', async () => {
    const { env: inputs } = await createServiceInputs(kafka.brokers, 'backlog', 3);
    const env = { ...inputs, KAFKA_GROUP_ID: uniqueGroup('backlog') };
    // Produced whole before the service starts: 45 minutes of event time against 5 of allowed lateness.
    await promisify(execFile)(process.execPath, [await compiled('src/cli/produce.ts'), 'fixtures/small.jsonl.gz'], {
      env: { ...process.env, ...env },
      maxBuffer: 1 << 24,
    });
    const svc = await startServiceProcess(env);
    services.push(svc);
    const stats = await waitForRecords(svc.url, SMALL_RECORDS, 120_000);
    const served = await rerun(svc.url);

    const defaults = PipelineOptions.parse({});
    const { result } = await replayTrace('fixtures/small.jsonl.gz', { pipeline: toPipelineConfig(defaults), run: toRunOptions(defaults) });
    // The replay's too_late records are its deliberately late ones (600 s and more behind); on main the
    // service rejected 40,049 here.
    expect(result.rejected.by_reason.too_late).toBe(49);
    expect(stats.rejected.by_reason.too_late).toBe(result.rejected.by_reason.too_late);
    expect(agreement(result.vm_clusters, served.vm_clusters)).toBe(1);
    expect(agreement(result.tenant_clusters, served.tenant_clusters)).toBe(1);
    expect(await svc.stop('SIGTERM')).toBe(0);
  }, 300_000);
});
