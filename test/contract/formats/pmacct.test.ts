import { describe, expect, it } from 'vitest';
import { collectorToContract, decodeCollectorFlowInto } from '../../../src/contract/formats/flow-formats.ts';
import { emptyFlowRecord } from '../../../src/contract/records.ts';

/** A record exactly as Debian's nfacctd 1.7.7 wrote it (JSON, timestamps_since_epoch) for softflowd's NetFlow v9. */
const NFACCTD = JSON.parse(
  '{"event_type": "purge", "ip_src": "10.0.0.4", "ip_dst": "10.0.0.5", "port_src": 32770, "port_dst": 53, "ip_proto": "udp", "sampling_rate": 1, "timestamp_start": "1793491202.000000", "timestamp_end": "1793491227.000000", "packets": 3, "bytes": 342}',
) as Record<string, unknown>;

const wire = (raw: Record<string, unknown>) => collectorToContract('pmacct', raw);

function reject(raw: Record<string, unknown>) {
  const r = decodeCollectorFlowInto('pmacct', raw, emptyFlowRecord());
  return r === null ? null : { reason: r.reason, field: r.field };
}

describe('pmacct flows', () => {
  it('become contract flows: epoch seconds to ms, protocol names, addresses, no VM ids', () => {
    expect(wire(NFACCTD)).toEqual({
      ok: true,
      value: {
        ts: 1_793_491_227_000,
        start_ts: 1_793_491_202_000,
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

  it('read every time form pmacct prints; unset times fall back to stamp_updated, then timestamp_arrival', () => {
    const ts = (patch: Record<string, unknown>) => {
      const d = wire({ ...NFACCTD, ...patch });
      return d.ok ? d.value.ts : d.rejection.reason;
    };
    expect(ts({ timestamp_end: '2026-11-01 00:00:27.250000' })).toBe('2026-11-01T00:00:27.250000Z');
    expect(ts({ timestamp_end: '2026-11-01T00:00:27Z' })).toBe('2026-11-01T00:00:27Z');
    expect(ts({ timestamp_end: 1_793_491_227.5 })).toBe(1_793_491_227_500);
    expect(ts({ timestamp_end: '0000-00-00 00:00:00', stamp_updated: '2026-11-01 00:05:00' })).toBe('2026-11-01T00:05:00Z');
    expect(ts({ timestamp_end: '0.000000', timestamp_arrival: '1793491300.000000' })).toBe(1_793_491_300_000);
    expect(reject({ ...NFACCTD, timestamp_end: undefined })).toEqual({ reason: 'missing_field', field: 'timestamp_end' });
    expect(reject({ ...NFACCTD, timestamp_end: '01/11/2026' })).toEqual({ reason: 'invalid_format', field: 'timestamp_end' });
  });

  it('scale by sampling_rate and read the vxlan primitive as the VNI', () => {
    const d = wire({ ...NFACCTD, sampling_rate: 1000, vxlan: 4242, ip_proto: 'tcp' });
    expect(d.ok && [d.value.bytes, d.value.packets, d.value.vni, d.value.protocol]).toEqual([342_000, 3000, 4242, 6]);
    const icmp = wire({ ...NFACCTD, ip_proto: 'icmp', port_src: 0, port_dst: 0 });
    expect(icmp.ok && [icmp.value.protocol, icmp.value.src_port]).toEqual([1, null]);
  });

  it('are rejected by the same reasons as our own flows, naming pmacct fields', () => {
    expect(reject({ ...NFACCTD, ip_src: undefined })).toEqual({ reason: 'missing_field', field: 'ip_src' });
    expect(reject({ ...NFACCTD, ip_dst: '10.0.0.256' })).toEqual({ reason: 'invalid_format', field: 'ip_dst' });
    expect(reject({ ...NFACCTD, ip_proto: 'carrier-pigeon' })).toEqual({ reason: 'unknown_protocol', field: 'ip_proto' });
    expect(reject({ ...NFACCTD, packets: 1.5 })).toEqual({ reason: 'invalid_type', field: 'packets' });
    expect(reject({ ...NFACCTD, vxlan: -1 })).toEqual({ reason: 'out_of_range', field: 'vxlan' });
  });
});
