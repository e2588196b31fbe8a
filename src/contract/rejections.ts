/**
 * The catalogue of reasons a record is rejected. Codes are stable: operators alert on them and the replay
 * result counts by them; the detail (field, message) travels with each rejected record.
 */
const REJECT_REASONS = {
  null_value: 'the message has no value (a Kafka tombstone)',
  invalid_json: 'the message is not valid JSON',
  too_large: 'the message exceeds the size limit',
  too_deep: 'the value is nested deeper than allowed',
  invalid_line: 'the trace line is not an object with "topic" and "value"',
  unknown_topic: 'the topic is not one of the configured input topics',
  invalid_value: 'the record is not a JSON object',
  batch_too_large: 'the batch holds more records than allowed',
  missing_field: 'a required field is absent or null',
  invalid_type: 'a field has the wrong type',
  out_of_range: 'a number or length is outside its allowed range',
  invalid_format: 'a string does not have the required format (RFC 3339 time, IP address)',
  unknown_value: 'a field holds a value outside its allowed set (e.g. a VM state)',
  unknown_protocol: 'the protocol is neither an IANA number nor a known name',
  missing_vm: 'a flow names neither src_vm nor dst_vm',
  missing_port: 'a TCP, UDP or SCTP flow lacks src_port or dst_port',
  forbidden_key: 'the record carries a prototype-pollution key (__proto__, constructor, prototype)',
  vm_cap: 'the record names only VMs that are not tracked because MAX_VMS VMs are (a resource limit)',
  tenant_cap: 'the tenant attributes name a new tenant while MAX_TENANTS tenants are held (a resource limit)',
  too_late: 'the record is older than the watermark minus the allowed lateness',
  future_ts: 'the record is further ahead of now (wall clock, or the time most recent sources agree on) than the allowed future skew',
} as const;

export type RejectReason = keyof typeof REJECT_REASONS;

export interface Rejection {
  reason: RejectReason;
  /** The offending field, when one is to blame. */
  field: string | null;
  message: string;
}

export function rejection(reason: RejectReason, field: string | null, message?: string): Rejection {
  return { reason, field, message: message ?? (field ? `${field}: ${REJECT_REASONS[reason]}` : REJECT_REASONS[reason]) };
}

/** A rejected record as kept for operators: where it came from, why, and the original text. */
export interface RejectedRecord extends Rejection {
  topic: string;
  /** Position of the message in its source (trace line number or Kafka partition/offset). */
  source: string;
  /** Index of the record in its batch, or null when the whole message was rejected. */
  index: number | null;
  raw: string;
}

export interface RejectionSummary {
  count: number;
  by_reason: Partial<Record<RejectReason, number>>;
}

/** Counts rejections by reason and hands each to a sink (rejects file, dead-letter topic). */
export class RejectionCounter {
  count = 0;
  private readonly byReason = new Map<RejectReason, number>();

  add(reason: RejectReason): void {
    this.count++;
    this.byReason.set(reason, (this.byReason.get(reason) ?? 0) + 1);
  }

  summary(): RejectionSummary {
    const by_reason: Partial<Record<RejectReason, number>> = {};
    for (const reason of [...this.byReason.keys()].sort()) by_reason[reason] = this.byReason.get(reason);
    return { count: this.count, by_reason };
  }

  /** Continues from counts saved earlier (a snapshot), replacing whatever was counted so far. */
  restore(summary: RejectionSummary): void {
    this.byReason.clear();
    this.count = 0;
    for (const [reason, n] of Object.entries(summary.by_reason)) {
      if (reason in REJECT_REASONS && typeof n === 'number' && n > 0) {
        this.byReason.set(reason as RejectReason, n);
        this.count += n;
      }
    }
  }
}
