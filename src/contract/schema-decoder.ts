/**
 * Decoding through the zod schemas: tenant and host attributes (rare, so the schema's cost does not matter).
 * Turns zod issues into the reason catalogue. The hot-path decoders of flows and VM attributes are tested
 * against decoders built the same way from these parts (test/contract/reference-decoders.ts).
 */
import type { z } from 'zod';
import { parseTimestamp } from './flow-decoder.ts';
import type { HostAttributes, TenantAttributes } from './records.ts';
import { type Rejection, type RejectReason, rejection } from './rejections.ts';
import { HostAttributesWire, TenantAttributesWire } from './schemas.ts';

export type Decoded<T> = { ok: true; value: T } | { ok: false; rejection: Rejection };

/** Maps the first zod issue to a reason, looking at the offending raw value where the issue code is vague. */
export function reasonFromIssue(issue: z.core.$ZodIssue, raw: Record<string, unknown>): Rejection {
  const field = issue.path.length > 0 ? issue.path.map(String).join('.') : null;
  const top = issue.path[0];
  const value = typeof top === 'string' ? raw[top] : undefined;
  let reason: RejectReason;
  if (issue.path.length <= 1 && (value === undefined || value === null)) reason = 'missing_field';
  else if (issue.code === 'too_small' || issue.code === 'too_big') reason = 'out_of_range';
  else if (issue.code === 'invalid_format') reason = 'invalid_format';
  else if (issue.code === 'invalid_value') reason = typeof value === 'string' ? 'unknown_value' : 'invalid_type';
  else if (issue.code === 'invalid_union') {
    // Unions are the time (number or RFC 3339), the IP (v4 or v6) and the protocol (number or name).
    if (typeof value === 'string') reason = top === 'protocol' ? 'unknown_protocol' : 'invalid_format';
    else if (typeof value === 'number' && (top === 'ts' || top === 'start_ts')) reason = 'out_of_range';
    else if (typeof value === 'number' && top === 'protocol') reason = Number.isInteger(value) ? 'out_of_range' : 'invalid_type';
    else reason = 'invalid_type';
  } else if (issue.code === 'custom') {
    reason = top === 'protocol' ? 'unknown_protocol' : 'out_of_range';
  } else reason = 'invalid_type';
  return rejection(reason, field, field ? `${field}: ${issue.message}` : issue.message);
}

/** The event time of a value the schema accepted. */
export function schemaTime(value: string | number): number {
  const t = parseTimestamp(value);
  if (typeof t !== 'number') throw new Error('unreachable: schema accepted an invalid time');
  return t;
}

/** Copies labels into a null-prototype object so no key can reach Object.prototype. */
export function copyLabels(labels: Record<string, string> | null | undefined): Record<string, string> | null {
  if (labels == null) return null;
  const out = Object.create(null) as Record<string, string>;
  for (const [k, v] of Object.entries(labels)) out[k] = v;
  return out;
}

export function decodeTenantAttributes(raw: Record<string, unknown>): Decoded<TenantAttributes> {
  const parsed = TenantAttributesWire.safeParse(raw);
  if (!parsed.success) return { ok: false, rejection: reasonFromIssue(parsed.error.issues[0]!, raw) };
  const w = parsed.data;
  return {
    ok: true,
    value: {
      ts: schemaTime(w.ts),
      tenantId: (w.tenant_id ?? w.project_id)!,
      name: w.name ?? null,
      tier: w.tier ?? null,
      labels: copyLabels(w.labels),
      deleted: w.deleted ?? false,
    },
  };
}

/** Host attributes (the placement advice's capacities): rare, so through the schema. */
export function decodeHostAttributes(raw: Record<string, unknown>): Decoded<HostAttributes> {
  const parsed = HostAttributesWire.safeParse(raw);
  if (!parsed.success) return { ok: false, rejection: reasonFromIssue(parsed.error.issues[0]!, raw) };
  const w = parsed.data;
  return { ok: true, value: { ts: schemaTime(w.ts), hostId: w.host_id, vcpus: w.vcpus, memoryMb: w.memory_mb, labels: copyLabels(w.labels) } };
}
