/**
 * The host-attributes topic (a CONTRACT.md extension for the placement advice): valid records set a host's
 * capacity (newest ts wins), bad ones are rejected by reason and lose nothing else, and the capacities reach
 * the run input a run's advice is computed from.
 */
import { describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import type { RejectedRecord } from '../../src/contract/rejections.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { takeRunInput } from '../../src/runs/run-input.ts';

const line = (value: unknown): string => JSON.stringify({ topic: 'host-attributes', value });

describe('host-attributes topic', () => {
  it('applies capacities, newest ts first, and rejects bad records by reason', () => {
    const rejected: RejectedRecord[] = [];
    const pipeline = new Pipeline(toPipelineConfig(PipelineOptions.parse({})), (r) => rejected.push(r));
    const lines = [
      line({ ts: 2000, host_id: 'cmp-1', vcpus: 64, memory_mb: 262144, labels: { rack: 'r1' } }),
      line({ ts: 1000, host_id: 'cmp-1', vcpus: 8, memory_mb: 8192 }),
      line([
        { ts: 1000, host_id: 'cmp-2', vcpus: 32, memory_mb: 131072 },
        { ts: 1000, host_id: 'cmp-3', vcpus: -1, memory_mb: 1024 },
        { ts: 1000, vcpus: 4, memory_mb: 1024 },
        { ts: 1000, host_id: 'cmp-4', vcpus: 'many', memory_mb: 1024 },
      ]),
    ];
    lines.forEach((l, i) => {
      pipeline.ingestTraceLine(l, `line ${i + 1}`);
    });
    expect(Object.fromEntries(pipeline.fleet.hostCapacity)).toEqual({
      'cmp-1': { vcpus: 64, memoryMb: 262144, ts: 2000, labels: { rack: 'r1' } },
      'cmp-2': { vcpus: 32, memoryMb: 131072, ts: 1000 },
    });
    expect(pipeline.hostAttributesIn).toBe(3);
    expect(pipeline.rejections.summary()).toEqual({ count: 3, by_reason: { invalid_type: 1, missing_field: 1, out_of_range: 1 } });
    expect(rejected.map((r) => [r.topic, r.source, r.index, r.reason, r.field])).toEqual([
      ['host-attributes', 'line 3', 1, 'out_of_range', 'vcpus'],
      ['host-attributes', 'line 3', 2, 'missing_field', 'host_id'],
      ['host-attributes', 'line 3', 3, 'invalid_type', 'vcpus'],
    ]);
    expect(takeRunInput(pipeline.fleet).placement?.hostCapacity).toEqual([
      ['cmp-1', { vcpus: 64, memoryMb: 262144, labels: { rack: 'r1' } }],
      ['cmp-2', { vcpus: 32, memoryMb: 131072 }],
    ]);
  });

  it('takes the placement knobs from the options', () => {
    const o = PipelineOptions.parse({ placementMaxMoves: '7', placementDefaultVcpus: '48', placementDefaultMemoryMb: '196608' });
    const tiers = { rackLabel: 'rack', zoneLabel: 'zone', sameRack: 1, sameZone: 2, acrossZones: 3 };
    expect(toRunOptions(o).placement).toEqual({ maxMoves: 7, defaultCapacity: { vcpus: 48, memoryMb: 196608 }, tiers });
    expect(toRunOptions(PipelineOptions.parse({})).placement).toEqual({ maxMoves: 20, defaultCapacity: 'max-observed', tiers });
    expect(PipelineOptions.safeParse({ placementDefaultVcpus: '48' }).success).toBe(false);
    const t = PipelineOptions.parse({ placementRackLabel: 'tor', placementZoneLabel: 'az', placementTierDistances: '1, 4,10' });
    expect(toRunOptions(t).placement?.tiers).toEqual({ rackLabel: 'tor', zoneLabel: 'az', sameRack: 1, sameZone: 4, acrossZones: 10 });
    // Three positive distances, never closer across a wider tier.
    for (const bad of ['1,2', '1,2,x', '0,1,2', '3,2,1', '1,2,3,4']) expect(PipelineOptions.safeParse({ placementTierDistances: bad }).success).toBe(false);
  });
});
