/**
 * The reference decoders of flows and VM attributes: straight through the zod schemas of the contract, too
 * slow for the hot path but plainly right. The fast decoders (src/contract/flow-decoder.ts,
 * attributes-decoder.ts) are held to the same decisions and output as these.
 */
import { protocolNumber } from '../../src/contract/protocols.ts';
import { emptyFlowRecord, type FlowRecord, type VmAttributes } from '../../src/contract/records.ts';
import { copyLabels, type Decoded, reasonFromIssue, schemaTime } from '../../src/contract/schema-decoder.ts';
import { FlowRecordWire, VmAttributesWire } from '../../src/contract/schemas.ts';
import { fill } from '../../src/contract/flow-decoder.ts';

export function decodeFlowWithSchema(raw: Record<string, unknown>): Decoded<FlowRecord> {
  const parsed = FlowRecordWire.safeParse(raw);
  if (!parsed.success) return { ok: false, rejection: reasonFromIssue(parsed.error.issues[0]!, raw) };
  const w = parsed.data;
  const out = emptyFlowRecord();
  const r = fill(
    out,
    schemaTime(w.ts),
    w.start_ts == null ? null : schemaTime(w.start_ts),
    w.src_vm ?? null,
    w.dst_vm ?? null,
    w.src_ip,
    w.dst_ip,
    w.src_port ?? null,
    w.dst_port ?? null,
    protocolNumber(w.protocol)!,
    w.bytes,
    w.packets,
    w.vni ?? null,
    w.src_host ?? null,
    w.dst_host ?? null,
  );
  return r ? { ok: false, rejection: r } : { ok: true, value: out };
}

export function decodeVmAttributes(raw: Record<string, unknown>): Decoded<VmAttributes> {
  const parsed = VmAttributesWire.safeParse(raw);
  if (!parsed.success) return { ok: false, rejection: reasonFromIssue(parsed.error.issues[0]!, raw) };
  const w = parsed.data;
  return {
    ok: true,
    value: {
      ts: schemaTime(w.ts),
      vmId: (w.vm_id ?? w.device_id)!,
      tenantId: (w.tenant_id ?? w.project_id)!,
      vpcId: w.vpc_id ?? w.network_id ?? null,
      vni: w.vni ?? w.segmentation_id ?? null,
      subnetId: w.subnet_id ?? null,
      ip: w.ip ?? null,
      image: w.image ?? null,
      hostId: w.host_id ?? w['binding:host_id'] ?? null,
      vcpus: w.vcpus ?? null,
      memoryMb: w.memory_mb ?? null,
      state: w.state ?? 'active',
      cpuUtil: w.cpu_util ?? null,
      labels: copyLabels(w.labels),
    },
  };
}
