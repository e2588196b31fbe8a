/**
 * The JSON formats a flows topic may carry: the contract's own (`alcor`) or what a flow collector publishes
 * to Kafka (`goflow2`, `pmacct`). A collector's record is translated into the contract's FlowRecord and then
 * goes through the contract's own decoder, so every rule and rejection reason is the same whatever the
 * format; rejections name the collector's field.
 */
import { decodeFlowInto } from '../flow-decoder.ts';
import type { FlowRecord } from '../records.ts';
import type { Rejection } from '../rejections.ts';
import type { Decoded } from '../schema-decoder.ts';
import { renameField } from './collector-fields.ts';
import { GOFLOW2_FIELD_NAMES, goflow2ToContract } from './goflow2.ts';
import { PMACCT_FIELD_NAMES, pmacctToContract } from './pmacct.ts';

export const FLOW_FORMATS = ['alcor', 'goflow2', 'pmacct'] as const;
export type FlowFormat = (typeof FLOW_FORMATS)[number];
export type CollectorFormat = Exclude<FlowFormat, 'alcor'>;

const COLLECTORS: Record<CollectorFormat, { toContract: (raw: Record<string, unknown>) => Decoded<Record<string, unknown>>; names: Readonly<Record<string, string>> }> = {
  goflow2: { toContract: goflow2ToContract, names: GOFLOW2_FIELD_NAMES },
  pmacct: { toContract: pmacctToContract, names: PMACCT_FIELD_NAMES },
};

/** The contract's wire record for a collector's record, or why there is none (for tools and tests). */
export function collectorToContract(format: CollectorFormat, raw: Record<string, unknown>): Decoded<Record<string, unknown>> {
  return COLLECTORS[format].toContract(raw);
}

/** As `decodeFlowInto`, for a record in a collector's format. */
export function decodeCollectorFlowInto(format: CollectorFormat, raw: Record<string, unknown>, out: FlowRecord): Rejection | null {
  const c = COLLECTORS[format];
  const wire = c.toContract(raw);
  if (!wire.ok) return wire.rejection;
  const r = decodeFlowInto(wire.value, out);
  return r === null ? null : renameField(r, c.names);
}

