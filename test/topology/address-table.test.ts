import { describe, expect, it } from 'vitest';
import { AddressMap } from '../../src/attribution/address-map.ts';
import type { FlowRecord, VmAttributes } from '../../src/contract/records.ts';
import { type AddressRecord, AddressTable, decodeAddressRecord, encodeAddressRecord } from '../../src/topology/address-table.ts';

const config = { horizonMs: 3_600_000, maxClaims: 1000 };
const T = Date.UTC(2026, 10, 1);

function vm(vmId: string, ts: number, ip: string | null, vpc = 'vpc-1', state: VmAttributes['state'] = 'active'): VmAttributes {
  return { ts, vmId, tenantId: 't', vpcId: vpc, vni: null, subnetId: null, ip, image: null, hostId: null, vcpus: null, memoryMb: null, state, cpuUtil: null, labels: null };
}

function flow(ts: number, src: string, dst: string): FlowRecord {
  return { ts, startTs: null, srcVm: null, dstVm: null, srcIp: src, dstIp: dst, srcPort: 1, dstPort: 2, protocol: 6, bytes: 1, packets: 1, vni: null, srcHost: null, dstHost: null };
}

const ends = (t: { attribute(f: FlowRecord): void }, f: FlowRecord): [string | null, string | null] => {
  const g = { ...f };
  t.attribute(g);
  return [g.srcVm, g.dstVm];
};

describe('the address table of a scale-out application', () => {
  it('gives a member that only read the records the attribution of the member that routed the attributes, and of one process', () => {
    const attributes = [vm('vm-a', T, '10.0.0.1'), vm('vm-b', T, '10.0.0.2'), vm('vm-a', T + 60_000, '10.0.0.1'), vm('vm-b', T + 600_000, null, 'vpc-1', 'deleted'), vm('vm-c', T + 700_000, '10.0.0.2')];
    const router = new AddressTable(config);
    const reader = new AddressTable(config);
    const single = new AddressMap(config);
    const records: AddressRecord[] = [];
    for (const a of attributes) {
      single.observe(a);
      const r = router.observe(a);
      if (r !== null) records.push(decodeAddressRecord(encodeAddressRecord(r))!);
    }
    // The same address again a minute later writes nothing: the table grows with changes, not with reports.
    expect(records.map((r) => r.vm)).toEqual(['vm-a', 'vm-b', 'vm-b', 'vm-c']);
    expect(records[2]).toEqual({ vm: 'vm-b', claims: [{ ip: '10.0.0.2', vpc: 'vpc-1', vni: null, from: T, to: T + 600_000 }], deleted: T + 600_000 });
    for (const r of records) reader.apply(r);
    for (const ts of [T + 1000, T + 650_000, T + 800_000]) {
      const f = flow(ts, '10.0.0.1', '10.0.0.2');
      expect(ends(reader, f)).toEqual(ends(single, f));
      expect(ends(router, f)).toEqual(ends(single, f));
    }
    expect(ends(reader, flow(T + 1000, '10.0.0.1', '10.0.0.2'))).toEqual(['vm-a', 'vm-b']);
    expect(ends(reader, flow(T + 650_000, '10.0.0.1', '10.0.0.2'))).toEqual(['vm-a', null]);
    expect(ends(reader, flow(T + 800_000, '10.0.0.1', '10.0.0.2'))).toEqual(['vm-a', 'vm-c']);
  });

  it('merges two members\' records of one VM written concurrently instead of keeping the last', () => {
    const m1 = new AddressTable(config);
    const m2 = new AddressTable(config);
    // The VM's attributes reached two input partitions routed by two members, each unaware of the other.
    const r1 = m1.observe(vm('vm-a', T, '10.0.0.1'))!;
    const r2 = m2.observe(vm('vm-a', T + 120_000, '10.0.0.9'))!;
    m1.apply(r2);
    m2.apply(r1);
    m2.apply(r2);
    const expected = {
      vm: 'vm-a',
      claims: [
        { ip: '10.0.0.1', vpc: 'vpc-1', vni: null, from: T, to: T + 120_000 },
        { ip: '10.0.0.9', vpc: 'vpc-1', vni: null, from: T + 120_000, to: null },
      ],
      deleted: null,
    };
    expect(m1.record('vm-a')).toEqual(expected);
    expect(m2.record('vm-a')).toEqual(expected);
    // A new member reading only the newest record of the compacted topic learns the whole history.
    const m3 = new AddressTable(config);
    m3.apply(m1.record('vm-a')!);
    expect(ends(m3, flow(T + 60_000, '10.0.0.1', '10.0.0.9'))).toEqual(['vm-a', null]);
    expect(ends(m3, flow(T + 180_000, '10.0.0.1', '10.0.0.9'))).toEqual([null, 'vm-a']);
    expect(m3.map.counters.unattributed.unknown_address).toBe(2);
  });

  it('writes a record again when the transaction that carried it aborted, and forgets claims older than the horizon', () => {
    const t = new AddressTable(config);
    expect(t.observe(vm('vm-a', T, '10.0.0.1'))).not.toBeNull();
    expect(t.observe(vm('vm-a', T, '10.0.0.1'))).toBeNull();
    t.notPublished(['vm-a']);
    expect(t.observe(vm('vm-a', T, '10.0.0.1'))?.claims).toHaveLength(1);
    t.observe(vm('vm-a', T + 1000, '10.0.0.2'));
    t.observe(vm('vm-a', T + 2 * 3_600_000, '10.0.0.3'));
    // The first claim ended more than the horizon before the newest: gone from the record.
    expect(t.record('vm-a')!.claims.map((c) => c.ip)).toEqual(['10.0.0.2', '10.0.0.3']);
    expect(decodeAddressRecord('{"vm":"x","claims":"no"}')).toBeNull();
    expect(decodeAddressRecord('not json')).toBeNull();
  });

  it('names a deleted VM for a tombstone once its claims and deletion are past the horizon, once, and forgets it when the tombstone is read', () => {
    const table = new AddressTable(config);
    const released: string[][] = [];
    table.onClaims = (ips) => released.push(ips);
    table.observe(vm('vm-a', T, '10.0.0.1'));
    table.observe(vm('vm-b', T, '10.0.0.2'));
    table.observe(vm('vm-b', T + 600_000, null, 'vpc-1', 'deleted'));
    // The same claim again releases nothing; only new (or earlier) claims reach the listener.
    table.observe(vm('vm-a', T + 60_000, '10.0.0.1'));
    table.observe(vm('vm-a', T - 60_000, '10.0.0.1'));
    expect(released).toEqual([['10.0.0.1'], ['10.0.0.2'], ['10.0.0.1']]);
    expect(table.expiredDeletions(T + 600_000 + config.horizonMs)).toEqual([]);
    expect(table.expiredDeletions(T + 600_001 + config.horizonMs)).toEqual(['vm-b']);
    expect(table.expiredDeletions(T + 700_000 + config.horizonMs)).toEqual([]);
    // A tombstone that did not land is named again.
    table.notPublished(['vm-b']);
    expect(table.expiredDeletions(T + 700_000 + config.horizonMs)).toEqual(['vm-b']);
    table.forget('vm-b');
    expect(table.vms).toBe(1);
    expect(table.record('vm-b')).toBeNull();
    expect(table.tombstonesRead).toBe(1);
    expect(ends(table, flow(T + 1000, '10.0.0.1', '10.0.0.2'))).toEqual(['vm-a', null]);
    expect(table.expiredDeletions(T + 10 * config.horizonMs)).toEqual([]);
  });
});
