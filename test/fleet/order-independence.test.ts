import { describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig } from '../../src/config/pipeline-options.ts';
import type { FlowRecord, VmAttributes } from '../../src/contract/records.ts';
import { Random } from '../../src/core/random.ts';
import { FleetState } from '../../src/fleet/fleet-state.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { takeRunInput } from '../../src/runs/run-input.ts';
import { readTraceChunks } from '../../src/trace/trace-reader.ts';
import { defaultWindowConfig } from '../../src/windows/window-config.ts';
import { flow, MIN, T0, vmAttrs } from '../helpers/records.ts';

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
    // Interleavings are Kafka's, so the pipeline is the live one: its wall clock (here, a day after the trace)
    // bounds event times. A replay has none and judges attributes by the flows' time (docs/event-time.md),
    // which an ordered trace never outruns by more than the skew, unlike these orders.
    const live = toPipelineConfig(PipelineOptions.parse({ reclusterMinutes: 0 }));
    const wallClock = () => Date.UTC(2026, 10, 2);
    const inputs = Object.values(orders).map((order) => {
      const p = new Pipeline({ ...live, future: { maxSkewMs: 300_000, quorum: 3, wallClock } });
      for (const l of order) p.ingestTraceLine(l, 'x');
      return takeRunInput(p.fleet);
    });
    const [a, ...others] = inputs;
    for (const b of others) {
      expect(b!.vmIds).toEqual(a!.vmIds);
      expect(Array.from(b!.vmFeatures.data)).toEqual(Array.from(a!.vmFeatures.data));
      expect(b!.vmTenants).toEqual(a!.vmTenants);
    }
  }, 60_000);

  it('is the same whatever the interleaving when silent VMs expire and come back', () => {
    // 60 VMs over 90 minutes: each talks in one or two stretches and gets attributes now and then, so
    // that many go silent for longer than the idle time (15 min), expire, and some come back.
    const rng = new Random(21);
    const flows: FlowRecord[] = [];
    const attrs: VmAttributes[] = [];
    const vm = (i: number): string => `vm-${String(i).padStart(2, '0')}`;
    for (let i = 0; i < 60; i++) {
      const stretches = rng.int(1, 2);
      for (let s = 0; s < stretches; s++) {
        const start = rng.int(0, 80);
        for (let m = start; m < Math.min(90, start + rng.int(2, 20)); m++)
          flows.push(flow({ ts: T0 + m * MIN + i, srcVm: vm(i), dstVm: vm(rng.int(0, 59)), dstPort: 5432, bytes: 100 + i }));
      }
      attrs.push(vmAttrs({ ts: T0 + rng.int(0, 85) * MIN, vmId: vm(i), tenantId: `t${i % 4}`, vcpus: 1 + (i % 8) }));
    }
    flows.sort((a, b) => a.ts - b.ts);
    attrs.sort((a, b) => a.ts - b.ts);
    const config = { ...defaultWindowConfig, windowMs: 15 * MIN, idleMs: 15 * MIN };
    const replayed = (order: 'trace' | 'attributesFirst' | 'flowsFirst') => {
      const fleet = new FleetState(config);
      if (order === 'attributesFirst') for (const a of attrs) fleet.applyVmAttributes(a);
      let next = 0;
      for (const f of flows) {
        if (order === 'trace') while (next < attrs.length && attrs[next]!.ts <= f.ts) fleet.applyVmAttributes(attrs[next++]!);
        fleet.applyFlow(f);
      }
      if (order !== 'attributesFirst') for (const a of attrs.slice(next)) fleet.applyVmAttributes(a);
      return { input: takeRunInput(fleet), expired: fleet.counters.vmsExpired };
    };
    const trace = replayed('trace');
    expect(trace.expired).toBeGreaterThan(10);
    for (const other of [replayed('attributesFirst'), replayed('flowsFirst')]) {
      expect(other.expired).toBeGreaterThan(10);
      expect(other.input.vmIds).toEqual(trace.input.vmIds);
      expect(Array.from(other.input.vmFeatures.data)).toEqual(Array.from(trace.input.vmFeatures.data));
      expect(other.input.vmTenants).toEqual(trace.input.vmTenants);
    }
  });
});
