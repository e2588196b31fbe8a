import { describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig } from '../../src/config/pipeline-options.ts';
import { runToEnd } from '../../src/core/slices.ts';
import { hostCapacityFacts } from '../../src/runs/run-input.ts';
import { vmKey } from '../../src/topology/by-vm.ts';
import { GATHER_ITEMS_PER_STEP, gatherSnapshot, gatherSnapshotSteps } from '../../src/topology/gather.ts';
import { LocalTopology, tenantInfos } from '../../src/topology/local-topology.ts';
import { traceMessages } from '../../src/trace/trace-messages.ts';

describe("the leader's gather, run while it serves reads", () => {
  it('comes in steps of at most the given items (a row and its peers, a held VM, a pair), and equals the gather at once', async () => {
    const config = toPipelineConfig(PipelineOptions.parse({}));
    const topology = new LocalTopology(config, 3, () => {}, (key) => vmKey(key));
    (await traceMessages('fixtures/small.jsonl.gz')).forEach(([topic, text], i) => {
      topology.ingest(topic, text, `m${i}`);
      if (i % 50 === 49) topology.endOfBatch();
    });
    topology.endOfBatch();
    const parts = topology.partitions.map((p) => p.features(null, 'req-1'));
    const tenants = tenantInfos(topology.tenants);
    const hosts = hostCapacityFacts(topology.tenants);
    const whole = gatherSnapshot(parts, tenants, hosts);
    expect(whole.vmIds.length).toBe(485);
    expect(whole.vmPairs.a.length).toBeGreaterThan(700);

    const steps = gatherSnapshotSteps(parts, tenants, hosts, 100);
    const sizes: number[] = [];
    let r = steps.next();
    for (; r.done !== true; r = steps.next()) sizes.push(r.value);
    expect(r.value).toEqual(whole);
    // A step may run over by one VM's peers (a row is not cut): never by more.
    let maxPeers = 0;
    for (const part of parts) for (let i = 0; i < part.vmIds.length; i++) maxPeers = Math.max(maxPeers, part.peerCounts[2 * i]! + part.peerCounts[2 * i + 1]!);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(100 + maxPeers);
    // Every row, held VM, pair and sorted edge is counted in some step: the work is all cut, none done at once.
    const held = parts.reduce((n, p) => n + p.heldIds.length, 0);
    const pairs = parts.reduce((n, p) => n + p.pairLo.length, 0);
    expect(sizes.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2 * 485 + held + pairs + 4 * whole.vmPairs.a.length);
    expect(sizes.length).toBeGreaterThan(40);
    // What a member uses (gatherSnapshotInSlices): a few hundred steps at 11.6k VMs.
    expect(GATHER_ITEMS_PER_STEP).toBeLessThanOrEqual(2000);
  }, 60_000);

  it('takes the rows in id order from the partitions in any order, as the sort of one process does', async () => {
    const config = toPipelineConfig(PipelineOptions.parse({}));
    const topology = new LocalTopology(config, 4, () => {}, (key) => vmKey(key));
    (await traceMessages('fixtures/small.jsonl.gz')).slice(0, 1500).forEach(([topic, text], i) => {
      topology.ingest(topic, text, `m${i}`);
    });
    topology.endOfBatch();
    const parts = topology.partitions.map((p) => p.features(null, 'req-1'));
    const input = runToEnd(gatherSnapshotSteps([...parts].reverse(), [], [], 7));
    expect(input.vmIds).toEqual([...input.vmIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(input.vmIds.length).toBe(parts.reduce((n, p) => n + p.vmIds.length, 0));
  }, 60_000);
});
