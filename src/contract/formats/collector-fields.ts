/**
 * What the collector adapters share: their zod field types, the translation of a zod issue or a contract
 * rejection into the collector's own field names (an operator reads the dead letter next to the collector's
 * JSON), protocol names as collectors spell them, and sampling-rate scaling.
 */
import { z } from 'zod';
import { protocolHasPorts, protocolNumber } from '../protocols.ts';
import { type Rejection, rejection } from '../rejections.ts';
import { reasonFromIssue } from '../schema-decoder.ts';

/** A counter or id as collectors print them: a JSON number, or digits in a string (protobuf's JSON for uint64). */
export const CollectorCount = z.union([z.number().min(0), z.string().regex(/^\d{1,20}$/)]);
export const CollectorPort = z.number().int().min(0).max(65_535);
/** An IANA number, or a name (goflow2 renders `TCP`, `IPv6-ICMP`; pmacct `tcp`). */
export const CollectorProtocol = z.union([z.number().int().min(0).max(255), z.string().max(32)]);

function countValue(v: z.infer<typeof CollectorCount>): number {
  return typeof v === 'number' ? v : Number(v);
}

/**
 * Names collectors use beyond the contract's own (`tcp`, `udp`, `icmp`, `icmpv6`, `sctp`): goflow2 renders the
 * IANA keyword list, where ICMP for IPv6 is `IPv6-ICMP`; pmacct prints `ipv6-icmp` the same way.
 */
const EXTRA_PROTOCOL_NAMES: ReadonlyMap<string, number> = new Map([
  ['ipv6-icmp', 58],
  ['igmp', 2],
  ['gre', 47],
  ['esp', 50],
  ['ah', 51],
]);

export function collectorProtocol(value: number | string, field: string): number | Rejection {
  if (typeof value === 'number') return value;
  const n = protocolNumber(value) ?? EXTRA_PROTOCOL_NAMES.get(value.toLowerCase());
  if (n !== undefined) return n;
  if (/^\d{1,3}$/.test(value) && Number(value) <= 255) return Number(value);
  return rejection('unknown_protocol', field, `${field}: unknown protocol "${value.slice(0, 32)}"`);
}

/**
 * Bytes and packets of a sampled flow stand for `rate` times as many: the collector reports what the
 * exporter saw. 0 and 1 both mean unsampled (goflow2 prints 0 when the exporter announced no rate).
 */
function scaleBySampling(count: number, rate: number): number {
  return rate > 1 ? count * rate : count;
}

/** Ports only where the protocol has them: collectors print 0 for ICMP, which is no port. */
function portsOf(protocol: number, src: number | null | undefined, dst: number | null | undefined): { src_port: number | null; dst_port: number | null } {
  if (!protocolHasPorts(protocol)) return { src_port: null, dst_port: null };
  return { src_port: src ?? null, dst_port: dst ?? null };
}

/** What every collector record gives, in the collector's own names already read. */
export interface CollectorFlow {
  ts: number | string;
  startTs: number | string | null;
  srcIp: string;
  dstIp: string;
  protocol: number;
  srcPort: number | null | undefined;
  dstPort: number | null | undefined;
  bytes: z.infer<typeof CollectorCount>;
  packets: z.infer<typeof CollectorCount>;
  samplingRate: z.infer<typeof CollectorCount> | null | undefined;
  vni: number | null | undefined;
}

/** The contract's FlowRecord wire object of a collector record: ports where the protocol has them, counts scaled by sampling. */
export function contractFlow(f: CollectorFlow): Record<string, unknown> {
  const rate = f.samplingRate == null ? 1 : countValue(f.samplingRate);
  return {
    ts: f.ts,
    start_ts: f.startTs,
    src_ip: f.srcIp,
    dst_ip: f.dstIp,
    ...portsOf(f.protocol, f.srcPort, f.dstPort),
    protocol: f.protocol,
    bytes: scaleBySampling(countValue(f.bytes), rate),
    packets: scaleBySampling(countValue(f.packets), rate),
    vni: f.vni ?? null,
  };
}

/** The first zod issue as a rejection naming the collector's field. */
export function issueRejection(error: z.ZodError, raw: Record<string, unknown>): Rejection {
  return reasonFromIssue(error.issues[0]!, raw);
}

/**
 * A rejection of the contract decoder (which names contract fields) renamed to the collector's field, so
 * that `field` points at what is in the raw record an operator finds in the dead letter.
 */
export function renameField(r: Rejection, names: Readonly<Record<string, string>>): Rejection {
  if (r.field === null) return r;
  const own = names[r.field];
  if (own === undefined || own === r.field) return r;
  const message = r.message.startsWith(`${r.field}:`) ? `${own}:${r.message.slice(r.field.length + 1)}` : r.message;
  return { reason: r.reason, field: own, message };
}
