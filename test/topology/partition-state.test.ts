import { describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig } from '../../src/config/pipeline-options.ts';
import type { VmAttributes } from '../../src/contract/records.ts';
import { PartitionState } from '../../src/topology/partition-state.ts';

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
