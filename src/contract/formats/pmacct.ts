/**
 * pmacct's JSON (nfacctd, sfacctd or pmacctd with the kafka plugin, `kafka_output: json`): one aggregate per
 * message, its keys named by the `aggregate` primitives (`ip_src`, `port_dst`, `ip_proto`, ...). Times are
 * strings: epoch seconds with `timestamps_since_epoch: true`, else `YYYY-MM-DD HH:MM:SS[.ffffff]` in the
 * collector's zone (read as UTC here: set `timestamps_utc: true`), or RFC 3339 with `timestamps_rfc3339`.
 * The VNI is the `vxlan` primitive where the collector decodes it (docs/exporters.md).
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

const PmacctTime = z.union([z.number().min(0), z.string().max(40)]);

const PmacctFlowWire = z.object({
  event_type: z.string().max(32).nullish(),
  ip_src: z.string().max(64),
  ip_dst: z.string().max(64),
  port_src: CollectorPort.nullish(),
  port_dst: CollectorPort.nullish(),
  ip_proto: CollectorProtocol,
  bytes: CollectorCount,
  packets: CollectorCount,
  timestamp_start: PmacctTime.nullish(),
  timestamp_end: PmacctTime.nullish(),
  timestamp_arrival: PmacctTime.nullish(),
  stamp_inserted: PmacctTime.nullish(),
  stamp_updated: PmacctTime.nullish(),
  sampling_rate: CollectorCount.nullish(),
  vxlan: z.number().int().min(0).max(MAX_VNI).nullish(),
});
export type PmacctFlowWire = z.infer<typeof PmacctFlowWire>;

/** Contract field -> pmacct field, for rejections of the contract decoder. */
export const PMACCT_FIELD_NAMES: Readonly<Record<string, string>> = {
  ts: 'timestamp_end',
  start_ts: 'timestamp_start',
  src_ip: 'ip_src',
  dst_ip: 'ip_dst',
  src_port: 'port_src',
  dst_port: 'port_dst',
  protocol: 'ip_proto',
  vni: 'vxlan',
};

const EPOCH_SECONDS = /^\d{1,12}(\.\d{1,9})?$/;
const PMACCT_DATETIME = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(\.\d{1,9})?$/;

/**
 * Epoch ms of a pmacct time, the text itself when it is none of pmacct's forms (the contract decoder then
 * rejects it as invalid_format), or null when unset: pmacct prints 0 or the zero date for a time it lacks.
 */
function pmacctTimeMs(v: number | string | null | undefined): number | string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'number') return v === 0 ? null : Math.floor(v * 1000);
  if (EPOCH_SECONDS.test(v)) {
    const ms = Math.floor(Number(v) * 1000);
    return ms === 0 ? null : ms;
  }
  const m = PMACCT_DATETIME.exec(v);
  if (m !== null) {
    if (m[1] === '0000-00-00' || m[1] === '1970-01-01') return null;
    return `${m[1]}T${m[2]}${m[3] ?? ''}Z`;
  }
  return v;
}

/**
 * The contract's FlowRecord (wire shape) for one pmacct aggregate, or why it cannot be one. The event time
 * is the end of the flow, else when the aggregate was last updated, else when it arrived.
 */
export function pmacctToContract(raw: Record<string, unknown>): Decoded<Record<string, unknown>> {
  const parsed = PmacctFlowWire.safeParse(raw);
  if (!parsed.success) return { ok: false, rejection: issueRejection(parsed.error, raw) };
  const p = parsed.data;
  const ts = pmacctTimeMs(p.timestamp_end) ?? pmacctTimeMs(p.stamp_updated) ?? pmacctTimeMs(p.timestamp_arrival);
  if (ts === null) return { ok: false, rejection: rejection('missing_field', 'timestamp_end', 'timestamp_end: absent or unset, and no stamp_updated or timestamp_arrival') };
  const protocol = collectorProtocol(p.ip_proto, 'ip_proto');
  if (typeof protocol !== 'number') return { ok: false, rejection: protocol };
  const wire = contractFlow({
    ts,
    startTs: pmacctTimeMs(p.timestamp_start),
    srcIp: p.ip_src,
    dstIp: p.ip_dst,
    protocol,
    srcPort: p.port_src,
    dstPort: p.port_dst,
    bytes: p.bytes,
    packets: p.packets,
    samplingRate: p.sampling_rate,
    vni: p.vxlan,
  });
  return { ok: true, value: wire };
}
