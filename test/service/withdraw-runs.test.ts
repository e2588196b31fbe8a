/**
 * ClusterService.withdrawRunsAfter: the runs after a published state are given back, as a scale-out leader
 * does with a run it could not publish (test/topology/member-run-numbers.test.ts on the broker).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { ClusterService } from '../../src/service/cluster-service.ts';
import { InlineClusterer } from '../../src/service/clusterer.ts';
import { readTraceChunks } from '../../src/trace/trace-reader.ts';

const opts = PipelineOptions.parse({ reclusterMinutes: 0 });
const lines: string[] = [];

beforeAll(async () => {
  for await (const c of readTraceChunks('fixtures/small.jsonl.gz')) for (const l of c.lines) if (l) lines.push(l);
});

async function run(service: ClusterService): Promise<string> {
  service.requestRecluster();
  await service.whenIdle();
  return service.latestRun()!.runId;
}

describe('withdrawRunsAfter', () => {
  it('gives back the number, cluster ids and history of the runs after the published state, and the next run takes that number', async () => {
    const service = new ClusterService(new Pipeline(toPipelineConfig(opts)), new InlineClusterer(), toRunOptions(opts), Date.now);
    for (const l of lines) service.ingestTraceLine(l, 'x');
    expect(await run(service)).toBe('run-000001');
    const published = service.exportState();
    expect(await run(service)).toBe('run-000002');
    expect(await run(service)).toBe('run-000003');

    service.withdrawRunsAfter(published);
    expect(service.latestRun()?.runId).toBe('run-000001');
    expect(service.runHistory().map((r) => r.runId)).toEqual(['run-000001']);
    expect(service.exportState()).toEqual(published);
    expect(await run(service)).toBe('run-000002');

    // Nothing published yet: back to a service that never ran.
    service.withdrawRunsAfter(null);
    expect(service.latestRun()).toBe(null);
    expect(service.runHistory()).toEqual([]);
    expect(await run(service)).toBe('run-000001');
  }, 120_000);

  it('refuses while a run is in flight: its number would be given out twice', async () => {
    const service = new ClusterService(new Pipeline(toPipelineConfig(opts)), new InlineClusterer(), toRunOptions(opts), Date.now);
    for (const l of lines) service.ingestTraceLine(l, 'x');
    service.requestRecluster();
    expect(() => service.withdrawRunsAfter(null)).toThrow(/run-000001 is in flight/);
    await service.whenIdle();
  }, 120_000);
});
