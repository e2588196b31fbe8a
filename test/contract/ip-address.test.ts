/** One address, one text: canonical IP addresses at the edge (src/contract/ip-address.ts). */
import { describe, expect, it } from 'vitest';
import { decodeVmAttributesFast } from '../../src/contract/attributes-decoder.ts';
import { decodeFlowInto } from '../../src/contract/flow-decoder.ts';
import { decodeCollectorFlowInto } from '../../src/contract/formats/flow-formats.ts';
import { canonicalIp, ipAddressProblem } from '../../src/contract/ip-address.ts';
import { emptyFlowRecord } from '../../src/contract/records.ts';
import { defaultPipelineConfig, Pipeline } from '../../src/pipeline/pipeline.ts';
import { decodeFlowWithSchema, decodeVmAttributes } from './reference-decoders.ts';

describe('canonical IP addresses', () => {
  it('writes every form of an IPv6 address one way, and an IPv4-mapped one as its IPv4 address', () => {
    const forms = ['2001:db8::1', '2001:0db8:0:0::1', '2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:DB8::0:1'];
    expect(forms.map(canonicalIp)).toEqual(['2001:db8::1', '2001:db8::1', '2001:db8::1', '2001:db8::1']);
    expect(['::ffff:10.0.0.1', '::FFFF:10.0.0.1', '::ffff:a00:1', '0:0:0:0:0:ffff:0a00:0001'].map(canonicalIp)).toEqual(['10.0.0.1', '10.0.0.1', '10.0.0.1', '10.0.0.1']);
    // RFC 5952: the longest run of zero groups is the one written ::, the first of equal runs.
    expect(['2001:db8:0:0:1:0:0:1', 'FD00:0:0:1::', '::'].map(canonicalIp)).toEqual(['2001:db8::1:0:0:1', 'fd00:0:0:1::', '::']);
    expect(canonicalIp('10.0.0.1')).toBe('10.0.0.1');
  });

  it('refuses what is not an address, saying why', () => {
    const bad = ['010.0.0.1', '10.0.0.256', '10.0.0', 'fe80::1%eth0', '2001:db8::g', '2001:db8:::1', 'vm-7', ''];
    expect(bad.map(canonicalIp)).toEqual(bad.map(() => null));
    expect(bad.slice(0, 4).map(ipAddressProblem)).toEqual([
      '"010.0.0.1" is not an IPv4 address (four numbers 0-255 without leading zeros)',
      '"10.0.0.256" is not an IPv4 address (four numbers 0-255 without leading zeros)',
      '"10.0.0" is not an IPv4 address (four numbers 0-255 without leading zeros)',
      '"fe80::1%eth0" has a zone index (%…), which an overlay address cannot have',
    ]);
    expect(ipAddressProblem('2001:db8::g')).toBe('"2001:db8::g" is not an IPv4 or IPv6 address');
  });
});

describe('addresses of every input in canonical form', () => {
  const flow = { ts: 1_793_491_200_000, src_ip: '2001:0DB8::A', dst_ip: '::ffff:10.0.0.2', protocol: 'tcp', src_port: 1, dst_port: 443, bytes: 1, packets: 1 };

  it('flows of our format, by the fast decoder and the schema alike', () => {
    const out = emptyFlowRecord();
    expect(decodeFlowInto(flow, out)).toBeNull();
    expect([out.srcIp, out.dstIp]).toEqual(['2001:db8::a', '10.0.0.2']);
    const reference = decodeFlowWithSchema(flow);
    expect(reference.ok && [reference.value.srcIp, reference.value.dstIp]).toEqual(['2001:db8::a', '10.0.0.2']);
    const bad = { ...flow, dst_ip: '10.0.0.02' };
    const expected = { reason: 'invalid_format', field: 'dst_ip', message: 'dst_ip: "10.0.0.02" is not an IPv4 address (four numbers 0-255 without leading zeros)' };
    expect(decodeFlowInto(bad, emptyFlowRecord())).toMatchObject(expected);
    const refused = decodeFlowWithSchema(bad);
    expect(refused.ok ? null : refused.rejection).toMatchObject(expected);
  });

  it('flows of the collector formats', () => {
    const goflow2 = { time_flow_end_ns: 1_793_491_200_000_000_000, src_addr: '2001:DB8:0:0::a', dst_addr: '::FFFF:10.0.0.2', proto: 'TCP', src_port: 1, dst_port: 443, bytes: 1, packets: 1, sampling_rate: 1 };
    const pmacct = { timestamp_end: 1_793_491_200, ip_src: '2001:DB8:0:0::a', ip_dst: '::FFFF:10.0.0.2', ip_proto: 'tcp', port_src: 1, port_dst: 443, bytes: 1, packets: 1 };
    for (const [format, raw] of [['goflow2', goflow2], ['pmacct', pmacct]] as const) {
      const out = emptyFlowRecord();
      expect(decodeCollectorFlowInto(format, raw, out)).toBeNull();
      expect([format, out.srcIp, out.dstIp]).toEqual([format, '2001:db8::a', '10.0.0.2']);
    }
  });

  it('VM attributes: the address canonical, an invalid one rejected with the attributes', () => {
    const attrs = { ts: 1_793_491_200_000, vm_id: 'vm-1', tenant_id: 't', ip: '2001:0DB8::A' };
    const fast = decodeVmAttributesFast(attrs);
    const reference = decodeVmAttributes(attrs);
    expect([fast.ok && fast.value.ip, reference.ok && reference.value.ip]).toEqual(['2001:db8::a', '2001:db8::a']);
    const bad = { ...attrs, ip: 'vm-1.internal' };
    const expected = { reason: 'invalid_format', field: 'ip', message: 'ip: "vm-1.internal" is not an IPv4 or IPv6 address' };
    const refusedFast = decodeVmAttributesFast(bad);
    const refusedReference = decodeVmAttributes(bad);
    expect(refusedFast.ok ? null : refusedFast.rejection).toMatchObject(expected);
    expect(refusedReference.ok ? null : refusedReference.rejection).toMatchObject(expected);
  });

  it('so a VM whose attributes write its address one way is found by flows that write it another', () => {
    const p = new Pipeline(defaultPipelineConfig);
    const { vmAttributes, flows } = defaultPipelineConfig.topics;
    p.ingestMessage(vmAttributes, JSON.stringify({ ts: flow.ts, vm_id: 'v6', tenant_id: 't', vpc_id: 'A', ip: '2001:db8:0:0::a', vni: 7 }), 'x');
    p.ingestMessage(vmAttributes, JSON.stringify({ ts: flow.ts, vm_id: 'v4', tenant_id: 't', vpc_id: 'A', ip: '10.0.0.2', vni: 7 }), 'x');
    p.ingestMessage(flows, JSON.stringify({ ...flow, vni: 7 }), 'x');
    expect([p.fleet.pairs.size, p.addresses.counters.endsByAddress, p.held.size]).toEqual([1, 2, 0]);
  });
});
