/**
 * The run schedule after a backlog and in quiet periods: event-time ticks passed while a run was in flight
 * are caught up at once when it ends, and a run with nothing new to see is not recorded as a new run.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import type { ClusteringRun, RunOptions } from '../../src/runs/clustering-run.ts';
import type { ModelDocument } from '../../src/runs/model-document.ts';
import type { RunInput } from '../../src/runs/run-input.ts';
import { ClusterService } from '../../src/service/cluster-service.ts';
import { type Clusterer, InlineClusterer } from '../../src/service/clusterer.ts';
import type { HistorySink, ModelSink } from '../../src/service/types.ts';
import { readTraceChunks } from '../../src/trace/trace-reader.ts';

const opts = PipelineOptions.parse({ reclusterMinutes: 5 });
const MINUTE = 60_000;
/** The small fixture starts at 2026-11-01T00:00Z and its watermark ends at 00:45:03. */
const START = Date.UTC(2026, 10, 1);
const lines: string[] = [];

beforeAll(async () => {
  for await (const c of readTraceChunks('fixtures/small.jsonl.gz')) for (const l of c.lines) if (l) lines.push(l);
});

/** Runs inline, but each run completes only when the test releases it: a run that takes as long as we like. */
class GatedClusterer implements Clusterer {
  readonly started: Array<{ runId: string; watermark: number }> = [];
  private readonly gates: Array<() => void> = [];
  private readonly inline = new InlineClusterer();

  async run(input: RunInput, runId: string, options: RunOptions): Promise<ClusteringRun> {
    this.started.push({ runId, watermark: input.watermark });
    await new Promise<void>((resolve) => this.gates.push(resolve));
    return this.inline.run(input, runId, options);
  }

  /** Lets the oldest waiting run finish. */
  release(): void {
    const gate = this.gates.shift();
    if (gate === undefined) throw new Error('no run is waiting');
    gate();
  }

  get waiting(): number {
    return this.gates.length;
  }

  async close(): Promise<void> {}
}

class CountingSinks implements ModelSink, HistorySink {
  models = 0;
  histories = 0;
  async save(document: ModelDocument | unknown): Promise<void> {
    if (typeof document === 'object' && document !== null && 'runs' in document) this.histories++;
    else this.models++;
  }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('run schedule', () => {
  it('after a backlog ingested during a run, runs again at once for the latest tick', async () => {
    const clusterer = new GatedClusterer();
    const service = new ClusterService(new Pipeline(toPipelineConfig(opts)), clusterer, toRunOptions(opts));
    // The whole trace arrives while the first scheduled run (at the 00:05 tick) is still in flight.
    for (const l of lines) service.ingestTraceLine(l, 'x');
    const watermark = service.ingestStats().watermark ?? Number.NaN;
    expect(new Date(watermark).toISOString()).toBe('2026-11-01T00:45:03.000Z');
    expect(clusterer.started).toHaveLength(1);
    expect(clusterer.started[0]!.watermark).toBeLessThan(START + 6 * MINUTE);

    clusterer.release();
    await settle();
    // The first run landed, and the next one started without waiting for a tick or the wall clock.
    expect(service.latestRun()?.runId).toBe('run-000001');
    expect(service.runInProgress()).toMatchObject({ runId: 'run-000002', reason: 'schedule' });
    expect(clusterer.started[1]).toEqual({ runId: 'run-000002', watermark });
    clusterer.release();
    await service.whenIdle();
    expect(service.latestRun()?.computedAt).toBe(watermark);
    // Nothing passed a later tick during the second run: no third.
    expect(clusterer.started).toHaveLength(2);
    expect(service.runHistory().map((r) => r.runId)).toEqual(['run-000001', 'run-000002']);
  }, 60_000);

  it('does not catch up when the watermark stayed within the finished run\'s tick', async () => {
    const clusterer = new GatedClusterer();
    const service = new ClusterService(new Pipeline(toPipelineConfig(opts)), clusterer, toRunOptions(opts));
    // Up to the first line past 00:05 (the first run starts there), then nothing more until it ends.
    let i = 0;
    while (clusterer.started.length === 0) service.ingestTraceLine(lines[i++]!, 'x');
    clusterer.release();
    await service.whenIdle();
    expect(clusterer.started.map((s) => s.runId)).toEqual(['run-000001']);
    expect(clusterer.waiting).toBe(0);
  }, 60_000);

  it('records no run when nothing new came in since the latest one, whatever the wall clock says', async () => {
    const sinks = new CountingSinks();
    const service = new ClusterService(new Pipeline(toPipelineConfig(PipelineOptions.parse({ reclusterMinutes: 0 }))), new InlineClusterer(), toRunOptions(opts), Date.now, {
      models: sinks,
      historySink: sinks,
    });
    for (const l of lines) service.ingestTraceLine(l, 'x');
    expect(service.startRun('schedule')).toEqual({ runId: 'run-000001', started: true });
    await service.whenIdle();
    expect([sinks.models, sinks.histories]).toEqual([1, 1]);

    // The wall-clock trigger, many times over: the same watermark and no record applied since.
    service.startWallClockSchedule(10);
    await new Promise((resolve) => setTimeout(resolve, 150));
    service.stopWallClockSchedule();
    await service.whenIdle();
    expect(service.startRun('schedule')).toEqual({ runId: 'run-000001', started: false });
    expect(service.startRun('final')).toEqual({ runId: 'run-000001', started: false });
    // A rejected line changes nothing a run would see.
    service.ingestTraceLine('{not json', 'x');
    expect(service.startRun('schedule')).toEqual({ runId: 'run-000001', started: false });
    expect(service.runHistory().map((r) => r.runId)).toEqual(['run-000001']);
    expect([sinks.models, sinks.histories]).toEqual([1, 1]);

    // A record applied (even one that moves no watermark) is something new to see.
    const attributes = lines.find((l) => l.includes('"topic":"tenant-attributes"'))!;
    service.ingestTraceLine(attributes, 'x');
    expect(service.startRun('schedule')).toEqual({ runId: 'run-000002', started: true });
    await service.whenIdle();
    // An operator's request runs even on unchanged input: they asked for it.
    expect(service.requestRecluster()).toEqual({ runId: 'run-000003', started: true });
    await service.whenIdle();
    expect(service.runHistory().map((r) => r.runId)).toEqual(['run-000001', 'run-000002', 'run-000003']);
    expect([sinks.models, sinks.histories]).toEqual([3, 3]);
  }, 60_000);
});
