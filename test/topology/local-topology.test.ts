import { describe, expect, it } from 'vitest';
import { traceMessages } from '../../src/trace/trace-messages.ts';
import { PipelineOptions, toPipelineConfig } from '../../src/config/pipeline-options.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import type { RunInput } from '../../src/runs/run-input.ts';
import { vmKey } from '../../src/topology/by-vm.ts';
import { LocalTopology } from '../../src/topology/local-topology.ts';
import { comparableRunInput } from '../helpers/members.ts';

const config = toPipelineConfig(PipelineOptions.parse({}));

/** comparableRunInput, and two fields the member tests leave out: same-tenant bytes and hosts. */
function comparable(s: RunInput) {
  return { ...comparableRunInput(s), vmSameTenantBytes: Array.from(s.vmSameTenantBytes), hosts: s.placement?.vmHosts };
}

describe('the topology in one process', () => {
  it.each([1, 3, 7])('with %i partitions gathers at every tick and at the end exactly the snapshot of one pipeline holding every VM', async (partitions) => {
    const input = await traceMessages('fixtures/small.jsonl.gz');
    const pipeline = new Pipeline(config);
    const expected: RunInput[] = [];
    const topology = new LocalTopology(config, partitions, () => {}, (key) => vmKey(key));
    for (const [i, [topic, text]] of input.entries()) {
      pipeline.ingestMessage(topic, text, `m${i}`);
      if (pipeline.runDue()) expected.push(pipeline.runInput());
      topology.ingest(topic, text, `m${i}`);
      // Kafka batches of 50 messages: the watermark reaches every partition at each batch's end.
      if (i % 50 === 49) topology.endOfBatch();
    }
    topology.endOfBatch();
    expect(topology.router.rejections.summary()).toEqual(pipeline.rejections.summary());
    expect(topology.router.recordsIn).toEqual(pipeline.recordsIn);
    expect(topology.ticks.length).toBe(expected.length);
    expect(expected.length).toBeGreaterThan(5);
    for (const [t, got] of topology.ticks.entries()) expect(comparable(got)).toEqual(comparable(expected[t]!));
    expect(comparable(topology.request('final'))).toEqual(comparable(pipeline.runInput()));
    // The connection log the leader keeps from the routed flows is the pipeline's, row for row.
    expect(topology.connections.size).toBeGreaterThan(1000);
    expect(topology.connections.exportState()).toEqual(pipeline.connections.exportState());
  }, 120_000);
});
