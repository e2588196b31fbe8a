/**
 * Placement advice: every constraint holds on every suggested move over many generated fleets
 * (property-based, fixed seed), the figures it reports are the real ones, and each bad input gets its
 * reason and no move.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planPlacement } from '../../src/placement/advice.ts';
import type { Capacity, PlacementAdvice, PlacementInput, PlacementOptions, PlacementVm } from '../../src/placement/types.ts';
import { advisePlacement } from './advise.ts';

const SEED = 20261205;

interface Case {
  input: PlacementInput;
  options: Partial<PlacementOptions>;
}

const capacityArb = fc.record({ vcpus: fc.integer({ min: 0, max: 80 }), memoryMb: fc.integer({ min: 0, max: 80 }).map((x) => x * 1024) });

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    hostCount: fc.integer({ min: 1, max: 6 }),
    vmCount: fc.integer({ min: 0, max: 30 }),
    seedish: fc.integer({ min: 0, max: 1_000_000 }),
  })
  .chain(({ hostCount, vmCount }) => {
    const hostName = (h: number): string => `host-${h}`;
    const vm = (i: number): fc.Arbitrary<PlacementVm> =>
      fc.record({
        id: fc.constant(`vm-${i}`),
        tenant: fc.constantFrom('t-a', 't-b', null),
        // hostCount is an unknown host (no announced capacity); null is a VM without a host.
        host: fc.oneof({ weight: 10, arbitrary: fc.integer({ min: 0, max: hostCount }).map(hostName) }, { weight: 1, arbitrary: fc.constant(null) }),
        vcpus: fc.oneof({ weight: 10, arbitrary: fc.integer({ min: 1, max: 8 }) }, { weight: 1, arbitrary: fc.constant(null) }),
        memoryMb: fc.oneof({ weight: 10, arbitrary: fc.integer({ min: 1, max: 8 }).map((x) => x * 1024) }, { weight: 1, arbitrary: fc.constant(null) }),
        labels: fc.oneof(
          fc.constant(null),
          fc.record({ pinned: fc.constantFrom('true', 'false') }),
          fc.record({ anti_affinity: fc.constantFrom('db', 'zk') }),
          fc.record({ anti_affinity: fc.constantFrom('db', 'zk'), pinned: fc.constant('true') }),
        ),
      });
    const pair = fc.record({
      a: fc.integer({ min: 0, max: Math.max(0, vmCount - 1) }),
      b: fc.integer({ min: 0, max: Math.max(0, vmCount - 1) }),
      bytes: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1_000_000 })),
    });
    return fc.record({
      vms: fc.tuple(...Array.from({ length: vmCount }, (_, i) => vm(i))),
      pairs: vmCount === 0 ? fc.constant([]) : fc.array(pair, { maxLength: vmCount * 3 }),
      capacities: fc.array(fc.option(capacityArb, { nil: undefined }), { minLength: hostCount, maxLength: hostCount }),
      groups: fc.option(fc.array(fc.integer({ min: 0, max: 4 }), { minLength: vmCount, maxLength: vmCount }), { nil: null }),
      maxMoves: fc.integer({ min: 0, max: 12 }),
      defaultCapacity: fc.oneof(fc.constant(null), fc.constant('max-observed' as const), capacityArb),
      windowMinutes: fc.constantFrom(1, 15),
    });
  })
  .map((r) => {
    // The table is keyed by pair and sorted, as a snapshot's is; repeated pairs add up.
    const merged = new Map<string, { a: number; b: number; bytes: number }>();
    for (const p of r.pairs) {
      const a = Math.min(p.a, p.b);
      const b = Math.max(p.a, p.b);
      const e = merged.get(`${a},${b}`);
      if (e === undefined) merged.set(`${a},${b}`, { a, b, bytes: p.bytes });
      else e.bytes += p.bytes;
    }
    const list = [...merged.values()].sort((x, y) => x.a - y.a || x.b - y.b);
    const hostCapacity = new Map<string, Capacity>();
    r.capacities.forEach((c, h) => {
      if (c !== undefined) hostCapacity.set(`host-${h}`, c);
    });
    return {
      input: {
        vms: r.vms,
        pairs: {
          a: Int32Array.from(list, (p) => p.a),
          b: Int32Array.from(list, (p) => p.b),
          bytes: Float64Array.from(list, (p) => p.bytes),
        },
        hostCapacity,
        groups: r.groups === null ? null : Int32Array.from(r.groups),
        windowMinutes: r.windowMinutes,
      },
      options: { maxMoves: r.maxMoves, defaultCapacity: r.defaultCapacity },
    };
  });

/** Cross-host bytes per minute of a placement, from the input itself (not the module's graph). */
function crossHost(input: PlacementInput, hostOf: Map<string, string | null>): number {
  let sum = 0;
  for (let e = 0; e < input.pairs.a.length; e++) {
    const a = input.vms[input.pairs.a[e]!]!;
    const b = input.vms[input.pairs.b[e]!]!;
    const ha = hostOf.get(a.id);
    const hb = hostOf.get(b.id);
    if (a.id === b.id || ha == null || hb == null || ha === hb) continue;
    sum += input.pairs.bytes[e]! / input.windowMinutes;
  }
  return sum;
}

function capacityOf(c: Case, host: string): Capacity | null {
  const known = c.input.hostCapacity.get(host);
  if (known !== undefined) return known;
  const d = c.options.defaultCapacity ?? null;
  if (d === null || typeof d === 'object') return d;
  const loads = new Map<string, Capacity>();
  for (const vm of c.input.vms) {
    if (vm.host === null || vm.vcpus === null || vm.memoryMb === null) continue;
    const l = loads.get(vm.host) ?? { vcpus: 0, memoryMb: 0 };
    loads.set(vm.host, { vcpus: l.vcpus + vm.vcpus, memoryMb: l.memoryMb + vm.memoryMb });
  }
  return { vcpus: Math.max(0, ...[...loads.values()].map((l) => l.vcpus)), memoryMb: Math.max(0, ...[...loads.values()].map((l) => l.memoryMb)) };
}

/** Host distance of tiered costs, from the host labels of the input (1 across hosts without tiers). */
type Distance = (a: string, b: string) => number;

function tierDistance(input: PlacementInput, d: [number, number, number]): Distance {
  const labels = (h: string): Readonly<Record<string, string>> => input.hostCapacity.get(h)?.labels ?? {};
  return (a, b) => {
    if (a === b) return 0;
    const la = labels(a);
    const lb = labels(b);
    const za = la.zone ?? '';
    if (la.rack !== undefined && la.rack === lb.rack && za === (lb.zone ?? '')) return d[0];
    if (la.zone !== undefined && la.zone === lb.zone) return d[1];
    return d[2];
  };
}

/** Traffic x host distance per minute of a placement, from the input itself. */
function weightedCost(input: PlacementInput, hostOf: Map<string, string | null>, distance: Distance): number {
  let sum = 0;
  for (let e = 0; e < input.pairs.a.length; e++) {
    const a = input.vms[input.pairs.a[e]!]!;
    const b = input.vms[input.pairs.b[e]!]!;
    const ha = hostOf.get(a.id);
    const hb = hostOf.get(b.id);
    if (a.id === b.id || ha == null || hb == null) continue;
    sum += (input.pairs.bytes[e]! / input.windowMinutes) * distance(ha, hb);
  }
  return sum;
}

/**
 * Applies the moves in order and checks every constraint on each; returns the placement after them. With
 * tiers (`distance`), each step saves weighted cost, and `cost_saved` is that saving.
 */
function checkMoves(c: Case, advice: PlacementAdvice, distance: Distance | null = null): Map<string, string | null> {
  const byId = new Map(c.input.vms.map((v) => [v.id, v]));
  const hostOf = new Map(c.input.vms.map((v) => [v.id, v.host]));
  const load = (h: string): Capacity => {
    let vcpus = 0;
    let memoryMb = 0;
    for (const vm of c.input.vms)
      if (hostOf.get(vm.id) === h && vm.vcpus !== null && vm.memoryMb !== null) {
        vcpus += vm.vcpus;
        memoryMb += vm.memoryMb;
      }
    return { vcpus, memoryMb };
  };
  const moved = new Set<string>();
  const stepSaved = new Map<number, number>();
  let previous = crossHost(c.input, hostOf);
  let previousCost = distance === null ? 0 : weightedCost(c.input, hostOf, distance);
  expect(advice.migrations).toBeLessThanOrEqual(c.options.maxMoves ?? 20);
  for (const m of advice.moves) {
    expect(m.vm_ids.length).toBeGreaterThan(0);
    const cap = capacityOf(c, m.to_host);
    expect(cap).not.toBeNull();
    const before = load(m.to_host);
    // A host already over its capacity takes nothing.
    expect(before.vcpus <= cap!.vcpus && before.memoryMb <= cap!.memoryMb).toBe(true);
    for (const id of m.vm_ids) {
      const vm = byId.get(id)!;
      expect(moved.has(id)).toBe(false);
      moved.add(id);
      expect(hostOf.get(id)).toBe(m.from_host);
      expect(vm.labels?.pinned === 'true').toBe(false);
      expect(vm.vcpus).not.toBeNull();
      expect(vm.memoryMb).not.toBeNull();
      hostOf.set(id, m.to_host);
    }
    const after = load(m.to_host);
    expect(after.vcpus).toBeLessThanOrEqual(cap!.vcpus);
    expect(after.memoryMb).toBeLessThanOrEqual(cap!.memoryMb);
    expect(m.to_load.vcpus).toBe(after.vcpus);
    expect(m.to_load.memory_mb).toBe(after.memoryMb);
    expect(m.from_load.vcpus).toBe(load(m.from_host).vcpus);
    for (const id of m.vm_ids) {
      const g = byId.get(id)!.labels?.anti_affinity;
      if (g === undefined) continue;
      const others = c.input.vms.filter((v) => v.id !== id && v.labels?.anti_affinity === g && hostOf.get(v.id) === m.to_host);
      expect(others.map((v) => v.id)).toEqual([]);
    }
    const now = crossHost(c.input, hostOf);
    expect(m.bytes_per_minute_saved).toBeCloseTo(previous - now, 2);
    if (distance === null) stepSaved.set(m.step, (stepSaved.get(m.step) ?? 0) + previous - now);
    else {
      const cost = weightedCost(c.input, hostOf, distance);
      expect(m.cost_saved).toBeCloseTo(previousCost - cost, 2);
      stepSaved.set(m.step, (stepSaved.get(m.step) ?? 0) + previousCost - cost);
      previousCost = cost;
    }
    previous = now;
  }
  // A step (one VM, a group's part on one host, or a pair brought onto a third host) always saves.
  for (const saved of stepSaved.values()) expect(saved).toBeGreaterThan(0);
  expect(moved.size).toBe(advice.migrations);
  return hostOf;
}

/** The generated fleets with rack and zone labels on the hosts that announce a capacity, and tier distances. */
const tieredCaseArb: fc.Arbitrary<Case & { distances: [number, number, number] }> = caseArb.chain((c) =>
  fc
    .record({
      labels: fc.array(fc.record({ zone: fc.constantFrom('z1', 'z2', ''), rack: fc.constantFrom('r1', 'r2', '') }), { minLength: 7, maxLength: 7 }),
      distances: fc.constantFrom<[number, number, number]>([1, 2, 3], [1, 5, 20], [2, 2, 2]),
    })
    .map(({ labels, distances }) => {
      const hostCapacity = new Map<string, Capacity>();
      for (const [h, cap] of c.input.hostCapacity) {
        const l = labels[Number(h.slice('host-'.length))]!;
        hostCapacity.set(h, { ...cap, labels: Object.fromEntries(Object.entries(l).filter(([, v]) => v !== '')) });
      }
      const [sameRack, sameZone, acrossZones] = distances;
      return {
        input: { ...c.input, hostCapacity },
        options: { ...c.options, tiers: { rackLabel: 'rack', zoneLabel: 'zone', sameRack, sameZone, acrossZones } },
        distances,
      };
    }),
);

describe('placement advice over generated fleets', () => {
  it('with rack and zone tiers, every move keeps every constraint and saves weighted cost, and every figure is the real one', () => {
    let withMoves = 0;
    let tiered = 0;
    fc.assert(
      fc.property(tieredCaseArb, (c) => {
        const advice = advisePlacement(c.input, c.options);
        const distance = tierDistance(c.input, c.distances);
        const initial = new Map(c.input.vms.map((v) => [v.id, v.host]));
        const labelled = [...c.input.hostCapacity.values()].some((h) => Object.keys(h.labels ?? {}).length > 0);
        const after = checkMoves(c, advice, labelled ? distance : null);
        expect(advice.cross_host_bytes_per_minute.before).toBeCloseTo(crossHost(c.input, initial), 2);
        expect(advice.cross_host_bytes_per_minute.after).toBeCloseTo(crossHost(c.input, after), 2);
        // Tiers apply exactly when a host carries a tier label.
        expect(advice.weighted_cost !== undefined).toBe(labelled);
        if (advice.weighted_cost !== undefined) {
          tiered++;
          expect(advice.weighted_cost.before).toBeCloseTo(weightedCost(c.input, initial, distance), 2);
          expect(advice.weighted_cost.after).toBeCloseTo(weightedCost(c.input, after, distance), 2);
          if (advice.moves.length > 0) withMoves++;
        }
        expect(advice.no_moves_reason === null).toBe(advice.moves.length > 0);
      }),
      { seed: SEED, numRuns: 600 },
    );
    expect(tiered).toBeGreaterThan(300);
    expect(withMoves).toBeGreaterThan(100);
  });

  it('every suggested move keeps every constraint, and the reported savings are the real ones', () => {
    let withMoves = 0;
    fc.assert(
      fc.property(caseArb, (c) => {
        const advice = advisePlacement(c.input, c.options);
        const initial = new Map(c.input.vms.map((v) => [v.id, v.host]));
        const after = checkMoves(c, advice);
        expect(advice.cross_host_bytes_per_minute.before).toBeCloseTo(crossHost(c.input, initial), 2);
        expect(advice.cross_host_bytes_per_minute.after).toBeCloseTo(crossHost(c.input, after), 2);
        expect(advice.no_moves_reason === null).toBe(advice.moves.length > 0);
        if (advice.moves.length > 0) withMoves++;
      }),
      { seed: SEED, numRuns: 600 },
    );
    // The generator must exercise moves, not only refusals.
    expect(withMoves).toBeGreaterThan(100);
  });

  it('saves at least what the plain greedy baseline saves, and is deterministic', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const best = planPlacement(c.input, c.options);
        const baseline = planPlacement(c.input, { ...c.options, strategy: 'single' });
        expect(best.plan.saved).toBeGreaterThanOrEqual(baseline.plan.saved - 1e-6);
        expect(advisePlacement(c.input, c.options)).toEqual(advisePlacement(c.input, c.options));
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it("a tenant's advice holds only its own VMs, and each is a move of the fleet's advice", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const all = advisePlacement(c.input, c.options);
        const mine = advisePlacement(c.input, c.options, 't-a');
        const tenantOf = new Map(c.input.vms.map((v) => [v.id, v.tenant]));
        const fleetMoves = new Map(all.moves.flatMap((m) => m.vm_ids.map((id) => [id, `${m.from_host}>${m.to_host}`])));
        for (const m of mine.moves)
          for (const id of m.vm_ids) {
            expect(tenantOf.get(id)).toBe('t-a');
            expect(fleetMoves.get(id)).toBe(`${m.from_host}>${m.to_host}`);
          }
        const expected = [...fleetMoves.keys()].filter((id) => tenantOf.get(id) === 't-a').sort();
        expect(mine.moves.flatMap((m) => m.vm_ids).sort()).toEqual(expected);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });
});

function vm(id: string, host: string | null, extra: Partial<PlacementVm> = {}): PlacementVm {
  return { id, tenant: 't', host, vcpus: 2, memoryMb: 2048, labels: null, ...extra };
}

function input(vms: PlacementVm[], pairs: Array<[number, number, number]>, caps: Record<string, Capacity> = {}): PlacementInput {
  return {
    vms,
    pairs: {
      a: Int32Array.from(pairs, (p) => p[0]),
      b: Int32Array.from(pairs, (p) => p[1]),
      bytes: Float64Array.from(pairs, (p) => p[2]),
    },
    hostCapacity: new Map(Object.entries(caps)),
    groups: null,
    windowMinutes: 1,
  };
}

const roomy = { vcpus: 8, memoryMb: 8192 };

describe('placement advice on bad input', () => {
  it('moves the chatty VM to its peer when there is room', () => {
    const a = advisePlacement(input([vm('a', 'h1'), vm('b', 'h2'), vm('c', 'h2')], [[0, 1, 600], [1, 2, 60]], { h1: roomy, h2: roomy }));
    expect(a.moves.map((m) => [m.vm_ids, m.from_host, m.to_host, m.bytes_per_minute_saved])).toEqual([[['a'], 'h1', 'h2', 600]]);
    expect(a.cross_host_bytes_per_minute).toEqual({ before: 600, after: 0 });
    expect(a.moves[0]!.to_load).toEqual({ vcpus: 6, memory_mb: 6144, vcpus_capacity: 8, memory_mb_capacity: 8192 });
  });

  it('no fleet: no_vms', () => {
    expect(advisePlacement(input([], [])).no_moves_reason).toBe('no_vms');
  });

  it('VMs without a host: no moves, counted, their pairs left out', () => {
    const a = advisePlacement(input([vm('a', null), vm('b', null)], [[0, 1, 100]]));
    expect(a.moves).toEqual([]);
    expect(a.no_moves_reason).toBe('no_vm_has_a_host');
    expect(a.issues.vms_without_host).toBe(2);
    expect(a.issues.pairs_without_host).toBe(1);
  });

  it('zero traffic: no_traffic', () => {
    const a = advisePlacement(input([vm('a', 'h1'), vm('b', 'h2')], [[0, 1, 0]], { h1: roomy, h2: roomy }));
    expect(a.no_moves_reason).toBe('no_traffic');
    expect(a.cross_host_bytes_per_minute).toEqual({ before: 0, after: 0 });
  });

  it('unknown hosts and no default capacity: no_host_has_capacity, the hosts named', () => {
    const a = advisePlacement(input([vm('a', 'h1'), vm('b', 'h2')], [[0, 1, 100]]), { defaultCapacity: null });
    expect(a.no_moves_reason).toBe('no_host_has_capacity');
    expect(a.issues.hosts_without_capacity).toEqual(['h1', 'h2']);
    expect(a.blocked[0]).toMatchObject({ constraint: 'host_without_capacity', bytes_per_minute_saved: 100 });
  });

  it('unknown hosts take the default capacity from configuration', () => {
    const a = advisePlacement(input([vm('a', 'h1'), vm('b', 'h2')], [[0, 1, 100]]), { defaultCapacity: { vcpus: 4, memoryMb: 4096 } });
    expect(a.moves.map((m) => [m.vm_ids, m.to_host])).toEqual([[['a'], 'h2']]);
  });

  it('a host already over its capacity takes nothing: no_feasible_move, the host named', () => {
    const a = advisePlacement(
      input([vm('a', 'h1'), vm('b', 'h2', { vcpus: 16 })], [[0, 1, 100]], { h1: { vcpus: 1, memoryMb: 1024 }, h2: { vcpus: 8, memoryMb: 8192 } }),
    );
    expect(a.no_moves_reason).toBe('no_feasible_move');
    expect(a.issues.hosts_over_capacity).toEqual(['h1', 'h2']);
    expect(a.blocked.map((b) => [b.vm_ids, b.to_host, b.constraint])).toEqual([
      [['a'], 'h2', 'host_over_capacity'],
      [['b'], 'h1', 'host_over_capacity'],
    ]);
  });

  it('pinned VMs never move; anti-affinity keeps group members apart; the constraint is named', () => {
    const pinned = advisePlacement(
      input([vm('a', 'h1', { labels: { pinned: 'true' } }), vm('b', 'h2', { labels: { pinned: 'true' } })], [[0, 1, 100]], { h1: roomy, h2: roomy }),
    );
    expect(pinned.moves).toEqual([]);
    expect(pinned.blocked.map((b) => b.constraint)).toEqual(['pinned', 'pinned']);
    const apart = advisePlacement(
      input(
        [vm('a', 'h1', { labels: { anti_affinity: 'db' } }), vm('b', 'h2', { labels: { anti_affinity: 'db' } }), vm('c', 'h2')],
        [[0, 1, 500], [0, 2, 100]],
        { h1: roomy, h2: roomy },
      ),
    );
    // a would save 600 next to b and c, but b is in its anti-affinity group: c comes to a instead.
    expect(apart.moves.map((m) => [m.vm_ids, m.from_host, m.to_host, m.bytes_per_minute_saved, m.better_blocked?.constraint])).toEqual([
      [['c'], 'h2', 'h1', 100, undefined],
    ]);
  });

  it('capacity stops the better move and the advice says so', () => {
    const a = advisePlacement(
      input([vm('a', 'h1'), vm('b', 'h2', { vcpus: 6 }), vm('c', 'h3')], [[0, 1, 500], [0, 2, 100]], {
        h1: roomy,
        h2: { vcpus: 8, memoryMb: 8192 },
        h3: roomy,
      }),
      { maxMoves: 1 },
    );
    // h2 would have room for a (2 + 6 = 8), so shrink it: now only c's host fits.
    expect(a.moves[0]!.to_host).toBe('h2');
    const tight = advisePlacement(
      input([vm('a', 'h1', { vcpus: 3 }), vm('b', 'h2', { vcpus: 6 }), vm('c', 'h3')], [[0, 1, 500], [0, 2, 100]], {
        h1: roomy,
        h2: { vcpus: 8, memoryMb: 8192 },
        h3: roomy,
      }),
      { maxMoves: 1 },
    );
    expect(tight.moves.map((m) => [m.vm_ids, m.to_host, m.better_blocked])).toEqual([
      [['a'], 'h3', { vm_ids: ['a'], to_host: 'h2', bytes_per_minute_saved: 500, constraint: 'vcpus' }],
    ]);
  });

  it('an affinity group on one host moves as a unit when single moves cannot gain', () => {
    // a and b talk to each other on a full h1 and both to c on h2: moving either alone loses (it leaves
    // its partner), c does not fit on h1, moving both gains 200.
    const i = {
      ...input([vm('a', 'h1'), vm('b', 'h1'), vm('c', 'h2')], [[0, 1, 1000], [0, 2, 100], [1, 2, 100]], {
        h1: { vcpus: 4, memoryMb: 4096 },
        h2: { vcpus: 6, memoryMb: 6144 },
      }),
      groups: Int32Array.from([0, 0, 0]),
    };
    expect(planPlacement(i, { strategy: 'single' }).plan.saved).toBe(0);
    const a = advisePlacement(i);
    expect(a.moves.map((m) => [m.vm_ids, m.affinity_group, m.to_host, m.bytes_per_minute_saved])).toEqual([[['a', 'b'], 'g-0', 'h2', 200]]);
    expect(a.strategy).toBe('groups');
  });

  it('with tiers, moves a VM into its full peer host\'s rack, a move that saves no cross-host bytes', () => {
    // a (h1, z1/r1) talks most to b on the full h3 (z2/r3), a little to c on h2 (z1/r2); h4 shares b's rack.
    // b and c are pinned, so the only question is where a goes.
    const pinned = { labels: { pinned: 'true' } };
    const vms = [vm('a', 'h1'), vm('b', 'h3', pinned), vm('c', 'h2', pinned)];
    const caps: Record<string, Capacity> = {
      h1: { ...roomy, labels: { zone: 'z1', rack: 'r1' } },
      h2: { ...roomy, labels: { zone: 'z1', rack: 'r2' } },
      h3: { vcpus: 2, memoryMb: 2048, labels: { zone: 'z2', rack: 'r3' } },
      h4: { ...roomy, labels: { zone: 'z2', rack: 'r3' } },
    };
    const pairs: Array<[number, number, number]> = [
      [0, 1, 600],
      [0, 2, 100],
    ];
    const tiered = advisePlacement(input(vms, pairs, caps), { maxMoves: 1 });
    // Cost before 600 x 3 + 100 x 2 = 2000; a on h4: 600 x 1 + 100 x 3 = 900.
    expect(tiered.moves.map((m) => [m.vm_ids, m.from_host, m.to_host, m.bytes_per_minute_saved, m.cost_saved])).toEqual([[['a'], 'h1', 'h4', 0, 1100]]);
    expect(tiered.cross_host_bytes_per_minute).toEqual({ before: 700, after: 700 });
    expect(tiered.weighted_cost).toEqual({
      before: 2000,
      after: 900,
      distances: { same_host: 0, same_rack: 1, same_zone: 2, across_zones: 3 },
      rack_label: 'rack',
      zone_label: 'zone',
    });
    // Without the labels only a's small peer is worth joining: the same fleet, the move it cannot see.
    const plain = Object.fromEntries(Object.entries(caps).map(([h, c]) => [h, { vcpus: c.vcpus, memoryMb: c.memoryMb }]));
    const untiered = advisePlacement(input(vms, pairs, plain), { maxMoves: 1 });
    expect(untiered.moves.map((m) => [m.vm_ids, m.from_host, m.to_host, m.bytes_per_minute_saved, m.cost_saved])).toEqual([[['a'], 'h1', 'h2', 100, undefined]]);
    expect(untiered.weighted_cost).toBeUndefined();
    // Other label keys and distances from the options.
    const keyed = Object.fromEntries(Object.entries(caps).map(([h, c]) => [h, { ...c, labels: { az: c.labels!.zone!, tor: c.labels!.rack! } }]));
    const custom = advisePlacement(input(vms, pairs, keyed), { maxMoves: 1, tiers: { rackLabel: 'tor', zoneLabel: 'az', sameRack: 1, sameZone: 1, acrossZones: 1 } });
    // Every distance 1: the tiers change nothing, and the small peer wins again.
    expect(custom.moves.map((m) => [m.to_host, m.cost_saved])).toEqual([['h2', 100]]);
  });

  it('a budget of zero: move_budget_zero', () => {
    const a = advisePlacement(input([vm('a', 'h1'), vm('b', 'h2')], [[0, 1, 100]], { h1: roomy, h2: roomy }), { maxMoves: 0 });
    expect(a.no_moves_reason).toBe('move_budget_zero');
    expect(a.blocked.map((b) => b.constraint)).toEqual(['move_budget', 'move_budget']);
  });
});
