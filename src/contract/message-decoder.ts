/**
 * Turns one message (a Kafka value or a trace line's value) into typed records or rejections. A batch is
 * decoded record by record: one bad record never spoils the others.
 */
import { decodeFlowInto } from './flow-decoder.ts';
import { decodeCollectorFlowInto, type FlowFormat } from './formats/flow-formats.ts';
import { emptyFlowRecord, type FlowRecord, type HostAttributes, type TenantAttributes, type VmAttributes } from './records.ts';
import { type Rejection, rejection } from './rejections.ts';
import { decodeVmAttributesFast } from './attributes-decoder.ts';
import { decodeHostAttributes, decodeTenantAttributes } from './schema-decoder.ts';
import { checkStructure, MAX_DEPTH } from './structure.ts';
import type { TopicNames } from './topics.ts';

export type RecordKind = 'flow' | 'vm' | 'tenant' | 'host';

export interface RecordSink {
  /**
   * The record object is reused for the next flow: copy what must outlive the call. `raw` is its source,
   * `index` its position in its batch (null for a single record), for a reject decided after decoding.
   */
  flow(record: FlowRecord, raw: unknown, index: number | null): void;
  /** `raw` and `index` as for a flow. */
  vmAttributes(record: VmAttributes, raw: unknown, index: number | null): void;
  tenantAttributes(record: TenantAttributes, raw: unknown, index: number | null): void;
  /** Host capacities (placement advice); a sink without it drops them. */
  hostAttributes?(record: HostAttributes): void;
  /** `index` is the record's position in its batch, or null when the whole message was rejected. */
  reject(r: Rejection, index: number | null, raw: unknown): void;
}

export interface DecodeLimits {
  /** Messages larger than this (in UTF-16 code units of the text, a close bound on bytes) are rejected whole. */
  maxMessageBytes: number;
  maxBatchRecords: number;
  maxDepth: number;
}

export const defaultDecodeLimits: DecodeLimits = {
  maxMessageBytes: 4 * 1024 * 1024,
  maxBatchRecords: 100_000,
  maxDepth: MAX_DEPTH,
};

export class MessageDecoder {
  private readonly scratch = emptyFlowRecord();

  /** `flowFormat`: the JSON the flows carry, the contract's own or a collector's (docs/CONTRACT.md). */
  constructor(
    private readonly limits: DecodeLimits = defaultDecodeLimits,
    private readonly flowFormat: FlowFormat = 'alcor',
  ) {}

  /** Decodes a message's text (UTF-8 already decoded). */
  decodeText(kind: RecordKind, text: string, sink: RecordSink): void {
    if (text.length > this.limits.maxMessageBytes) {
      sink.reject(rejection('too_large', null, `message of ${text.length} bytes exceeds ${this.limits.maxMessageBytes}`), null, text);
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      sink.reject(rejection('invalid_json', null, `invalid JSON: ${(err as Error).message}`), null, text);
      return;
    }
    this.decodeValue(kind, value, sink);
  }

  /** Decodes an already parsed value: one record or an array of them. */
  decodeValue(kind: RecordKind, value: unknown, sink: RecordSink): void {
    if (Array.isArray(value)) {
      if (value.length > this.limits.maxBatchRecords) {
        sink.reject(rejection('batch_too_large', null, `batch of ${value.length} records exceeds ${this.limits.maxBatchRecords}`), null, value);
        return;
      }
      for (let i = 0; i < value.length; i++) this.decodeRecord(kind, value[i], i, sink);
    } else {
      this.decodeRecord(kind, value, null, sink);
    }
  }

  private decodeRecord(kind: RecordKind, raw: unknown, index: number | null, sink: RecordSink): void {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      sink.reject(rejection('invalid_value', null, `expected a JSON object, got ${describe(raw)}`), index, raw);
      return;
    }
    const structural = checkStructure(raw, this.limits.maxDepth);
    if (structural) {
      sink.reject(structural, index, raw);
      return;
    }
    const record = raw as Record<string, unknown>;
    switch (kind) {
      case 'flow': {
        const r = this.flowFormat === 'alcor' ? decodeFlowInto(record, this.scratch) : decodeCollectorFlowInto(this.flowFormat, record, this.scratch);
        if (r) sink.reject(r, index, raw);
        else sink.flow(this.scratch, raw, index);
        return;
      }
      case 'vm': {
        const d = decodeVmAttributesFast(record);
        if (d.ok) sink.vmAttributes(d.value, raw, index);
        else sink.reject(d.rejection, index, raw);
        return;
      }
      case 'tenant': {
        const d = decodeTenantAttributes(record);
        if (d.ok) sink.tenantAttributes(d.value, raw, index);
        else sink.reject(d.rejection, index, raw);
        return;
      }
      case 'host': {
        const d = decodeHostAttributes(record);
        if (d.ok) sink.hostAttributes?.(d.value);
        else sink.reject(d.rejection, index, raw);
        return;
      }
      default:
        assertNever(kind);
    }
  }
}

/** What an input decoder is told of the inputs: the topics and the formats and limits of their messages. */
export interface InputDecoderConfig {
  topics: TopicNames;
  /** The optional fourth topic (host capacities), read only when named. */
  hostAttributesTopic?: string;
  limits: DecodeLimits;
  flowFormat?: FlowFormat;
}

/**
 * The input topics' messages decoded by the topic they came from: the one decode path of the single-process
 * pipeline and the scale-out router, so that both accept and reject exactly the same messages.
 */
export class InputDecoder {
  private readonly decoder: MessageDecoder;
  private readonly kinds: Map<string, RecordKind>;

  constructor(config: InputDecoderConfig) {
    this.decoder = new MessageDecoder(config.limits, config.flowFormat ?? 'alcor');
    this.kinds = new Map<string, RecordKind>([
      [config.topics.flows, 'flow'],
      [config.topics.vmAttributes, 'vm'],
      [config.topics.tenantAttributes, 'tenant'],
    ]);
    if (config.hostAttributesTopic !== undefined) this.kinds.set(config.hostAttributesTopic, 'host');
  }

  /**
   * A message as it comes off Kafka: its value's text, null for a tombstone. False when it was refused
   * whole for what it is (a tombstone, an unknown topic) before any decoding.
   */
  decodeMessage(topic: string, text: string | null, sink: RecordSink): boolean {
    if (text === null) {
      sink.reject(rejection('null_value', null), null, '');
      return false;
    }
    if (!this.kindOf(topic, text, sink)) return false;
    this.decoder.decodeText(this.kinds.get(topic)!, text, sink);
    return true;
  }

  /** A value already parsed (a trace line's); `evidence` is what an unknown topic's rejection keeps. */
  decodeValue(topic: string, value: unknown, evidence: string, sink: RecordSink): void {
    if (this.kindOf(topic, evidence, sink)) this.decoder.decodeValue(this.kinds.get(topic)!, value, sink);
  }

  private kindOf(topic: string, evidence: string, sink: RecordSink): boolean {
    if (this.kinds.has(topic)) return true;
    sink.reject(rejection('unknown_topic', 'topic', `unknown topic "${topic.slice(0, 64)}"`), null, evidence);
    return false;
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v;
}

function assertNever(x: never): never {
  throw new Error(`unexpected value: ${String(x)}`);
}
