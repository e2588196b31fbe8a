import { describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig } from '../../src/config/pipeline-options.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { takeSnapshot } from '../../src/runs/snapshot.ts';
import { readTraceChunks } from '../../src/trace/trace-reader.ts';

/**
 * Kafka interleaves the three input topics freely: the state must not depend on whether attributes are
 * consumed before or after the flows around them (the order within each topic is kept).
 */
describe('fleet state', () => {
  it('is the same whatever the interleaving of the attribute and flow topics', async () => {
    const lines: string[] = [];
    for await (const c of readTraceChunks('fixtures/small.jsonl.gz')) for (const l of c.lines) if (l) lines.push(l);
    const isFlow = (l: string) => l.includes('"overlay-flows"');
    const orders = {
      trace: lines,
      attributesFirst: [...lines.filter((l) => !isFlow(l)), ...lines.filter(isFlow)],
      flowsFirst: [...lines.filter(isFlow), ...lines.filter((l) => !isFlow(l))],
    };
    const snapshots = Object.values(orders).map((order) => {
      const p = new Pipeline(toPipelineConfig(PipelineOptions.parse({ reclusterMinutes: 0 })));
      for (const l of order) p.ingestTraceLine(l, 'x');
      return takeSnapshot(p.fleet);
    });
    const [a, ...others] = snapshots;
    for (const b of others) {
      expect(b!.vmIds).toEqual(a!.vmIds);
      expect(Array.from(b!.vmFeatures.data)).toEqual(Array.from(a!.vmFeatures.data));
      expect(b!.vmTenants).toEqual(a!.vmTenants);
    }
  }, 60_000);
});
