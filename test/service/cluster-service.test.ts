import { describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import type { ClusteringRun } from '../../src/runs/clustering-run.ts';
import { ClusterService } from '../../src/service/cluster-service.ts';
import { InlineClusterer, WorkerClusterer } from '../../src/service/clusterer.ts';
import { readTraceChunks } from '../../src/trace/trace-reader.ts';

const opts = PipelineOptions.parse({ reclusterMinutes: 0 });

async function loaded(): Promise<Pipeline> {
  const p = new Pipeline(toPipelineConfig(opts));
  for await (const c of readTraceChunks('fixtures/small.jsonl.gz')) for (const l of c.lines) if (l) p.ingestTraceLine(l, 'x');
  return p;
}

describe('ClusterService', () => {
  it('runs clustering in a worker thread with the same result as inline, keeping the event loop free', async () => {
    const pipeline = await loaded();
    const worker = new ClusterService(pipeline, new WorkerClusterer(), toRunOptions(opts));
    const inline = new ClusterService(pipeline, new InlineClusterer(), toRunOptions(opts));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = worker.requestRecluster();
    expect(started).toEqual({ runId: 'run-000001', started: true });
    // A second request while the first is in flight does not start another run.
    expect(worker.requestRecluster()).toEqual({ runId: 'run-000001', started: false });
    expect(worker.runInProgress()?.reason).toBe('request');
    await worker.whenIdle();
    clearInterval(timer);
    inline.requestRecluster();
    await inline.whenIdle();
    const a = worker.latestRun() as ClusteringRun;
    const b = inline.latestRun() as ClusteringRun;
    expect(a.vms.clusterIds).toEqual(b.vms.clusterIds);
    expect(a.tenants.clusterIds).toEqual(b.tenants.clusterIds);
    expect(a.vms.ids).toHaveLength(485);
    expect(ticks).toBeGreaterThan(3);
    expect(worker.runInProgress()).toBeNull();
    await worker.close();
  }, 60_000);

  it('serves a VM view with its features by name and the latest attributes', async () => {
    const pipeline = await loaded();
    const service = new ClusterService(pipeline, new InlineClusterer(), toRunOptions(opts));
    const [id, entry] = [...pipeline.fleet.vms.entries()].find(([, e]) => e.attributes !== null)!;
    const view = service.vm(id)!;
    expect(view.tenantId).toBe(entry.attributes!.tenantId);
    expect(Object.keys(view.features!)).toContain('log_peers_out');
    expect(service.vm('no-such-vm')).toBeNull();
    expect(service.ingestStats().records.flows).toBe(70_578);
  }, 60_000);
});
