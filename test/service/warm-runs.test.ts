/** Warm runs through the service and the worker threads: a search only on drift or on request, stable ids. */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import { ServiceMetrics } from '../../src/observability/service-metrics.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { type ClusteringRun, previousRunOf } from '../../src/runs/clustering-run.ts';
import { ClusterService } from '../../src/service/cluster-service.ts';
import { InlineClusterer, WorkerClusterer } from '../../src/service/clusterer.ts';
import { readTraceChunks } from '../../src/trace/trace-reader.ts';

const opts = PipelineOptions.parse({ reclusterMinutes: 0 });

async function loaded(): Promise<Pipeline> {
  const p = new Pipeline(toPipelineConfig(opts));
  for await (const c of readTraceChunks('fixtures/small.jsonl.gz')) for (const l of c.lines) if (l) p.ingestTraceLine(l, 'x');
  return p;
}

async function requested(service: ClusterService, search: boolean): Promise<ClusteringRun> {
  expect(service.requestRecluster({ search }).started).toBe(true);
  await service.whenIdle();
  return service.latestRun()!;
}

describe('warm runs in the service', () => {
  it('searches first, then fits warm on unchanged data keeping every id, and searches again on request', async () => {
    const service = new ClusterService(await loaded(), new InlineClusterer(), toRunOptions(opts));
    const first = await requested(service, false);
    expect(first.vms.outcome.search).toMatchObject({ searched: true, reason: 'no-previous-run' });
    expect(first.tenants.outcome.search).toMatchObject({ searched: true, reason: 'no-previous-run' });

    const warm = await requested(service, false);
    expect(warm.vms.outcome.search).toMatchObject({ searched: false, reason: 'no-drift', runsSinceSearch: 1, drift: { moved: 0, newRows: 0, lostClusters: 0 } });
    expect(warm.tenants.outcome.search).toMatchObject({ searched: false, reason: 'no-drift' });
    expect(warm.vms.clusterIds).toEqual(first.vms.clusterIds);
    expect(warm.tenants.clusterIds).toEqual(first.tenants.clusterIds);
    expect(warm.vms.outcome.quality.inertia).toBeCloseTo(first.vms.outcome.quality.inertia!, 6);

    const forced = await requested(service, true);
    expect(forced.vms.outcome.search).toMatchObject({ searched: true, reason: 'requested', runsSinceSearch: 0 });
    expect(forced.tenants.outcome.search).toMatchObject({ searched: true, reason: 'requested' });
    expect(forced.vms.clusterIds).toEqual(first.vms.clusterIds);
    expect(forced.vms.outcome.quality).toEqual(first.vms.outcome.quality);

    const history = service.runHistory().map((r) => [r.vms.search?.searched, r.vms.search?.reason, r.tenants.search?.reason]);
    expect(history).toEqual([
      [true, 'no-previous-run', 'no-previous-run'],
      [false, 'no-drift', 'no-drift'],
      [true, 'requested', 'requested'],
    ]);
    expect(service.runHistory()[1]!.changes.vms.moved).toEqual([]);

    const metrics = new ServiceMetrics(new Registry());
    for (const run of [first, warm, forced]) metrics.runCompleted(run);
    const text = await metrics.registry.metrics();
    const line = (labels: string) => text.split('\n').find((l) => l.startsWith(`alcor_run_searches_total{${labels}}`));
    expect(line('side="vm",mode="search",reason="no-previous-run"')).toMatch(/ 1$/);
    expect(line('side="vm",mode="warm",reason="no-drift"')).toMatch(/ 1$/);
    expect(line('side="tenant",mode="search",reason="requested"')).toMatch(/ 1$/);
    await service.close();
  }, 60_000);

  it('gives the inline warm run exactly on the worker threads', async () => {
    const pipeline = await loaded();
    const options = toRunOptions(opts);
    const inline = new InlineClusterer();
    const worker = new WorkerClusterer();
    try {
      const first = await inline.run(pipeline.runInput(), 'run-1', options);
      const previous = previousRunOf(first);
      const a = await worker.run(pipeline.runInput(), 'run-2', options, previous);
      const b = await inline.run(pipeline.runInput(), 'run-2', options, previous);
      expect(a.vms.outcome.search).toMatchObject({ searched: false, reason: 'no-drift' });
      expect(a.vms.outcome.search).toEqual(b.vms.outcome.search);
      expect(a.tenants.outcome.search).toEqual(b.tenants.outcome.search);
      expect(Array.from(a.vms.outcome.labels)).toEqual(Array.from(b.vms.outcome.labels));
      expect(Array.from(a.tenants.outcome.labels)).toEqual(Array.from(b.tenants.outcome.labels));
    } finally {
      await worker.close();
    }
  }, 60_000);
});
