/**
 * The spread port plan (issue 15's goal traces): services over port ranges, new clients and servers booted
 * in the last window, leaders failed over there; off by default, so the stable plan is unchanged.
 */
import { describe, expect, it } from 'vitest';
import { TraceGenerator } from '../../src/generator/index.ts';
import { GANG_ROLES, SERVED_ROLES } from '../../src/generator/profiles.ts';

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

  it('boots VMs only into a role that runs throughout, and fails servers over to one that does, in the last window', () => {
    const gen = new TraceGenerator({ name: 'spread', seed: 5, vms: 600, tenants: 50, minutes: 45, ports: 'spread' });
    for (const _ of gen.lines());
    const { vms } = gen.world;
    const steadySibling = (v: (typeof vms)[number]) =>
      v.app.vms.some((o) => o !== v && o.initialRole === v.initialRole && o.startAt < 0 && o.deleteAt < 0 && o.idleAt < 0 && o.changeAt < 0);
    const late = vms.filter((v) => v.startAt >= 0);
    const failed = vms.filter((v) => v.failoverAt >= 0);
    expect(late.length).toBe(gen.truth().injected.started_vms);
    expect(failed.length).toBe(gen.truth().injected.failovers);
    expect(late.length).toBeGreaterThanOrEqual(25);
    expect(failed.length).toBeGreaterThanOrEqual(5);
    for (const v of late) {
      expect(v.startAt).toBeGreaterThanOrEqual(32);
      expect(steadySibling(v)).toBe(true);
      expect(GANG_ROLES.has(v.initialRole)).toBe(false);
    }
    // A shuffle server among the new VMs: a server of a range on a port of its own.
    expect(late.some((v) => v.initialRole === 'spark-worker')).toBe(true);
    for (const v of failed) {
      expect(v.deleteAt).toBe(v.failoverAt);
      expect(v.failoverAt).toBeGreaterThanOrEqual(32);
      expect(v.failoverAt).toBeLessThanOrEqual(41);
      expect(SERVED_ROLES.has(v.initialRole) && !GANG_ROLES.has(v.initialRole)).toBe(true);
      expect(steadySibling(v)).toBe(true);
    }
    expect(new Set(failed.map((v) => v.tenant)).size).toBe(failed.length);
  }, 60_000);
});
