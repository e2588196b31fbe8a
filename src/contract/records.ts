/**
 * Domain records after decoding: timestamps as epoch ms, protocols as IANA numbers, aliases resolved,
 * absent optional values as null (one shape per type keeps V8's hidden classes monomorphic on the hot path).
 */
import type { VmState } from './schemas.ts';

export interface FlowRecord {
  ts: number;
  startTs: number | null;
  srcVm: string | null;
  dstVm: string | null;
  srcIp: string;
  dstIp: string;
  /** -1 when the protocol has no ports and none was given. */
  srcPort: number;
  dstPort: number;
  protocol: number;
  bytes: number;
  packets: number;
  vni: number | null;
  srcHost: string | null;
  dstHost: string | null;
}

export function emptyFlowRecord(): FlowRecord {
  return {
    ts: 0,
    startTs: null,
    srcVm: null,
    dstVm: null,
    srcIp: '',
    dstIp: '',
    srcPort: -1,
    dstPort: -1,
    protocol: 0,
    bytes: 0,
    packets: 0,
    vni: null,
    srcHost: null,
    dstHost: null,
  };
}

export interface VmAttributes {
  ts: number;
  vmId: string;
  tenantId: string;
  vpcId: string | null;
  /** The VPC's overlay segment (VNI): what tells a flow's address apart from the same address in another VPC. */
  vni: number | null;
  subnetId: string | null;
  ip: string | null;
  image: string | null;
  hostId: string | null;
  vcpus: number | null;
  memoryMb: number | null;
  state: VmState;
  cpuUtil: number | null;
  labels: Record<string, string> | null;
}

export interface HostAttributes {
  ts: number;
  hostId: string;
  vcpus: number;
  memoryMb: number;
  labels: Record<string, string> | null;
}

export interface TenantAttributes {
  ts: number;
  tenantId: string;
  name: string | null;
  tier: string | null;
  labels: Record<string, string> | null;
  deleted: boolean;
}
