/**
 * The hard security plan (issue 15's goal against scanners that hide among clients): compromised clients
 * inside client groups, probes with data, tenants with port ranges of their own; off by default.
 */
import { describe, expect, it } from 'vitest';
import { scannersOf, TraceGenerator } from '../../src/generator/index.ts';
import { CLIENT_ROLES } from '../../src/generator/profiles.ts';

interface Flow {
  src_vm?: string | null;
  dst_vm?: string | null;
  dst_ip: string;
  src_port?: number;
  dst_port?: number;
  bytes: number;
}

function flowsOf(lines: readonly string[]): Flow[] {
  const out: Flow[] = [];
  for (const line of lines) {
    if (!line.startsWith('{"topic":"overlay-flows"')) continue;
    let value: unknown;
    try {
      value = (JSON.parse(line) as { value: unknown }).value;
    } catch {
      continue;
    }
    for (const f of (Array.isArray(value) ? value : [value]) as Flow[]) if (typeof f?.bytes === 'number' && typeof f.dst_ip === 'string') out.push(f);
  }
  return out;
}

const config = { name: 'sg-hard', seed: 7, vms: 600, tenants: 50, minutes: 25, ports: 'spread' } as const;

describe('generator: security plan', () => {
  it('hides every scanner among the clients of an app of its tenant, with data in half of its probes', () => {
    const gen = new TraceGenerator({ ...config, security: 'hard' });
    const flows = flowsOf([...gen.lines()]);
    const truth = gen.truth();
    expect(truth.security).toBe('hard');
    const scanners = scannersOf(truth);
    expect(scanners.size).toBe(3);
    expect(truth.injected.scanners).toBe(3);
    expect(truth.injected.compromised_clients).toBe(3);
    // The probes a goal counts: the compromised clients', recorded as the generator makes them.
    expect(gen.probes.size).toBeGreaterThan(90);
    expect([...gen.probes].every((k) => scanners.has(k.split('|')[0]!))).toBe(true);
    for (const id of scanners) {
      const entry = truth.vms[id]!;
      expect(entry.compromised).toBe(true);
      expect(CLIENT_ROLES.has(entry.role)).toBe(true);
      // Fellow clients of its role in the same app of the same tenant: the group it hides in.
      const fellows = Object.entries(truth.vms).filter(([o, v]) => o !== id && v.tenant_id === entry.tenant_id && v.app === entry.app && v.role === entry.role);
      expect(fellows.length).toBeGreaterThan(0);
    }
    // Its probes: flows to addresses that are neither a VM of its app nor its tenant's outside peers.
    for (const vm of gen.world.scanners) {
      const known = new Set([...vm.app.vms.map((v) => v.ip), ...vm.tenant.externalPool]);
      const probes = flows.filter((f) => f.src_vm === vm.id && !known.has(f.dst_ip));
      // 1 to 4 probes a minute, a few lost with their exporter's minute (missing records).
      expect(probes.length).toBeGreaterThan(30);
      expect(probes.length).toBeLessThan(4 * config.minutes);
      const withData = probes.filter((f) => f.bytes > 1024).length / probes.length;
      expect(withData).toBeGreaterThan(0.3);
      expect(withData).toBeLessThan(0.5);
      // Its role's traffic goes on besides.
      expect(flows.some((f) => f.src_vm === vm.id && known.has(f.dst_ip) && f.bytes > 6_200)).toBe(true);
    }
  }, 60_000);

  it('gives half the tenants shuffle and NCCL ranges of their own; standard is the default and keeps scanners apart', () => {
    const hard = new TraceGenerator({ ...config, security: 'hard' });
    const flows = flowsOf([...hard.lines()]);
    const truth = hard.truth();
    expect(truth.injected.tenants_with_own_ranges).toBe(24);
    // Between two workers of one app (shuffle between Spark workers, NCCL between GPU workers) one end's
    // port is the listener's: in its tenant's own range when it has one, else in the standard range.
    const vmOf = new Map(hard.world.vms.map((v) => [v.id, v]));
    const inside = (p: number | undefined, r: readonly [number, number]) => p !== undefined && p >= r[0] && p < r[1];
    let ownFlows = 0;
    let standardFlows = 0;
    for (const f of flows) {
      const a = f.src_vm ? vmOf.get(f.src_vm) : undefined;
      const b = f.dst_vm ? vmOf.get(f.dst_vm) : undefined;
      if (a === undefined || b === undefined || a.app !== b.app || a.role !== b.role) continue;
      const service = a.role === 'spark-worker' ? 'shuffle' : a.role === 'gpu-worker' ? 'nccl' : null;
      // torch_rdzv (29500) is the other call between GPU workers.
      if (service === null || a.scans || b.scans || f.src_port === 29_500 || f.dst_port === 29_500) continue;
      const own = hard.ownRange(a.tenant.idx, service);
      const range: readonly [number, number] = own ?? (service === 'shuffle' ? [40_000, 42_000] : [50_000, 51_000]);
      expect(inside(f.src_port, range) || inside(f.dst_port, range)).toBe(true);
      if (own === null) standardFlows++;
      else ownFlows++;
    }
    expect(ownFlows).toBeGreaterThan(100);
    expect(standardFlows).toBeGreaterThan(100);

    const plain = new TraceGenerator({ ...config });
    for (const _ of plain.lines());
    const t = plain.truth();
    expect(t.security).toBeUndefined();
    expect(t.injected.compromised_clients).toBeUndefined();
    expect(Object.values(t.vms).filter((v) => v.role === 'scanner')).toHaveLength(3);
    expect(Object.values(t.vms).some((v) => v.compromised)).toBe(false);
  }, 60_000);
});
