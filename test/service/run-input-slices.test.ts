import { describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import { runToEnd } from '../../src/core/slices.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import type { ClusteringRun } from '../../src/runs/clustering-run.ts';
import { ClusterService } from '../../src/service/cluster-service.ts';
import { InlineClusterer } from '../../src/service/clusterer.ts';
import { traceMessages } from '../../src/trace/trace-messages.ts';

const opts = PipelineOptions.parse({});

/** The run without what differs from one computation to the next (wall-clock times). */
function comparable(run: ClusteringRun | null): unknown {
  if (run === null) return null;
  const { durationMs: _d, startedAt: _s, ...rest } = run as ClusteringRun & { startedAt?: unknown };
  return JSON.parse(JSON.stringify({ ...rest, vms: { ...rest.vms, outcome: { ...rest.vms.outcome, timings: null } }, tenants: { ...rest.tenants, outcome: { ...rest.tenants.outcome, timings: null } } }));
}

describe("a run's input taken in slices while the input keeps coming", () => {
  it('equals the input taken at once, whatever the VMs per step', async () => {
    const messages = await traceMessages('fixtures/small.jsonl.gz');
    // Two fleets alike: taking an input purges the windows it reads.
    const [a, b, c] = [0, 1, 2].map(() => {
      const p = new Pipeline(toPipelineConfig(opts));
      for (const [i, [topic, text]] of messages.entries()) p.ingestMessage(topic, text, `m${i}`);
      return p;
    });
    const whole = a!.runInput();
    expect(whole.vmIds).toHaveLength(485);
    expect(whole.vmPairs.a.length).toBe(766);
    const steps = b!.runInputSteps(7);
    let count = 0;
    let r = steps.next();
    for (; r.done !== true; r = steps.next()) count++;
    expect(r.value).toEqual(whole);
    // 485 VMs by 7: 70 steps of features, then the pair table and the edges' ordering by 350.
    expect(count).toBeGreaterThan(70 + 4);
    expect(runToEnd(c!.runInputSteps(1))).toEqual(whole);
  }, 60_000);

  it('holds what arrives meanwhile and applies it in its order after: the runs and counts equal those of the input taken at once', async () => {
    // The trace's first third: a few ticks' runs (each run is computed twice here, inline).
    const all = await traceMessages('fixtures/small.jsonl.gz');
    const messages = all.slice(0, Math.floor(all.length / 3));
    const services = [false, true].map(
      (runInputInSlices) => new ClusterService(new Pipeline(toPipelineConfig(opts)), new InlineClusterer(), toRunOptions(opts), () => 0, { historySize: 100, runInputInSlices }),
    );
    const [once, sliced] = services as [ClusterService, ClusterService];
    let held = 0;
    // Fed as the Kafka input feeds it: batches, each awaited until what it brought is applied. Each run is
    // awaited before the next batch, so that both services see the same input at each of their runs.
    for (let from = 0; from < messages.length; from += 50) {
      for (const s of services) {
        for (let i = from; i < Math.min(messages.length, from + 50); i++) s.ingestMessage(messages[i]![0], messages[i]![1], `m${i}`);
        const wait = s.inputHeld();
        if (wait !== null) {
          expect(s).toBe(sliced);
          held++;
          await wait;
        }
        expect(s.inputHeld()).toBeNull();
        await s.whenIdle();
      }
    }
    for (const s of services) {
      await s.whenIdle();
      s.startRun('final');
      await s.whenIdle();
    }
    // Three ticks' runs took their input while their batch went on (the fourth is the final run).
    expect(held).toBe(3);
    expect(sliced.ingestStats()).toEqual(once.ingestStats());
    expect(sliced.runHistory().map((r) => r.runId)).toEqual(once.runHistory().map((r) => r.runId));
    expect(sliced.runHistory()).toHaveLength(4);
    expect(comparable(sliced.latestRun())).toEqual(comparable(once.latestRun()));
  }, 120_000);
});
