import { describe, expect, it } from 'vitest';
import { FleetState } from '../../src/fleet/fleet-state.ts';
import { takeRunInput } from '../../src/runs/run-input.ts';
import { defaultWindowConfig } from '../../src/windows/window-config.ts';
import { vmFeaturesOf as features } from '../helpers/features.ts';
import { flow, MIN, T0, vmAttrs } from '../helpers/records.ts';

describe('FleetState windows', () => {
  it('expires traffic older than the window, bucket by bucket', () => {
    const fleet = new FleetState(defaultWindowConfig);
    fleet.applyFlow(flow({ ts: T0, srcVm: 'a', bytes: 1_000_000, dstPort: 5432 }));
    fleet.applyFlow(flow({ ts: T0 + 10 * MIN, srcVm: 'a', bytes: 1000, dstPort: 443 }));
    expect(features(fleet, 'a').used_database_share).toBeCloseTo(1_000_000 / 1_001_000, 12);
    // 15 minutes after the first bucket it has left the window; the VM is still live through the second flow.
    fleet.applyFlow(flow({ ts: T0 + 15 * MIN, srcVm: 'b', bytes: 1 }));
    expect(features(fleet, 'a').used_database_share).toBe(0);
    expect(features(fleet, 'a').used_web_share).toBe(1);
    // Once its last flow is older than the window, the VM leaves the live set.
    fleet.applyFlow(flow({ ts: T0 + 26 * MIN, srcVm: 'b', bytes: 1 }));
    expect(takeRunInput(fleet).vmIds).toEqual(['b']);
  });

  it('counts late records within the allowed lateness in their own bucket, and rejects older ones', () => {
    const fleet = new FleetState({ ...defaultWindowConfig, allowedLatenessMs: 2 * MIN });
    expect(fleet.applyFlow(flow({ ts: T0 + 10 * MIN, srcVm: 'a', bytes: 100 }))).toBeNull();
    expect(fleet.applyFlow(flow({ ts: T0 + 8 * MIN, srcVm: 'a', bytes: 300 }))).toBeNull();
    const late = fleet.applyFlow(flow({ ts: T0 + 8 * MIN - 1, srcVm: 'a', bytes: 5000 }));
    expect(late?.reason).toBe('too_late');
    expect(fleet.watermark).toBe(T0 + 10 * MIN);
    const f = features(fleet, 'a');
    expect(10 ** f.log_bytes_per_min - 1).toBeCloseTo(400 / 15, 9);
    // Two buckets of 15 hold traffic.
    expect(f.active_share).toBeCloseTo(2 / 15, 12);
  });

  it('gives the newest attributes precedence and removes deleted VMs for good', () => {
    const fleet = new FleetState(defaultWindowConfig);
    fleet.applyFlow(flow({ ts: T0 + MIN, srcVm: 'a', dstVm: 'b' }));
    fleet.applyVmAttributes(vmAttrs({ ts: T0 + 2 * MIN, vmId: 'a', tenantId: 't1', vcpus: 8 }));
    fleet.applyVmAttributes(vmAttrs({ ts: T0 + MIN, vmId: 'a', tenantId: 't-old', vcpus: 2 }));
    expect(fleet.vms.get('a')?.tenantId).toBe('t1');
    expect(fleet.counters.vmAttributesStale).toBe(1);
    fleet.applyVmAttributes(vmAttrs({ ts: T0 + 3 * MIN, vmId: 'b', tenantId: 't1', state: 'deleted' }));
    fleet.applyFlow(flow({ ts: T0 + 4 * MIN, srcVm: 'b', dstVm: 'a' }));
    fleet.applyVmAttributes(vmAttrs({ ts: T0 + 2 * MIN, vmId: 'b', tenantId: 't1' }));
    expect(takeRunInput(fleet).vmIds).toEqual(['a']);
    // Newer attributes re-create the id.
    fleet.applyVmAttributes(vmAttrs({ ts: T0 + 5 * MIN, vmId: 'b', tenantId: 't1' }));
    expect(takeRunInput(fleet).vmIds).toEqual(['a', 'b']);
  });

  it('follows live migration: cross-host traffic is judged by the host at the time of the record', () => {
    const fleet = new FleetState(defaultWindowConfig);
    fleet.applyVmAttributes(vmAttrs({ vmId: 'a', tenantId: 't', hostId: 'n1' }));
    fleet.applyVmAttributes(vmAttrs({ vmId: 'b', tenantId: 't', hostId: 'n1' }));
    fleet.applyFlow(flow({ ts: T0 + MIN, srcVm: 'a', dstVm: 'b', bytes: 100 }));
    fleet.applyVmAttributes(vmAttrs({ ts: T0 + 2 * MIN, vmId: 'b', tenantId: 't', hostId: 'n2' }));
    fleet.applyFlow(flow({ ts: T0 + 3 * MIN, srcVm: 'a', dstVm: 'b', bytes: 300 }));
    expect(features(fleet, 'a').cross_host_share).toBeCloseTo(0.75, 12);
    expect(features(fleet, 'a').same_tenant_peer_share).toBe(1);
  });
});

describe('FleetState bounded memory', () => {
  it('forgets a VM silent for the idle time, frees its ring for the next VM, and brings it back as new', () => {
    const fleet = new FleetState({ ...defaultWindowConfig, idleMs: 30 * MIN });
    fleet.applyVmAttributes(vmAttrs({ ts: T0, vmId: 'quiet', tenantId: 't1', vcpus: 4 }));
    fleet.applyFlow(flow({ ts: T0 + MIN, srcVm: 'quiet', dstVm: 'busy' }));
    const ring = fleet.vms.get('quiet')!.ring;
    // The sweep runs as the watermark enters a new bucket: 'quiet' was last seen at T0 + 1 min.
    fleet.applyFlow(flow({ ts: T0 + 31 * MIN - 1, srcVm: 'busy' }));
    expect(fleet.vms.has('quiet')).toBe(true);
    fleet.applyFlow(flow({ ts: T0 + 31 * MIN, srcVm: 'busy' }));
    expect(fleet.vms.has('quiet')).toBe(true);
    // Same bucket: no sweep yet, although 'quiet' is now silent for more than 30 min.
    fleet.applyFlow(flow({ ts: T0 + 31 * MIN + 1, srcVm: 'busy' }));
    expect(fleet.vms.has('quiet')).toBe(true);
    fleet.applyFlow(flow({ ts: T0 + 32 * MIN, srcVm: 'busy' }));
    expect(fleet.vms.has('quiet')).toBe(false);
    expect(fleet.counters.vmsExpired).toBe(1);
    expect(fleet.vmBySerial(0)).toBeUndefined();
    fleet.applyFlow(flow({ ts: T0 + 32 * MIN, srcVm: 'newcomer' }));
    expect(fleet.vms.get('newcomer')!.ring).toBe(ring);
    expect(fleet.slab.size).toBe(2);
    // Back as a new VM: a new serial, no attributes until the next message.
    fleet.applyFlow(flow({ ts: T0 + 33 * MIN, srcVm: 'quiet', dstVm: 'busy' }));
    expect(fleet.vms.get('quiet')!.attributes).toBeNull();
    expect(fleet.vms.get('quiet')!.serial).toBe(3);
    expect(features(fleet, 'busy').log_peers_in).toBe(1);
  });

  it('forgets tombstones of deleted VMs after their retention', () => {
    const fleet = new FleetState({ ...defaultWindowConfig, deletedRetentionMs: 60 * MIN });
    fleet.applyFlow(flow({ ts: T0, srcVm: 'a', dstVm: 'b' }));
    fleet.applyVmAttributes(vmAttrs({ ts: T0 + MIN, vmId: 'a', tenantId: 't1', state: 'deleted' }));
    fleet.applyFlow(flow({ ts: T0 + 61 * MIN, srcVm: 'b', dstVm: 'a' }));
    expect(fleet.deleted.has('a')).toBe(true);
    expect(fleet.counters.flowsForDeletedVms).toBe(0);
    fleet.applyFlow(flow({ ts: T0 + 62 * MIN, srcVm: 'b' }));
    expect(fleet.deleted.has('a')).toBe(false);
    expect(fleet.counters.deletedForgotten).toBe(1);
  });

  it('refuses new VMs beyond maxVms with a count, and keeps the tracked ones working', () => {
    const fleet = new FleetState({ ...defaultWindowConfig, maxVms: 2 });
    const hits: string[] = [];
    fleet.onCapHit = (cap, n) => hits.push(`${cap}:${n}`);
    fleet.applyFlow(flow({ ts: T0, srcVm: 'a', dstVm: 'b', bytes: 100 }));
    fleet.applyFlow(flow({ ts: T0, srcVm: 'a', dstVm: 'c', bytes: 100 }));
    // Lost records are rejections (vm_cap), so that they are counted by reason and kept; a flow with one
    // tracked end ('a' to the refused 'c') is applied to that end.
    expect(fleet.applyVmAttributes(vmAttrs({ vmId: 'd', tenantId: 't1' }))).toEqual({ reason: 'vm_cap', field: 'vm_id', message: 'VM not tracked: 2 VMs are (max_vms)' });
    for (let i = 0; i < 9; i++)
      expect(fleet.applyFlow(flow({ ts: T0, srcVm: 'e', dstVm: 'f' }))).toEqual({ reason: 'vm_cap', field: null, message: 'no VM of the flow is tracked: 2 VMs are (max_vms)' });
    expect([...fleet.vms.keys()]).toEqual(['a', 'b']);
    expect(fleet.counters.vmsRefused).toBe(20);
    expect(fleet.counters.flowsRefused).toBe(9);
    expect(fleet.counters.flowsApplied).toBe(2);
    expect(fleet.counters.vmAttributesApplied).toBe(0);
    expect(hits).toEqual(['max_vms:1', 'max_vms:10']);
    // 'c' still counts as a peer of 'a' (by its id) and a's bytes are all there.
    const a = features(fleet, 'a');
    expect(a.log_peers_out).toBe(Math.log2(3));
    expect(10 ** a.log_bytes_per_min - 1).toBeCloseTo(200 / 15, 9);
  });

  it('counts pairs refused at maxVmPairs and peer sets that switched to a sketch', () => {
    const fleet = new FleetState({ ...defaultWindowConfig, maxVmPairs: 1, maxPeersPerVm: 2 });
    for (const peer of ['p1', 'p2', 'p3', 'p4']) fleet.applyFlow(flow({ ts: T0, srcVm: 'hub', dstVm: peer }));
    expect(fleet.pairs.size).toBe(1);
    expect(fleet.counters.vmPairsRefused).toBe(3);
    expect(fleet.counters.peerSetsSketched).toBe(1);
    // Four peers, counted by the sketch (exact this far below its registers).
    expect(features(fleet, 'hub').log_peers_out).toBeCloseTo(Math.log2(5), 12);
  });
});
