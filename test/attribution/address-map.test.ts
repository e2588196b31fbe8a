import { describe, expect, it } from 'vitest';
import { BlockList } from 'node:net';
import { AddressMap, type AddressMapConfig, isPrivateAddress } from '../../src/attribution/address-map.ts';
import type { FlowRecord, VmAttributes } from '../../src/contract/records.ts';
import { flow, MIN, T0, vmAttrs } from '../helpers/records.ts';

const config: AddressMapConfig = { horizonMs: 20 * MIN, maxClaims: 1000 };

function vm(vmId: string, ip: string | null, vpcId: string | null, vni: number | null, ts = T0, state: VmAttributes['state'] = 'active'): VmAttributes {
  return vmAttrs({ vmId, tenantId: 't', ip, vpcId, vni, ts, state });
}

/** An address-only flow from `src` to `dst`. */
function addressed(srcIp: string, dstIp: string, vni: number | null, ts = T0 + MIN): FlowRecord {
  return flow({ srcVm: null, dstVm: null, srcIp, dstIp, vni, ts });
}

function ends(map: AddressMap, f: FlowRecord): [string | null, string | null] {
  map.attribute(f);
  return [f.srcVm, f.dstVm];
}

describe('address map', () => {
  it('tells the same address in two VPCs apart by the flow VNI', () => {
    const map = new AddressMap(config);
    map.observe(vm('a1', '10.0.0.1', 'vpc-a', 100));
    map.observe(vm('a2', '10.0.0.2', 'vpc-a', 100));
    map.observe(vm('b1', '10.0.0.1', 'vpc-b', 200));
    map.observe(vm('b2', '10.0.0.2', 'vpc-b', 200));
    expect(ends(map, addressed('10.0.0.1', '10.0.0.2', 100))).toEqual(['a1', 'a2']);
    expect(ends(map, addressed('10.0.0.2', '10.0.0.1', 200))).toEqual(['b2', 'b1']);
    expect(map.counters.endsByAddress).toBe(4);
  });

  it('never guesses: no VNI with the address in two VPCs is ambiguous_no_vni, an unknown address unknown_address', () => {
    const map = new AddressMap(config);
    map.observe(vm('a1', '10.0.0.1', 'vpc-a', 100));
    map.observe(vm('b1', '10.0.0.1', 'vpc-b', 200));
    expect(ends(map, addressed('10.0.0.1', '10.9.9.9', null))).toEqual([null, null]);
    expect(ends(map, addressed('10.0.0.1', '10.0.0.1', 300))).toEqual([null, null]);
    expect(map.counters.unattributed).toEqual({ unknown_address: 3, ambiguous_no_vni: 1, conflicting_claims: 0 });
  });

  it('without a VNI, an address held in one VPC only is attributed', () => {
    const map = new AddressMap(config);
    map.observe(vm('a1', '10.0.0.1', 'vpc-a', 100));
    expect(ends(map, addressed('10.0.0.1', '10.0.0.9', null))).toEqual(['a1', null]);
  });

  it('two live VMs claiming one address in one VPC is conflicting_claims', () => {
    const map = new AddressMap(config);
    map.observe(vm('a1', '10.0.0.1', 'vpc-a', 100));
    map.observe(vm('a2', '10.0.0.1', 'vpc-a', 100));
    expect(ends(map, addressed('10.0.0.1', '10.0.0.1', 100))).toEqual([null, null]);
    expect(ends(map, addressed('10.0.0.1', '10.0.0.1', null))).toEqual([null, null]);
    expect(map.counters.unattributed.conflicting_claims).toBe(4);
  });

  it('a VPC whose VNI the attributes do not give matches any VNI when it is the only holder, and is ambiguous when it is not', () => {
    const map = new AddressMap(config);
    map.observe(vm('a1', '10.0.0.1', 'vpc-a', null));
    expect(ends(map, addressed('10.0.0.1', '10.0.0.9', 100))).toEqual(['a1', null]);
    map.observe(vm('b1', '10.0.0.1', 'vpc-b', null));
    expect(ends(map, addressed('10.0.0.1', '10.0.0.9', 100))).toEqual([null, null]);
    expect(map.counters.unattributed.ambiguous_no_vni).toBe(1);
    // A holder whose VNI is known and matches wins over those whose VNI is not known.
    map.observe(vm('c1', '10.0.0.1', 'vpc-c', 100));
    expect(ends(map, addressed('10.0.0.1', '10.0.0.9', 100))).toEqual(['c1', null]);
  });

  it('attributes by the holder at the flow time: an address freed by a deletion and given to a new VM', () => {
    const map = new AddressMap(config);
    map.observe(vm('old', '10.0.0.1', 'vpc-a', 100, T0));
    map.observe(vm('old', null, 'vpc-a', 100, T0 + 5 * MIN, 'deleted'));
    map.observe(vm('new', '10.0.0.1', 'vpc-a', 100, T0 + 7 * MIN));
    // Flows in any order: the late one (before the deletion) still goes to the old VM.
    expect(ends(map, addressed('10.0.0.1', '10.0.0.9', 100, T0 + 8 * MIN))[0]).toBe('new');
    expect(ends(map, addressed('10.0.0.1', '10.0.0.9', 100, T0 + 4 * MIN))[0]).toBe('old');
    expect(ends(map, addressed('10.0.0.1', '10.0.0.9', 100, T0 + 6 * MIN))[0]).toBeNull();
    expect(ends(map, addressed('10.0.0.1', '10.0.0.9', 100, T0 - MIN))[0]).toBeNull();
  });

  it('a VM that changes address keeps the old one until the change; a message without an address changes nothing', () => {
    const map = new AddressMap(config);
    map.observe(vm('a', '10.0.0.1', 'vpc-a', 100, T0));
    map.observe(vm('a', null, 'vpc-a', 100, T0 + 2 * MIN));
    map.observe(vm('a', '10.0.0.2', 'vpc-a', 100, T0 + 5 * MIN));
    expect(map.lookup('10.0.0.1', 100, T0 + 4 * MIN)).toBe('a');
    expect(map.lookup('10.0.0.1', 100, T0 + 5 * MIN)).toBeNull();
    expect(map.lookup('10.0.0.2', 100, T0 + 5 * MIN)).toBe('a');
  });

  it('honours late attributes: an older message moves the claim back, or records the earlier address', () => {
    const map = new AddressMap(config);
    map.observe(vm('a', '10.0.0.1', 'vpc-a', 100, T0 + 5 * MIN));
    expect(map.lookup('10.0.0.1', 100, T0 + 2 * MIN)).toBeNull();
    map.observe(vm('a', '10.0.0.1', 'vpc-a', 100, T0 + 2 * MIN));
    expect(map.lookup('10.0.0.1', 100, T0 + 2 * MIN)).toBe('a');
    map.observe(vm('a', '10.0.0.7', 'vpc-a', 100, T0));
    expect(map.lookup('10.0.0.7', 100, T0 + MIN)).toBe('a');
    expect(map.lookup('10.0.0.7', 100, T0 + 2 * MIN)).toBeNull();
    expect(map.lookup('10.0.0.1', 100, T0 + MIN)).toBeNull();
  });

  it('a deletion is final against older messages; a newer one brings the VM back', () => {
    const map = new AddressMap(config);
    map.observe(vm('a', '10.0.0.1', 'vpc-a', 100, T0));
    map.observe(vm('a', null, null, null, T0 + 5 * MIN, 'deleted'));
    map.observe(vm('a', '10.0.0.1', 'vpc-a', 100, T0 + 3 * MIN));
    expect(map.lookup('10.0.0.1', 100, T0 + 6 * MIN)).toBeNull();
    map.observe(vm('a', '10.0.0.1', 'vpc-a', 100, T0 + 9 * MIN));
    expect(map.lookup('10.0.0.1', 100, T0 + 10 * MIN)).toBe('a');
  });

  it('a flow naming a VM keeps its ends: the null one is outside, never looked up', () => {
    const map = new AddressMap(config);
    map.observe(vm('a', '10.0.0.1', 'vpc-a', 100));
    map.observe(vm('b', '10.0.0.2', 'vpc-a', 100));
    const f = flow({ srcVm: 'x', dstVm: null, srcIp: '10.0.0.1', dstIp: '10.0.0.2', vni: 100, ts: T0 + MIN });
    expect(ends(map, f)).toEqual(['x', null]);
    expect(map.counters).toMatchObject({ endsNamed: 1, endsOutside: 1, endsByAddress: 0 });
  });

  it('is capped: a new claim beyond maxClaims is refused and counted; ended claims go past the horizon', () => {
    const map = new AddressMap({ horizonMs: 10 * MIN, maxClaims: 2 });
    map.observe(vm('a', '10.0.0.1', 'vpc-a', 100, T0));
    map.observe(vm('b', '10.0.0.2', 'vpc-a', 100, T0));
    map.observe(vm('c', '10.0.0.3', 'vpc-a', 100, T0));
    expect([map.size, map.counters.claimsRefused]).toEqual([2, 1]);
    expect(map.lookup('10.0.0.3', 100, T0 + MIN)).toBeNull();
    map.observe(vm('a', null, null, null, T0 + MIN, 'deleted'));
    map.prune(T0 + 11 * MIN);
    expect([map.size, map.counters.claimsForgotten]).toEqual([2, 0]);
    map.prune(T0 + 11 * MIN + 1);
    expect([map.size, map.counters.claimsForgotten]).toEqual([1, 1]);
    map.observe(vm('c', '10.0.0.3', 'vpc-a', 100, T0 + 12 * MIN));
    expect(map.lookup('10.0.0.3', 100, T0 + 12 * MIN)).toBe('c');
  });

  it('exports and restores its state exactly', () => {
    const map = new AddressMap(config);
    map.observe(vm('a', '10.0.0.1', 'vpc-a', 100, T0));
    map.observe(vm('a', null, null, null, T0 + 5 * MIN, 'deleted'));
    map.observe(vm('b', '10.0.0.1', 'vpc-b', 200, T0));
    map.attribute(addressed('10.0.0.1', '10.0.0.1', null));
    const copy = new AddressMap(config, map.exportState());
    expect(copy.exportState()).toEqual(map.exportState());
    expect(copy.size).toBe(2);
    expect(copy.lookup('10.0.0.1', 200, T0 + 6 * MIN)).toBe('b');
    // The deletion travels too: an older message cannot bring the VM back.
    copy.observe(vm('a', '10.0.0.1', 'vpc-a', 100, T0 + 4 * MIN));
    expect(copy.lookup('10.0.0.1', 100, T0 + 6 * MIN)).toBeNull();
  });
});

describe('private addresses (where a held flow may still find its VM)', () => {
  it('are those of node:net BlockList over RFC 1918, RFC 6598 and fc00::/7', () => {
    const list = new BlockList();
    for (const [net, bits] of [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['100.64.0.0', 10]] as const) list.addSubnet(net, bits, 'ipv4');
    list.addSubnet('fc00::', 7, 'ipv6');
    const samples = [
      '10.0.0.1', '10.255.255.255', '9.255.255.255', '11.0.0.0', '172.15.255.255', '172.16.0.0', '172.31.255.255', '172.32.0.0',
      '192.168.0.1', '192.169.0.1', '100.63.255.255', '100.64.0.0', '100.127.255.255', '100.128.0.0', '203.0.113.9',
      'fc00::', 'fd12:3456::1', 'fbff::1', 'fe00::1', 'fc::1', 'fd1::1', 'fd:1::', '2001:db8::1', '::',
    ];
    const expected = samples.map((ip) => list.check(ip, ip.includes(':') ? 'ipv6' : 'ipv4'));
    expect(samples.map(isPrivateAddress)).toEqual(expected);
    expect(expected.filter(Boolean).length).toBe(9);
  });
});
