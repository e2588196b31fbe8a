/**
 * The spread port plan (issue 15's goal traces): services over port ranges, new clients and servers booted
 * in the last window, leaders failed over there; off by default, so the stable plan is unchanged.
 */
import { describe, expect, it } from 'vitest';
import { TraceGenerator } from '../../src/generator/index.ts';

interface Flow {
  dst_port?: number;
  protocol: string | number;
}

function serverPorts(seed: number, ports: 'stable' | 'spread'): { lines: string[]; dstPorts: Set<number> } {
  const gen = new TraceGenerator({ name: 'spread', seed, vms: 240, tenants: 20, minutes: 25, ports });
  const lines = [...gen.lines()];
  const dstPorts = new Set<number>();
  for (const line of lines) {
    if (!line.startsWith('{"topic":"overlay-flows"')) continue;
    let value: unknown;
    try {
      value = (JSON.parse(line) as { value: unknown }).value;
    } catch {
      continue;
    }
    for (const f of (Array.isArray(value) ? value : [value]) as Flow[]) if (typeof f?.dst_port === 'number') dstPorts.add(f.dst_port);
  }
  return { lines, dstPorts };
}

describe('generator: spread port plan', () => {
  it('adds per-session, shard and passive-data ports, late VMs and fail-overs; stable is the default', () => {
    const spread = new TraceGenerator({ name: 'spread', seed: 5, vms: 240, tenants: 20, minutes: 25, ports: 'spread' });
    for (const _ of spread.lines());
    const truth = spread.truth();
    expect(truth.ports).toBe('spread');
    expect(truth.injected.started_vms).toBeGreaterThan(0);
    expect(truth.injected.failovers).toBeGreaterThan(0);

    const stable = new TraceGenerator({ name: 'spread', seed: 5, vms: 240, tenants: 20, minutes: 25 });
    for (const _ of stable.lines());
    expect(stable.truth().ports).toBeUndefined();
    expect(stable.truth().injected.started_vms).toBeUndefined();

    const inRange = (ports: Set<number>, from: number, to: number) => [...ports].filter((p) => p >= from && p < to).length;
    const s = serverPorts(5, 'spread');
    const t = serverPorts(5, 'stable');
    expect(inRange(s.dstPorts, 16_384, 17_408)).toBeGreaterThan(50);
    expect(inRange(s.dstPorts, 30_000, 30_100)).toBeGreaterThan(10);
    expect(inRange(s.dstPorts, 7_000, 7_012)).toBe(12);
    // The stable plan reaches these ports only by the scanners' random probes.
    expect(inRange(t.dstPorts, 16_384, 17_408) + inRange(t.dstPorts, 7_000, 7_012) + inRange(t.dstPorts, 30_000, 30_100)).toBeLessThan(5);
  }, 60_000);
});
