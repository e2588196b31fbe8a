/** A record rejected as too_late after decoding keeps its place in its batch, like every other reject. */
import { describe, expect, it } from 'vitest';
import type { RejectedRecord } from '../../src/contract/rejections.ts';
import { defaultPipelineConfig, Pipeline } from '../../src/pipeline/pipeline.ts';

const T0 = Date.UTC(2026, 10, 1);
const wire = (ts: number, srcVm: string): Record<string, unknown> => ({
  ts: new Date(ts).toISOString(),
  src_vm: srcVm,
  src_ip: '10.0.0.1',
  dst_ip: '10.0.0.2',
  src_port: 50_000,
  dst_port: 443,
  protocol: 'tcp',
  bytes: 100,
  packets: 1,
});

describe('too_late rejects', () => {
  it('carry the index of the record in its batch (Kafka message and trace line), null for a single record', () => {
    const rejects: RejectedRecord[] = [];
    const pipeline = new Pipeline(defaultPipelineConfig, (r) => rejects.push(r));
    const late = T0 - 60 * 60_000;
    const batch = [wire(T0, 'vm-a'), wire(late, 'vm-b'), { ts: 'nope' }, wire(late, 'vm-c')];
    pipeline.ingestMessage(defaultPipelineConfig.topics.flows, JSON.stringify(batch), 'flows/0@7');
    pipeline.ingestTraceLine(JSON.stringify({ topic: defaultPipelineConfig.topics.flows, value: [wire(late, 'vm-d'), wire(T0, 'vm-e')] }), 'trace:3');
    pipeline.ingestMessage(defaultPipelineConfig.topics.flows, JSON.stringify(wire(late, 'vm-f')), 'flows/0@8');
    expect(rejects.map((r) => [r.reason, r.source, r.index])).toEqual([
      ['too_late', 'flows/0@7', 1],
      ['invalid_format', 'flows/0@7', 2],
      ['too_late', 'flows/0@7', 3],
      ['too_late', 'trace:3', 0],
      ['too_late', 'flows/0@8', null],
    ]);
  });
});
