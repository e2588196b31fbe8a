/** Kafka's own performance tools (kafka-producer-perf-test, kafka-consumer-perf-test) run from the jars, their output parsed. */
import { randomBytes } from 'node:crypto';
import { ensureKafkaJars, JAVA, javaBaseArgs } from './jars.ts';
import { run } from './processes.ts';

export interface ProducerPerfOptions {
  brokers: string;
  topic: string;
  numRecords: number;
  recordSize: number;
  /** Records/s cap; -1 (default) = as fast as possible. */
  throughput?: number;
  /** Extra producer configs, e.g. `{ acks: 1, 'linger.ms': 5, 'compression.type': 'lz4' }`. */
  producerProps?: Record<string, string | number>;
  cacheDir?: string;
  timeoutMs?: number;
}

export interface ProducerPerfResult {
  records: number;
  recordsPerSec: number;
  mbPerSec: number;
  avgLatencyMs: number;
  maxLatencyMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  p999Ms: number;
  raw: string;
}

/** Parses ProducerPerformance's final summary line. Exported for tests. */
export function parseProducerPerfOutput(stdout: string): ProducerPerfResult {
  const re =
    /(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th/;
  const lines = stdout.trim().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = re.exec(lines[i] ?? '');
    if (m) {
      const n = (k: number): number => Number(m[k]);
      return {
        records: n(1),
        recordsPerSec: n(2),
        mbPerSec: n(3),
        avgLatencyMs: n(4),
        maxLatencyMs: n(5),
        p50Ms: n(6),
        p95Ms: n(7),
        p99Ms: n(8),
        p999Ms: n(9),
        raw: lines[i] ?? '',
      };
    }
  }
  throw new Error(`no ProducerPerformance summary in output:\n${stdout.slice(-2000)}`);
}

/** Runs `org.apache.kafka.tools.ProducerPerformance` (kafka-producer-perf-test) against `brokers`. */
export async function runProducerPerformance(opts: ProducerPerfOptions): Promise<ProducerPerfResult> {
  const libDir = await ensureKafkaJars(opts.cacheDir);
  const props = { acks: 1, ...opts.producerProps, 'bootstrap.servers': opts.brokers };
  const { stdout } = await run(
    JAVA,
    [
      '-Xmx512m',
      ...javaBaseArgs(libDir, 'WARN'),
      'org.apache.kafka.tools.ProducerPerformance',
      '--topic',
      opts.topic,
      '--num-records',
      String(opts.numRecords),
      '--record-size',
      String(opts.recordSize),
      '--throughput',
      String(opts.throughput ?? -1),
      '--producer-props',
      ...Object.entries(props).map(([k, v]) => `${k}=${String(v)}`),
    ],
    { timeoutMs: opts.timeoutMs ?? 300_000 },
  );
  return parseProducerPerfOutput(stdout);
}

export interface ConsumerPerfOptions {
  brokers: string;
  topic: string;
  /** Records to consume before stopping. */
  messages: number;
  group?: string;
  /** Max ms without new records before the tool gives up (default 30 s). */
  idleTimeoutMs?: number;
  fetchSize?: number;
  cacheDir?: string;
  timeoutMs?: number;
}

export interface ConsumerPerfResult {
  records: number;
  mb: number;
  /** Over the whole run, including the group join/rebalance. */
  recordsPerSec: number;
  mbPerSec: number;
  rebalanceMs: number;
  fetchMs: number;
  /** Over the fetch time only (excludes the rebalance) — the broker's delivery rate. */
  fetchRecordsPerSec: number;
  fetchMbPerSec: number;
  raw: string;
}

/**
 * Parses ConsumerPerformance's CSV output (`start.time, end.time, data.consumed.in.MB, MB.sec,
 * data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec`).
 */
export function parseConsumerPerfOutput(stdout: string): ConsumerPerfResult {
  const lines = stdout
    .trim()
    .split('\n')
    .map((l) => l.trim());
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] ?? '';
    const cols = line.split(',').map((c) => c.trim());
    if (cols.length < 10 || cols[2] === 'data.consumed.in.MB') continue;
    const nums = cols.slice(2, 10).map(Number);
    if (nums.some((x) => !Number.isFinite(x))) continue;
    const [mb, mbPerSec, records, recordsPerSec, rebalanceMs, fetchMs, fetchMbPerSec, fetchRecordsPerSec] =
      nums as [number, number, number, number, number, number, number, number];
    return { records, mb, recordsPerSec, mbPerSec, rebalanceMs, fetchMs, fetchRecordsPerSec, fetchMbPerSec, raw: line };
  }
  throw new Error(`no ConsumerPerformance result in output:\n${stdout.slice(-2000)}`);
}

/** Runs `org.apache.kafka.tools.ConsumerPerformance` (kafka-consumer-perf-test) against `brokers`. */
export async function runConsumerPerformance(opts: ConsumerPerfOptions): Promise<ConsumerPerfResult> {
  const libDir = await ensureKafkaJars(opts.cacheDir);
  const args = [
    '-Xmx512m',
    ...javaBaseArgs(libDir, 'WARN'),
    'org.apache.kafka.tools.ConsumerPerformance',
    '--bootstrap-server',
    opts.brokers,
    '--topic',
    opts.topic,
    '--messages',
    String(opts.messages),
    '--timeout',
    String(opts.idleTimeoutMs ?? 30_000),
    '--group',
    opts.group ?? `perf-consumer-${randomBytes(4).toString('hex')}`,
  ];
  if (opts.fetchSize !== undefined) args.push('--fetch-size', String(opts.fetchSize));
  const { stdout } = await run(JAVA, args, { timeoutMs: opts.timeoutMs ?? 300_000 });
  return parseConsumerPerfOutput(stdout);
}
