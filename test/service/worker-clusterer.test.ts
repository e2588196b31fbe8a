import { describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { type ClusteringRun, previousRunOf } from '../../src/runs/clustering-run.ts';
import { InlineClusterer, WorkerClusterer } from '../../src/service/clusterer.ts';
import { readTraceChunks } from '../../src/trace/trace-reader.ts';

const opts = PipelineOptions.parse({ reclusterMinutes: 0 });

async function loaded(): Promise<Pipeline> {
  const p = new Pipeline(toPipelineConfig(opts));
  for await (const c of readTraceChunks('fixtures/small.jsonl.gz')) for (const l of c.lines) if (l) p.ingestTraceLine(l, 'x');
  return p;
}

/** Everything but the wall-clock figures, which differ between any two runs. */
function comparable(run: ClusteringRun): unknown {
  const strip = (side: ClusteringRun['vms']) => ({ ...side, outcome: { ...side.outcome, timings: {} } });
  return { ...run, durationMs: 0, vms: strip(run.vms), tenants: strip(run.tenants) };
}

describe('WorkerClusterer', () => {
  it('gives the inline run exactly, affinity groups and tenant clusters (from the second thread) included', async () => {
    const pipeline = await loaded();
    const worker = new WorkerClusterer();
    const inline = new InlineClusterer();
    const options = toRunOptions(opts);
    // Each clusterer gets its own snapshot: the worker path transfers the snapshot's buffers away.
    const a = await worker.run(pipeline.runInput(), 'run-1', options);
    const b = await inline.run(pipeline.runInput(), 'run-1', options);
    // Warm from the previous run (its ids and labels packed and moved to the threads, worker-messages.ts).
    const warmA = await worker.run(pipeline.runInput(), 'run-2', options, previousRunOf(a));
    const warmB = await inline.run(pipeline.runInput(), 'run-2', options, previousRunOf(b));
    await worker.close();
    expect(warmA.vms.outcome.search?.searched).toBe(false);
    expect(comparable(warmA)).toEqual(comparable(warmB));
    // The advice's input is made on this side (the thread sends back its plan only), on the run's own groups.
    expect(a.placement?.input.vms).toHaveLength(485);
    expect(a.placement?.input.groups).toBe(a.affinity?.group);
    expect(a.affinity?.edges).toBeGreaterThan(0);
    expect(a.affinity?.sizes).toEqual(b.affinity?.sizes);
    expect(a.affinity?.group).toEqual(b.affinity?.group);
    expect(a.affinity?.modularity).toBe(b.affinity?.modularity);
    expect(comparable(a)).toEqual(comparable(b));
    // The affinity stage's time is reported with the others, from whichever thread ran it.
    expect(a.vms.outcome.timings.affinity).toBeGreaterThan(0);
    expect(Object.keys(a.vms.outcome.timings).sort()).toEqual(Object.keys(b.vms.outcome.timings).sort());
  }, 60_000);

  it('rejects a run whose stage fails on either thread and keeps serving the next one', async () => {
    const pipeline = await loaded();
    const worker = new WorkerClusterer();
    const options = toRunOptions(opts);
    const bad = { ...options, vm: { ...options.vm, algorithm: 'no-such-algorithm' as 'kmeans' } };
    await expect(worker.run(pipeline.runInput(), 'run-1', bad)).rejects.toThrow('unknown clustering algorithm no-such-algorithm');
    // The tenant side fails on the second thread, after the VM side has gone well on the first.
    const badTenants = { ...options, tenant: { ...options.tenant, algorithm: 'no-tenant-algorithm' as 'kmeans' } };
    await expect(worker.run(pipeline.runInput(), 'run-1', badTenants)).rejects.toThrow('unknown clustering algorithm no-tenant-algorithm');
    const next = await worker.run(pipeline.runInput(), 'run-2', options);
    expect(next.vms.ids).toHaveLength(485);
    expect(next.affinity?.group).toHaveLength(485);
    await worker.close();
  }, 60_000);
});
