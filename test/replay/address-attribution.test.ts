/**
 * Issue 14's goal for attribution: traffic whose flows carry only addresses and the VNI (as collectors
 * publish them) gives the same VM partition as the same traffic naming its VMs, also when every VPC reuses
 * the same private addresses, with addresses of deleted VMs given to new ones.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import { adjustedRandIndex } from '../../src/evaluation/metrics.ts';
import { type AddressPlan, TraceGenerator } from '../../src/generator/index.ts';
import { type ReplayOutcome, replayTrace } from '../../src/replay/replay.ts';

const dir = mkdtempSync(join(tmpdir(), 'address-attribution-'));

async function replayGenerated(addresses: AddressPlan, addressOnly: boolean, seed: number): Promise<ReplayOutcome> {
  const gen = new TraceGenerator({ name: 'attr', seed, vms: 300, tenants: 30, minutes: 25, addresses, addressOnly });
  const path = join(dir, `${addresses}-${seed}-${addressOnly ? 'addresses' : 'named'}.jsonl`);
  writeFileSync(path, `${[...gen.lines()].join('\n')}\n`);
  const options = PipelineOptions.parse({});
  return replayTrace(path, { pipeline: toPipelineConfig(options), run: toRunOptions(options) });
}

describe.each([
  ['shared', 21],
  ['per-vpc', 22],
] as const)('address-only flows, %s addresses (seed %i)', (addresses, seed) => {
  it('give the VM partition of the same traffic naming its VMs (ARI >= 0.99)', async () => {
    const named = await replayGenerated(addresses, false, seed);
    const addressed = await replayGenerated(addresses, true, seed);
    const a = named.result.vm_clusters;
    const b = addressed.result.vm_clusters;
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    const ids = Object.keys(a);
    expect(ids.length).toBeGreaterThan(250);
    const ari = adjustedRandIndex(
      ids.map((id) => a[id] as string),
      ids.map((id) => b[id] as string),
    );
    expect(ari).toBeGreaterThanOrEqual(0.99);

    expect(named.result.stats.flow_ends_by_address).toBe(0);
    const s = addressed.result.stats;
    expect(s.flow_ends_named).toBe(0);
    // Every end the named trace names is found by address, but those of VMs whose first attributes came
    // minutes after their first flows (late attributes do not reach back to flows already applied).
    expect(s.flow_ends_by_address).toBeGreaterThan(0.98 * (named.result.stats.flow_ends_named as number));
    expect(s.flow_ends_ambiguous_no_vni).toBe(0);
    expect(s.flow_ends_conflicting_claims).toBe(0);
    // Flows of which neither end is found (only those before late first attributes) stay missing_vm rejects.
    expect(addressed.result.rejected.by_reason.missing_vm ?? 0).toBeLessThan(0.01 * (s.flow_records as number));
  }, 120_000);
});
