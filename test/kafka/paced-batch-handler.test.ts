/**
 * pacedBatchHandler on its own (pure logic, no broker): what a call applies, where it stops, and that it
 * reads the wall clock once per call, not per message (the per-message readings were measurable in the
 * single process's ingest). test/kafka/consumer.test.ts runs it against a real broker.
 */
import { describe, expect, it } from 'vitest';
import { type ConsumedMessage, pacedBatchHandler } from '../../src/kafka/consumer.ts';
import { defaultPipelineConfig, Pipeline } from '../../src/pipeline/pipeline.ts';
import { MIN, T0 } from '../helpers/records.ts';

const topics = { flows: 'flows', vmAttributes: 'vms', tenantAttributes: 'tenants' };

function message(partition: number, offset: number, ts: number): ConsumedMessage {
  const value = JSON.stringify({ ts, src_vm: 'vm-a', dst_vm: 'vm-b', src_ip: '10.0.0.1', dst_ip: '10.0.0.2', src_port: 50_000, dst_port: 443, protocol: 'tcp', bytes: 100, packets: 1 });
  return { topic: topics.flows, partition, offset: String(offset), value, key: null };
}

describe('pacedBatchHandler', () => {
  it('reads the clock once per call, applies what is within the lead and stops at the first message beyond it', () => {
    const pipeline = new Pipeline({ ...defaultPipelineConfig, topics, reclusterEveryMs: 0 });
    let readings = 0;
    const handler = pacedBatchHandler(pipeline, topics.flows, () => {
      readings++;
      return 1_000;
    });
    handler.onAssigned({ [topics.flows]: [0, 1] });
    expect(readings).toBe(1);
    // Partition 1, ten minutes ahead: its first message is read (it makes the partition known); the next
    // waits while partition 0, assigned but not read yet, holds the reader's watermark where it is.
    expect(handler.onBatch([0, 1].map((i) => message(1, i, T0 + 10 * MIN + i * 1000)), '10')).toBe(1);
    expect(readings).toBe(2);
    // Partition 0, three flows of its first seconds, its log ending further on: all read, with one reading.
    expect(handler.onBatch([0, 1, 2].map((i) => message(0, i, T0 + i * 1000)), '10')).toBe(3);
    expect(readings).toBe(3);
    // Partition 1 again: ten minutes beyond partition 0, which is behind, more than the lead (one bucket).
    expect(handler.onBatch([1, 2].map((i) => message(1, i, T0 + 10 * MIN + i * 1000)), '10')).toBe(0);
    expect(readings).toBe(4);
    expect(pipeline.recordsIn.flows).toBe(4);
    expect(pipeline.inputPartitions.exportState()).toEqual({
      reader: T0 + 2000,
      partitions: [
        { partition: 'flows/0', watermark: T0 + 2000 },
        { partition: 'flows/1', watermark: T0 + 10 * MIN },
      ],
    });
  });
});
