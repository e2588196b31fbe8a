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
