import { describe, expect, it } from 'vitest';
import { collectorToContract, decodeCollectorFlowInto } from '../../../src/contract/formats/flow-formats.ts';
import { emptyFlowRecord } from '../../../src/contract/records.ts';

/** A record exactly as goflow2 v2.2.6 (`-format json`) published it for a NetFlow v9 export of softflowd. */
const SOFTFLOWD_V9 = JSON.parse(
  '{"type":"NETFLOW_V9","time_received_ns":1796449787231843399,"sequence_num":1,"sampling_rate":1,"sampler_address":"127.0.0.1","time_flow_start_ns":1793491201750000000,"time_flow_end_ns":1793491226750000000,"bytes":342,"packets":3,"src_addr":"10.0.0.4","dst_addr":"10.0.0.5","etype":"IPv4","proto":"UDP","src_port":32770,"dst_port":53,"in_if":0,"out_if":0,"src_mac":"00:00:00:00:00:00","dst_mac":"00:00:00:00:00:00","src_vlan":0,"dst_vlan":0,"vlan_id":0,"ip_tos":0,"forwarding_status":0,"ip_ttl":0,"ip_flags":0,"tcp_flags":0,"icmp_type":0,"icmp_code":0,"ipv6_flow_label":0,"fragment_id":0,"fragment_offset":0,"src_as":0,"dst_as":0,"next_hop":"","next_hop_as":0,"src_net":"0.0.0.0/0","dst_net":"0.0.0.0/0","bgp_next_hop":"","bgp_communities":[],"as_path":[],"mpls_ttl":[],"mpls_label":[],"mpls_ip":[],"observation_domain_id":0,"observation_point_id":0,"layer_stack":[],"layer_size":[],"ipv6_routing_header_addresses":[],"ipv6_routing_header_seg_left":0}',
) as Record<string, unknown>;

const wire = (raw: Record<string, unknown>) => collectorToContract('goflow2', raw);

function reject(raw: Record<string, unknown>) {
  const r = decodeCollectorFlowInto('goflow2', raw, emptyFlowRecord());
  return r === null ? null : { reason: r.reason, field: r.field };
}

describe('goflow2 flows', () => {
  it('become contract flows: ns to ms, the protocol keyword to its number, addresses, no VM ids', () => {
    expect(wire(SOFTFLOWD_V9)).toEqual({
      ok: true,
      value: {
        ts: 1_793_491_226_750,
        start_ts: 1_793_491_201_750,
        src_ip: '10.0.0.4',
        dst_ip: '10.0.0.5',
        src_port: 32_770,
        dst_port: 53,
        protocol: 17,
        bytes: 342,
        packets: 3,
        vni: null,
      },
    });
  });

  it('scale bytes and packets by the sampling rate; 0 (none announced) and 1 leave them', () => {
    const at = (sampling_rate: unknown) => {
      const d = wire({ ...SOFTFLOWD_V9, sampling_rate });
      return d.ok ? [d.value.bytes, d.value.packets] : d.rejection.reason;
    };
    expect(at(100)).toEqual([34_200, 300]);
    expect(at(0)).toEqual([342, 3]);
    expect(at(1)).toEqual([342, 3]);
    expect(at('512')).toEqual([175_104, 1536]);
    expect(at(-1)).toBe('out_of_range');
  });

  it('take the end of the flow as event time, the time received when the exporter sent none (sFlow)', () => {
    const sflow = { ...SOFTFLOWD_V9, type: 'SFLOW_5', time_flow_end_ns: 0, time_flow_start_ns: 0 };
    const d = wire(sflow);
    expect(d.ok && [d.value.ts, d.value.start_ts]).toEqual([1_796_449_787_231, null]);
    expect(reject({ ...sflow, time_received_ns: 0 })).toEqual({ reason: 'missing_field', field: 'time_flow_end_ns' });
    const digits = wire({ ...SOFTFLOWD_V9, time_flow_end_ns: '1793491226750999999' });
    expect(digits.ok && digits.value.ts).toBe(1_793_491_226_750);
  });

  it('read protocol keywords and numbers; ICMP carries no ports; the VNI from the documented mapping', () => {
    const icmp6 = wire({ ...SOFTFLOWD_V9, proto: 'IPv6-ICMP', src_addr: 'fd00::1', dst_addr: 'fd00::2', src_port: 0, dst_port: 0, vni: 5001 });
    expect(icmp6.ok && [icmp6.value.protocol, icmp6.value.src_port, icmp6.value.dst_port, icmp6.value.vni]).toEqual([58, null, null, 5001]);
    const numeric = wire({ ...SOFTFLOWD_V9, proto: 6 });
    expect(numeric.ok && numeric.value.protocol).toBe(6);
  });

  it('are rejected by the same reasons as our own flows, naming goflow2 fields', () => {
    expect(reject({ ...SOFTFLOWD_V9, src_addr: undefined })).toEqual({ reason: 'missing_field', field: 'src_addr' });
    expect(reject({ ...SOFTFLOWD_V9, dst_addr: 'not-an-ip' })).toEqual({ reason: 'invalid_format', field: 'dst_addr' });
    expect(reject({ ...SOFTFLOWD_V9, proto: 'XNET' })).toEqual({ reason: 'unknown_protocol', field: 'proto' });
    expect(reject({ ...SOFTFLOWD_V9, proto: 300 })).toEqual({ reason: 'out_of_range', field: 'proto' });
    expect(reject({ ...SOFTFLOWD_V9, bytes: 'many' })).toEqual({ reason: 'invalid_format', field: 'bytes' });
    expect(reject({ ...SOFTFLOWD_V9, bytes: true })).toEqual({ reason: 'invalid_type', field: 'bytes' });
    expect(reject({ ...SOFTFLOWD_V9, src_port: 70_000 })).toEqual({ reason: 'out_of_range', field: 'src_port' });
    expect(reject({ ...SOFTFLOWD_V9, vni: 16_777_216 })).toEqual({ reason: 'out_of_range', field: 'vni' });
    expect(reject({ ...SOFTFLOWD_V9, time_flow_end_ns: 'yesterday' })).toEqual({ reason: 'invalid_format', field: 'time_flow_end_ns' });
    expect(reject({ ...SOFTFLOWD_V9, bytes: Number.MAX_SAFE_INTEGER, sampling_rate: 2 })).toEqual({ reason: 'out_of_range', field: 'bytes' });
  });
});
