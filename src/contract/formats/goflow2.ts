/**
 * goflow2's JSON (`-format json`, one flow per Kafka message): NetFlow v5/v9, IPFIX or sFlow turned into one
 * flat object per flow. Times in nanoseconds since the epoch, the protocol as its IANA keyword (`TCP`,
 * `IPv6-ICMP`; a number when the proto renderer is turned off), counts as the exporter saw them (sampled:
 * `sampling_rate` says by how much to scale). The VNI is not one of goflow2's own fields: docs/exporters.md
 * gives the mapping that adds it as `vni`.
 */
import { z } from 'zod';
import { rejection } from '../rejections.ts';
import type { Decoded } from '../schema-decoder.ts';
import { MAX_VNI } from '../schemas.ts';
import {
  CollectorCount,
  CollectorPort,
  CollectorProtocol,
  collectorProtocol,
  contractFlow,
  issueRejection,
} from './collector-fields.ts';

/** Nanoseconds since the epoch as a number (JSON loses the last bits, far below a millisecond), digits, or RFC 3339 (the datetimenano renderer). */
const NanoTime = z.union([z.number().min(0), z.string().max(40)]);

const Goflow2FlowWire = z.object({
  type: z.string().max(32).nullish(),
  time_received_ns: NanoTime.nullish(),
  time_flow_start_ns: NanoTime.nullish(),
  time_flow_end_ns: NanoTime.nullish(),
  sampling_rate: CollectorCount.nullish(),
  sampler_address: z.string().max(64).nullish(),
  bytes: CollectorCount,
  packets: CollectorCount,
  src_addr: z.string().max(64),
  dst_addr: z.string().max(64),
  proto: CollectorProtocol,
  src_port: CollectorPort.nullish(),
  dst_port: CollectorPort.nullish(),
  vni: z.number().int().min(0).max(MAX_VNI).nullish(),
});
export type Goflow2FlowWire = z.infer<typeof Goflow2FlowWire>;

/** Contract field -> goflow2 field, for rejections of the contract decoder. */
export const GOFLOW2_FIELD_NAMES: Readonly<Record<string, string>> = {
  ts: 'time_flow_end_ns',
  start_ts: 'time_flow_start_ns',
  src_ip: 'src_addr',
  dst_ip: 'dst_addr',
  protocol: 'proto',
};

const DIGITS = /^\d{1,20}$/;

/** Epoch ms of a goflow2 time; null for 0 or absent (goflow2 prints 0 for a time the exporter did not send). */
function nanoTimeMs(v: number | string | null | undefined): number | string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'number') return v === 0 ? null : Math.floor(v / 1e6);
  if (DIGITS.test(v)) {
    const ns = BigInt(v);
    return ns === 0n ? null : Number(ns / 1_000_000n);
  }
  // An RFC 3339 string passes through: the contract decoder checks its format.
  return v;
}

/**
 * The contract's FlowRecord (wire shape) for one goflow2 record, or why it cannot be one. The end of the
 * flow is its event time; sFlow samples have none of their own and goflow2 sets it to the time received.
 */
export function goflow2ToContract(raw: Record<string, unknown>): Decoded<Record<string, unknown>> {
  const parsed = Goflow2FlowWire.safeParse(raw);
  if (!parsed.success) return { ok: false, rejection: issueRejection(parsed.error, raw) };
  const g = parsed.data;
  const ts = nanoTimeMs(g.time_flow_end_ns) ?? nanoTimeMs(g.time_received_ns);
  if (ts === null) return { ok: false, rejection: rejection('missing_field', 'time_flow_end_ns', 'time_flow_end_ns: absent or 0, and no time_received_ns') };
  const protocol = collectorProtocol(g.proto, 'proto');
  if (typeof protocol !== 'number') return { ok: false, rejection: protocol };
  const wire = contractFlow({
    ts,
    startTs: nanoTimeMs(g.time_flow_start_ns),
    srcIp: g.src_addr,
    dstIp: g.dst_addr,
    protocol,
    srcPort: g.src_port,
    dstPort: g.dst_port,
    bytes: g.bytes,
    packets: g.packets,
    samplingRate: g.sampling_rate,
    vni: g.vni,
  });
  return { ok: true, value: wire };
}
