/**
 * Streams a trace file (JSON Lines, plain or gzip) into Kafka: each line becomes one message on its topic,
 * value = JSON of line.value, key = line.key or the record's natural key (CONTRACT: src_vm, vm_id,
 * tenant_id). Sends are batched (one sendBatch holds many messages for many topics), optionally paced by
 * a records/s limit or by the records' event time.
 *
 * Lines that are not JSON objects with a string topic and a value are counted and skipped with a warning;
 * with `rawInvalid` they are sent as-is to the flows topic instead, to exercise the consumer's rejection
 * path with input no encoder of ours produced.
 */
import type { Kafka, Message, Producer } from 'kafkajs';
import { collectorToContract, type FlowFormat } from '../contract/formats/flow-formats.ts';
import { defaultTopics } from '../contract/topics.ts';
import { readTraceChunks } from '../trace/trace-reader.ts';
import { isValidTopicName } from '../config/kafka-settings.ts';

export interface ProduceOptions {
  /** Records per second (array values count each element); 0 or absent: no limit. */
  rate?: number;
  /** Replays event time X times faster than real time; 0 or absent: as fast as possible. */
  speedup?: number;
  /** Messages per sendBatch. Default 500. */
  batch?: number;
  /** Send invalid lines raw to the flows topic instead of skipping them. */
  rawInvalid?: boolean;
  /** Trace topic -> Kafka topic (e.g. from KAFKA_TOPIC_*); unmapped topics keep their name. */
  topicMap?: Readonly<Record<string, string>>;
  /** Larger values are skipped with a warning: the broker would reject the whole batch (default 900,000). */
  maxMessageBytes?: number;
  /**
   * Bytes of values per send request (default 900,000): the broker caps a partition's record batch at
   * message.max.bytes (1 MiB by default), and one request carries one batch per partition.
   */
  maxRequestBytes?: number;
  /** Broker acknowledgement per batch; default -1 (all in-sync replicas). */
  acks?: -1 | 0 | 1;
  /**
   * The JSON of the trace's flows (docs/exporters.md): for a collector's, the key is the record's source
   * address and the pacing reads its own time fields. Values are sent unchanged. Default `alcor`.
   */
  flowFormat?: FlowFormat;
  /** Called at most every `progressIntervalMs` (default 500) and once at the end. */
  onProgress?: (p: ProduceProgress) => void;
  progressIntervalMs?: number;
  /** Lines in the trace, for the ETA; the CLI counts them first. */
  totalLines?: number;
  /** Warnings about skipped lines (first few in full, then a count). */
  onWarning?: (message: string) => void;
}

export interface ProduceProgress {
  lines: number;
  /** Bytes of the file read so far (compressed bytes for a gzip file) and its size: the share done. */
  bytesRead: number;
  fileBytes: number;
  messages: number;
  records: number;
  elapsedMs: number;
  recordsPerSec: number;
  /** Seconds left, when the total is known. */
  etaSec: number | null;
  done: boolean;
}

export interface ProduceResult {
  lines: number;
  messages: number;
  records: number;
  /** Messages per Kafka topic. */
  byTopic: Record<string, number>;
  /** Lines that were not a JSON object with a string topic and a value. */
  invalid: number;
  /** Invalid lines sent raw to the flows topic (rawInvalid). */
  sentRaw: number;
  /** Lines whose topic is not a legal Kafka topic name, or whose value is larger than allowed. */
  skipped: number;
  elapsedMs: number;
  recordsPerSec: number;
}

const KEY_FIELDS: Record<string, readonly string[]> = {
  [defaultTopics.flows]: ['src_vm', 'dst_vm'],
  [defaultTopics.vmAttributes]: ['vm_id', 'device_id'],
  [defaultTopics.tenantAttributes]: ['tenant_id', 'project_id'],
};

/** The record's natural key (of the first record, for an array), so one VM's messages share a partition. */
export function deriveKey(traceTopic: string, value: unknown): string | null {
  const fields = KEY_FIELDS[traceTopic];
  if (!fields) return null;
  const rec = Array.isArray(value) ? value[0] : value;
  if (typeof rec !== 'object' || rec === null) return null;
  for (const f of fields) {
    const v = (rec as Record<string, unknown>)[f];
    if (typeof v === 'string' && v.length > 0) return v;
  }
  return null;
}

/**
 * A collector's flow value as the contract's FlowRecords (what keys and pacing read); records that do not
 * translate stay as they are (the service rejects them, with their reason).
 */
function contractView(format: FlowFormat, value: unknown): unknown {
  if (format === 'alcor') return value;
  const one = (rec: unknown): unknown => {
    if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) return rec;
    const d = collectorToContract(format, rec as Record<string, unknown>);
    // The source address stands for the VM a collector cannot name: one source's flows share a partition.
    return d.ok ? { ...d.value, src_vm: d.value.src_ip } : rec;
  };
  return Array.isArray(value) ? value.map(one) : one(value);
}

/** Newest event time (ms) among the value's records, or NaN when none has a usable `ts`. */
export function eventTimeOf(value: unknown): number {
  let best = Number.NaN;
  const one = (rec: unknown): void => {
    if (typeof rec !== 'object' || rec === null) return;
    const ts = (rec as { ts?: unknown }).ts;
    const t = typeof ts === 'number' ? ts : typeof ts === 'string' ? Date.parse(ts) : Number.NaN;
    if (Number.isFinite(t) && !(t <= best)) best = t;
  };
  if (Array.isArray(value)) for (const r of value) one(r);
  else one(value);
  return best;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface PendingMessage {
  topic: string;
  message: Message;
  records: number;
  bytes: number;
}

export async function produceTrace(path: string, options: ProduceOptions, kafka: Kafka): Promise<ProduceResult> {
  const producer = kafka.producer({ allowAutoTopicCreation: true });
  await producer.connect();
  try {
    return await produceTraceWith(producer, path, options);
  } finally {
    await producer.disconnect();
  }
}

/**
 * The same through a sender of the caller's: a transaction, for one (the scale-out bench publishes a whole
 * trace at once to consumers that read committed data only).
 */
export async function produceTraceWith(producer: Pick<Producer, 'sendBatch'>, path: string, options: ProduceOptions): Promise<ProduceResult> {
  const batchSize = Math.max(1, Math.floor(options.batch ?? 500));
  const rate = options.rate && options.rate > 0 ? options.rate : 0;
  const speedup = options.speedup && options.speedup > 0 ? options.speedup : 0;
  const maxBytes = options.maxMessageBytes ?? 900_000;
  const acks = options.acks ?? -1;
  const maxRequestBytes = options.maxRequestBytes ?? 900_000;
  const topicMap = options.topicMap ?? {};
  const flowsTopic = topicMap[defaultTopics.flows] ?? defaultTopics.flows;
  const flowFormat = options.flowFormat ?? 'alcor';
  const progressEvery = options.progressIntervalMs ?? 500;
  const warn = options.onWarning ?? (() => {});
  // A rate-limited batch holds about 1/20 s of records, so pacing stays smooth at low rates.
  const recordsPerSend = rate > 0 ? Math.max(1, Math.floor(rate / 20)) : Number.POSITIVE_INFINITY;

  const result: ProduceResult = {
    lines: 0,
    messages: 0,
    records: 0,
    byTopic: {},
    invalid: 0,
    sentRaw: 0,
    skipped: 0,
    elapsedMs: 0,
    recordsPerSec: 0,
  };
  const started = Date.now();
  let lastProgress = 0;
  let pending: PendingMessage[] = [];
  let pendingRecords = 0;
  let pendingBytes = 0;
  let rateAnchor = started;
  let rateAnchorRecords = 0;
  let warnings = 0;
  // Event-time pacing: the first timed line anchors event time to wall time.
  let eventAnchor = Number.NaN;
  let wallAnchor = 0;
  let newestEvent = Number.NEGATIVE_INFINITY;
  let bytesRead = 0;
  let fileBytes = 0;

  const progress = (done: boolean): void => {
    const now = Date.now();
    if (!options.onProgress || (!done && now - lastProgress < progressEvery)) return;
    lastProgress = now;
    const elapsedMs = now - started;
    const recordsPerSec = elapsedMs > 0 ? (result.records * 1000) / elapsedMs : 0;
    let etaSec: number | null = null;
    if (done) etaSec = 0;
    else if (options.totalLines !== undefined && result.lines > 0) {
      etaSec = ((options.totalLines - result.lines) * elapsedMs) / result.lines / 1000;
    }
    options.onProgress({
      lines: result.lines,
      bytesRead,
      fileBytes,
      messages: result.messages,
      records: result.records,
      elapsedMs,
      recordsPerSec,
      etaSec,
      done,
    });
  };

  const skip = (lineNo: number, why: string): void => {
    warnings++;
    if (warnings <= 10) warn(`line ${lineNo}: ${why}; skipped`);
    else if (warnings === 11) warn('more lines skipped; see the final counts');
  };

  const send = async (): Promise<void> => {
    if (pending.length === 0) return;
    const byTopic = new Map<string, Message[]>();
    for (const p of pending) {
      const list = byTopic.get(p.topic);
      if (list) list.push(p.message);
      else byTopic.set(p.topic, [p.message]);
    }
    await producer.sendBatch({ acks, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
    for (const [topic, messages] of byTopic) result.byTopic[topic] = (result.byTopic[topic] ?? 0) + messages.length;
    result.messages += pending.length;
    result.records += pendingRecords;
    pending = [];
    pendingRecords = 0;
    pendingBytes = 0;
    progress(false);
    if (rate > 0) {
      const wait = rateAnchor + ((result.records - rateAnchorRecords) * 1000) / rate - Date.now();
      if (wait > 0) await sleep(wait);
      else if (wait < -1000) {
        // After a stall (topic auto-creation, a slow broker) start over rather than burst to catch up.
        rateAnchor = Date.now();
        rateAnchorRecords = result.records;
      }
    }
  };

  const enqueue = async (p: PendingMessage): Promise<void> => {
    if (pendingBytes + p.bytes > maxRequestBytes) await send();
    pending.push(p);
    pendingBytes += p.bytes;
    pendingRecords += p.records;
    if (pending.length >= batchSize || pendingRecords >= recordsPerSend) await send();
  };

  const onRead = (read: number, size: number): void => {
    bytesRead = read;
    fileBytes = size;
  };
  for await (const chunk of readTraceChunks(path, maxBytes, onRead)) {
    for (let i = 0; i < chunk.lines.length; i++) {
      const lineNo = chunk.firstLine + i;
      const line = chunk.lines[i];
      result.lines++;
      if (line === null || line === undefined) {
        result.skipped++;
        skip(lineNo, `longer than ${maxBytes} bytes`);
        continue;
      }
      if (line.trim() === '') {
        // A blank line (e.g. a trailing newline pair) is not a message: not counted as invalid either.
        continue;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        parsed = undefined;
      }
      const obj = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
      const traceTopic = obj?.topic;
      let text: string | undefined;
      if (obj && typeof traceTopic === 'string' && obj.value !== undefined) {
        try {
          text = JSON.stringify(obj.value);
        } catch {
          // Deep nesting can overflow the stack in stringify although parse coped: treat as invalid.
          text = undefined;
        }
      }
      if (!obj || typeof traceTopic !== 'string' || text === undefined) {
        result.invalid++;
        if (options.rawInvalid) {
          const bytes = Buffer.byteLength(line);
          if (bytes > maxBytes) {
            result.skipped++;
            skip(lineNo, 'invalid and too large to send raw');
            continue;
          }
          result.sentRaw++;
          await enqueue({ topic: flowsTopic, message: { key: null, value: line }, records: 1, bytes });
        } else skip(lineNo, 'not a JSON object with a string "topic" and a "value"');
        continue;
      }
      const topic = topicMap[traceTopic] ?? traceTopic;
      if (!isValidTopicName(topic)) {
        result.skipped++;
        skip(lineNo, `topic "${topic.slice(0, 64)}" is not a legal Kafka topic name`);
        continue;
      }
      const bytes = Buffer.byteLength(text);
      if (bytes > maxBytes) {
        result.skipped++;
        skip(lineNo, `value larger than ${maxBytes} bytes`);
        continue;
      }
      const value = traceTopic === defaultTopics.flows ? contractView(flowFormat, obj.value) : obj.value;
      if (speedup > 0) {
        const t = eventTimeOf(value);
        if (Number.isFinite(t) && t > newestEvent) {
          newestEvent = t;
          if (Number.isNaN(eventAnchor)) {
            eventAnchor = t;
            wallAnchor = Date.now();
          } else {
            const wait = wallAnchor + (t - eventAnchor) / speedup - Date.now();
            if (wait > 0) {
              // What is due now goes out before the pause, not after it.
              await send();
              const left = wallAnchor + (t - eventAnchor) / speedup - Date.now();
              if (left > 0) await sleep(left);
            }
          }
        }
      }
      const key = typeof obj.key === 'string' ? obj.key : deriveKey(traceTopic, value);
      await enqueue({ topic, message: { key, value: text }, records: Array.isArray(value) ? value.length : 1, bytes });
    }
  }
  await send();
  result.elapsedMs = Date.now() - started;
  result.recordsPerSec = result.elapsedMs > 0 ? (result.records * 1000) / result.elapsedMs : 0;
  progress(true);
  return result;
}
