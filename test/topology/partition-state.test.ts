import { describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig } from '../../src/config/pipeline-options.ts';
import { emptyFlowRecord, type VmAttributes } from '../../src/contract/records.ts';
import { runToEnd } from '../../src/core/slices.ts';
import { type ByVmRecord, vmKey } from '../../src/topology/by-vm.ts';
import { LocalTopology } from '../../src/topology/local-topology.ts';
import { FEATURES_VMS_PER_STEP, PartitionState } from '../../src/topology/partition-state.ts';
import { traceMessages } from '../../src/trace/trace-messages.ts';

const window = { ...toPipelineConfig(PipelineOptions.parse({})).window, maxVms: 2 };
const T = Date.UTC(2026, 10, 1);

function vm(vmId: string): VmAttributes {
  return { ts: T, vmId, tenantId: 't', vpcId: null, vni: null, subnetId: null, ip: null, image: null, hostId: null, vcpus: 2, memoryMb: 4096, state: 'active', cpuUtil: null, labels: null };
}

describe('a window partition at its VM cap', () => {
  it('reports the attributes it refuses (the member dead-letters them), and keeps the VMs it holds', () => {
    const state = new PartitionState(0, window);
    expect(state.apply({ k: 'v', r: vm('vm-a'), w: null, sa: null })).toBe('applied');
    expect(state.apply({ k: 'v', r: vm('vm-b'), w: null, sa: null })).toBe('applied');
    const outcome = state.apply({ k: 'v', r: vm('vm-c'), w: null, sa: null });
    expect(outcome).toEqual({ refused: expect.objectContaining({ reason: 'vm_cap', field: 'vm_id' }) });
    // A VM already held is never refused.
    expect(state.apply({ k: 'v', r: { ...vm('vm-a'), ts: T + 1 }, w: null, sa: null })).toBe('applied');
    expect(state.refusedAtCap).toBe(1);
    expect([...state.fleet.vms.keys()].sort()).toEqual(['vm-a', 'vm-b']);
  });
});

/** The small fixture through a topology of `partitions` window partitions, as the members would hold it. */
async function smallFixtureTopology(partitions: number): Promise<LocalTopology> {
  const config = toPipelineConfig(PipelineOptions.parse({}));
  const topology = new LocalTopology(config, partitions, () => {}, (key) => vmKey(key));
  (await traceMessages('fixtures/small.jsonl.gz')).forEach(([topic, text], i) => {
    topology.ingest(topic, text, `m${i}`);
    if (i % 50 === 49) topology.endOfBatch();
  });
  topology.endOfBatch();
  return topology;
}

describe("a window partition's features, computed while the member serves reads", () => {
  it('come in steps of at most the given VMs each, twice over the VMs (features, then peers), and equal the features computed at once', async () => {
    const a = (await smallFixtureTopology(1)).partitions[0]!;
    // A copy through the checkpoint codec: computing features purges the windows it reads.
    const b = PartitionState.restore(0, a.window, a.encodeFleet());
    const whole = a.features(null, 'req-1');
    expect(whole.vmIds.length).toBe(485);
    const steps = b.featuresSteps(null, 'req-1', 40);
    const sizes: number[] = [];
    let r = steps.next();
    for (; r.done !== true; r = steps.next()) sizes.push(r.value);
    // The live VMs sorted by id first: 485 placed by the runs and by each of 4 merge passes (widths 32 to
    // 256), 40 x 32 at a time. Then 485 VMs in steps of 40: twelve full steps and one of 5, for the features;
    // then the run input's traffic graph: the pair table's 2,048 slots, 40 x 50 at a time, counted for the
    // purge (none gone: no rebuild) and walked (no edge of it joins two rows of this fixture's partition, so
    // none to order); then the peers, again by 40 VMs; then the table's slots for its own pairs, likewise.
    const one = [...Array<number>(12).fill(40), 5];
    const slots = [2000, 48, 2000, 48];
    expect(sizes).toEqual([1280, 1145, ...one, ...slots, ...one, ...slots]);
    expect(r.value).toEqual(whole);
    // What a member uses (featuresInSlices): far below the partitions' sizes at 10k VMs and more.
    expect(FEATURES_VMS_PER_STEP).toBeLessThanOrEqual(200);
    expect(runToEnd(new PartitionState(0, b.window).featuresSteps(null, null, 40)).vmIds).toEqual([]);
  }, 60_000);
});

describe('a window partition announced a tick by several routers', () => {
  const MIN = 60_000;
  /** A tick as a router announces it, stamped with that router's watermark. */
  const tick = (at: number, w: number) => ({ k: 't' as const, tick: T + at * MIN, w: T + w * MIN, sa: null });
  const flow = (w: number) => ({
    k: 'f' as const,
    o: true,
    w: T + w * MIN,
    sa: null,
    r: { ...emptyFlowRecord(), ts: T + w * MIN, srcVm: 'vm-a', dstVm: 'vm-b', srcIp: '10.0.0.1', dstIp: '10.0.0.2', srcPort: 40000, dstPort: 443, protocol: 6, bytes: 1000 + w, packets: 3 },
  });
  /** Applies the records as a member does: features computed (the windows purged) at each publish. */
  const run = (state: PartitionState, records: readonly ByVmRecord[]) =>
    records.map((r) => {
      const outcome = state.apply(r);
      if (outcome === 'publish') state.features(r.k === 't' ? r.tick : null, null);
      return outcome;
    });
  // Three routers (one per input partition) each announce 5 and 10; the second is behind the first.
  const stream = [flow(1), tick(5, 5), flow(6), tick(5, 5), tick(10, 11), flow(11), tick(5, 6), tick(10, 10), flow(12), tick(10, 12)];

  it('publishes each tick once, at its first announcement, and the checkpoint carries which', () => {
    const state = new PartitionState(0, window);
    state.apply({ k: 'v', r: vm('vm-a'), w: null, sa: null });
    const outcomes = run(state, stream);
    expect(outcomes).toEqual(['applied', 'publish', 'applied', 'applied', 'publish', 'applied', 'applied', 'applied', 'applied', 'applied']);
    expect(state.publishedTick).toBe(T + 10 * MIN);

    // A successor restoring the checkpoint taken after the first announcement of 5 (the member checkpoints
    // at a publish) makes the very same choices over the rest of the stream.
    const before = new PartitionState(0, window);
    before.apply({ k: 'v', r: vm('vm-a'), w: null, sa: null });
    run(before, stream.slice(0, 2));
    const restored = PartitionState.restore(0, window, before.encodeFleet(), before.publishedTick);
    expect(run(restored, stream.slice(2))).toEqual(outcomes.slice(2));
    expect(Buffer.from(restored.encodeFleet()).equals(Buffer.from(state.encodeFleet()))).toBe(true);
    // Without it (a checkpoint of an earlier version) the repeated announcement of 5 would publish again.
    const forgetful = PartitionState.restore(0, window, before.encodeFleet(), null);
    expect(forgetful.apply(stream[2]!)).toBe('applied');
    expect(forgetful.apply(stream[3]!)).toBe('publish');
  });
});

describe('a window partition given a flow side older than its rings (a router far behind another)', () => {
  const MIN = 60_000;
  const open = toPipelineConfig(PipelineOptions.parse({})).window;
  /** vm-a's side of a flow at minute `at`, stamped by a router whose watermark is at minute `w`. */
  const half = (at: number, w: number, dst = 'vm-b'): ByVmRecord => ({
    k: 'f',
    o: true,
    w: T + w * MIN,
    sa: null,
    r: { ...emptyFlowRecord(), ts: T + at * MIN, srcVm: 'vm-a', dstVm: dst, srcIp: '10.0.0.1', dstIp: '10.0.0.2', srcPort: 40000, dstPort: 443, protocol: 6, bytes: 1000, packets: 3 },
  });

  it('refuses it as too_late with no effect, counts it, and applies the oldest bucket the rings still hold', () => {
    const state = new PartitionState(0, open);
    // 15 buckets of a minute: a ring holds 16, so at minute 20 the oldest is minute 5.
    expect(state.apply(half(1, 1))).toBe('applied');
    expect(state.apply(half(20, 20))).toBe('applied');
    const late = state.apply(half(4, 4, 'vm-late'));
    expect(late).toEqual({ refused: expect.objectContaining({ reason: 'too_late', field: 'ts' }) });
    expect(typeof late === 'object' && late.refused.message).toBe(
      'ts is 960 s behind the watermark of the window partition holding vm-a, beyond its window: that side of the flow is not applied',
    );
    expect(state.apply(half(5, 5))).toBe('applied');
    expect(state.refusedTooLate).toBe(1);
    // Honest: the refused side is not counted as applied, and it made no pair and kept nothing alive.
    expect(state.fleet.counters.flowsApplied).toBe(3);
    expect(state.fleet.vms.get('vm-a')?.lastSeen).toBe(T + 20 * MIN);
    expect(state.fleet.watermark).toBe(T + 20 * MIN);
    const pairs = new Set<string>();
    const b0 = state.fleet.bucketOf(T);
    state.fleet.pairs.forEach(b0, b0 + 30, (lo, hi) => void pairs.add(`${lo}-${hi}`));
    expect([...pairs]).toEqual([`${vmKey('vm-a')}-${vmKey('vm-b')}`]);
  });
});
