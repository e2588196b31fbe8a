/**
 * Wire formats of CONTRACT.md v1, as zod schemas: the single source of truth for the shapes, the TypeScript
 * types and (later) the OpenAPI document. The flow hot path uses a hand-written decoder
 * (`flow-decoder.ts`) that is tested to accept and reject exactly what `FlowRecordWire` does.
 */
import { z } from 'zod';
import { protocolNumber } from './protocols.ts';
import { canonicalIp, ipAddressProblem } from './ip-address.ts';

/** Largest event time accepted: the ECMAScript Date range. */
export const MAX_EPOCH_MS = 8.64e15;
export const MAX_ID_LENGTH = 128;
/** Free-form strings (host ids, names, labels) are capped so one message cannot blow up memory. */
export const MAX_TEXT_LENGTH = 256;
export const MAX_LABELS = 64;
export const MAX_VNI = 16_777_215;

export const rfc3339 = z.iso.datetime({ offset: true });
export const Timestamp = z.union([z.number().min(0).max(MAX_EPOCH_MS), rfc3339]);
const VmId = z.string().min(1).max(MAX_ID_LENGTH);
const TenantId = z.string().min(1).max(MAX_ID_LENGTH);
/** An IPv4 or IPv6 address, given back in its canonical text (ip-address.ts: one address, one string). */
const IpAddress = z.string().transform((value, ctx) => {
  const canonical = canonicalIp(value);
  if (canonical !== null) return canonical;
  ctx.issues.push({ code: 'invalid_format', format: 'ip', input: value, message: ipAddressProblem(value) });
  return z.NEVER;
});
export const Port = z.number().int().min(0).max(65_535);
export const Protocol = z.union([
  z.number().int().min(0).max(255),
  z.string().refine((s) => protocolNumber(s) !== undefined, { message: 'unknown protocol name' }),
]);
const Count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const Text = z.string().max(MAX_TEXT_LENGTH);
export const Labels = z
  .record(z.string().max(MAX_TEXT_LENGTH), Text)
  .refine((o) => Object.keys(o).length <= MAX_LABELS, { message: `more than ${MAX_LABELS} labels` });

export const FlowRecordWire = z.object({
  ts: Timestamp,
  start_ts: Timestamp.nullish(),
  src_vm: VmId.nullish(),
  dst_vm: VmId.nullish(),
  src_ip: IpAddress,
  dst_ip: IpAddress,
  src_port: Port.nullish(),
  dst_port: Port.nullish(),
  protocol: Protocol,
  bytes: Count,
  packets: Count,
  vni: z.number().int().min(0).max(MAX_VNI).nullish(),
  src_host: Text.nullish(),
  dst_host: Text.nullish(),
});
export type FlowRecordWire = z.infer<typeof FlowRecordWire>;

export const VmState = z.enum(['active', 'stopped', 'deleted']);
export type VmState = z.infer<typeof VmState>;

/** Accepts the Alcor/Neutron aliases; the canonical name wins when both are present. */
export const VmAttributesWire = z
  .object({
    ts: Timestamp,
    vm_id: VmId.nullish(),
    device_id: VmId.nullish(),
    tenant_id: TenantId.nullish(),
    project_id: TenantId.nullish(),
    vpc_id: Text.nullish(),
    network_id: Text.nullish(),
    subnet_id: Text.nullish(),
    ip: Text.pipe(IpAddress).nullish(),
    image: Text.nullish(),
    host_id: Text.nullish(),
    'binding:host_id': Text.nullish(),
    vcpus: Count.nullish(),
    memory_mb: Count.nullish(),
    state: VmState.nullish(),
    cpu_util: z.number().min(0).max(1).nullish(),
    labels: Labels.nullish(),
    // Last: the hand-written decoder checks fields in this order, and the first broken one names the reason.
    vni: z.number().int().min(0).max(MAX_VNI).nullish(),
    segmentation_id: z.number().int().min(0).max(MAX_VNI).nullish(),
  })
  .refine((v) => (v.vm_id ?? v.device_id) != null, { message: 'vm_id (or device_id) is required', path: ['vm_id'] })
  .refine((v) => (v.tenant_id ?? v.project_id) != null, {
    message: 'tenant_id (or project_id) is required',
    path: ['tenant_id'],
  });
export type VmAttributesWire = z.infer<typeof VmAttributesWire>;

export const TenantAttributesWire = z
  .object({
    ts: Timestamp,
    tenant_id: TenantId.nullish(),
    project_id: TenantId.nullish(),
    name: Text.nullish(),
    tier: Text.nullish(),
    labels: Labels.nullish(),
    deleted: z.boolean().nullish(),
  })
  .refine((v) => (v.tenant_id ?? v.project_id) != null, {
    message: 'tenant_id (or project_id) is required',
    path: ['tenant_id'],
  });
export type TenantAttributesWire = z.infer<typeof TenantAttributesWire>;

/** Extension (docs/placement.md): a host's capacity for the placement advice; the newest `ts` wins. */
export const HostAttributesWire = z.object({
  ts: Timestamp,
  host_id: z.string().min(1).max(MAX_TEXT_LENGTH),
  vcpus: Count,
  memory_mb: Count,
  labels: Labels.nullish(),
});
export type HostAttributesWire = z.infer<typeof HostAttributesWire>;
