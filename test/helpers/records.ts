import { decodeFlowInto } from '../../src/contract/flow-decoder.ts';
import { emptyFlowRecord, type FlowRecord, type VmAttributes } from '../../src/contract/records.ts';

export const T0 = Date.UTC(2026, 10, 1);
export const MIN = 60_000;

export function flow(patch: Partial<FlowRecord>): FlowRecord {
  return {
    ...emptyFlowRecord(),
    ts: T0,
    srcIp: '10.0.0.1',
    dstIp: '10.0.0.2',
    srcPort: 50_000,
    dstPort: 443,
    protocol: 6,
    bytes: 1000,
    packets: 10,
    ...patch,
  };
}

/** A VM end of a flow; an address alone (a string) is an end outside the fleet. */
export interface FlowEnd {
  id: string;
  ip: string;
}

/** One packet's flow of `bytes` between two ends, as the security-group tests file them. */
export function flowBetween(ts: number, src: FlowEnd | string, dst: FlowEnd | string, sp: number, dp: number, protocol: number, bytes: number): FlowRecord {
  const f = emptyFlowRecord();
  f.ts = ts;
  f.srcVm = typeof src === 'string' ? null : src.id;
  f.dstVm = typeof dst === 'string' ? null : dst.id;
  f.srcIp = typeof src === 'string' ? src : src.ip;
  f.dstIp = typeof dst === 'string' ? dst : dst.ip;
  f.srcPort = sp;
  f.dstPort = dp;
  f.protocol = protocol;
  f.bytes = bytes;
  f.packets = 1;
  return f;
}

export function vmAttrs(patch: Partial<VmAttributes> & { vmId: string; tenantId: string }): VmAttributes {
  return {
    ts: T0,
    vpcId: null,
    vni: null,
    subnetId: null,
    ip: null,
    image: null,
    hostId: null,
    vcpus: null,
    memoryMb: null,
    state: 'active',
    cpuUtil: null,
    labels: null,
    ...patch,
  };
}

/**
 * The flow records of generated trace lines that the decoder accepts, in time order: the generator injects
 * malformed lines and records, which are left out as the decoder rejects them.
 */
export function decodedFlowsOf(lines: Iterable<string>): FlowRecord[] {
  const flows: FlowRecord[] = [];
  for (const line of lines) {
    let msg: { topic?: unknown; value?: unknown } | null = null;
    try {
      msg = JSON.parse(line) as { topic?: unknown; value?: unknown } | null;
    } catch {
      continue;
    }
    if (msg === null || typeof msg !== 'object' || typeof msg.topic !== 'string' || !msg.topic.includes('flows')) continue;
    for (const raw of Array.isArray(msg.value) ? msg.value : [msg.value]) {
      if (typeof raw !== 'object' || raw === null) continue;
      const f = emptyFlowRecord();
      if (decodeFlowInto(raw as Record<string, unknown>, f) === null) flows.push(f);
    }
  }
  flows.sort((a, b) => a.ts - b.ts);
  return flows;
}
