/**
 * Scale-out members in the test process (test/topology/): a ScaleOutMember over the shared test broker with
 * an inline clusterer, whose service records the run input of every run it starts, so that a test can hold
 * the gathered snapshot equal to one process's.
 */
import { Kafka, logLevel } from 'kafkajs';
import type { RejectedRecord } from '../../src/contract/rejections.ts';
import { PipelineOptions, toRunOptions } from '../../src/config/pipeline-options.ts';
import { DeadLetterProducer } from '../../src/kafka/dead-letter.ts';
import { type KafkaLogger, localKafkaSettings } from '../../src/kafka/options.ts';
import { Pipeline, type PipelineConfig } from '../../src/pipeline/pipeline.ts';
import type { RunInput } from '../../src/runs/run-input.ts';
import { ClusterService } from '../../src/service/cluster-service.ts';
import { type Clusterer, InlineClusterer } from '../../src/service/clusterer.ts';
import type { ReclusterOptions, ReclusterRequestOutcome, RunStatus } from '../../src/service/types.ts';
import type { TopologyConfig } from '../../src/topology/config.ts';
import { ScaleOutMember } from '../../src/topology/member.ts';
import { waitFor } from './service-process.ts';

/** A service that keeps what each run was given, as it was given. */
export class RecordingService extends ClusterService {
  readonly inputs: Array<{ reason: RunStatus['reason']; input: RunInput; request: ReclusterOptions }> = [];

  override startRun(reason: RunStatus['reason'], request: ReclusterOptions = {}, given?: RunInput): ReclusterRequestOutcome {
    // A copy: the inline clusterer fills missing features in the input it is given.
    if (given !== undefined) this.inputs.push({ reason, input: structuredClone(given), request: { ...request } });
    return super.startRun(reason, request, given);
  }
}

export interface TestMember {
  member: ScaleOutMember;
  service: RecordingService;
  logs: string[];
  stop(): Promise<void>;
}

export async function startTestMember(
  brokers: string,
  topology: TopologyConfig,
  pipeline: PipelineConfig,
  {
    routeWorker = false,
    clusterer = new InlineClusterer(),
    ...extra
  }: {
    stateDir?: string;
    hostAttributesTopic?: string;
    checkpointEveryMs?: number;
    routeWorker?: boolean;
    runChunkBytes?: number;
    runCatchUpMs?: number;
    onReject?: (r: RejectedRecord) => void;
    /** The inline clusterer unless given: a test makes runs fail with one of its own. */
    clusterer?: Clusterer;
  } = {},
): Promise<TestMember> {
  const logs: string[] = [];
  const log: KafkaLogger = {
    debug: () => {},
    info: (fields, msg) => void logs.push(`info ${msg} ${JSON.stringify(fields)}`),
    warn: (fields, msg) => void logs.push(`warn ${msg} ${JSON.stringify(fields)}`),
    error: (fields, msg) => void logs.push(`error ${msg} ${JSON.stringify(fields)}`),
  };
  const kafka = new Kafka({ clientId: 'member', brokers: brokers.split(','), logLevel: logLevel.NOTHING, retry: { retries: 8, initialRetryTime: 100 } });
  const service = new RecordingService(new Pipeline(pipeline), clusterer, toRunOptions(PipelineOptions.parse({})), Date.now);
  const t = pipeline.topics;
  const deadLetter = new DeadLetterProducer(kafka, { sourceTopics: [t.flows, t.vmAttributes, t.tenantAttributes] });
  await deadLetter.connect();
  // The route in a worker thread, as the service runs it, with a client of its own on the same broker.
  const worker = routeWorker ? { routeWorker: { kafka: localKafkaSettings(brokers, { clientId: 'member', topics: pipeline.topics }) } } : {};
  const member = new ScaleOutMember({ kafka, topology, pipeline, service, deadLetter, log, ...extra, ...worker });
  await member.start();
  return {
    member,
    service,
    logs,
    async stop() {
      await member.stop();
      await deadLetter.disconnect();
      await service.close();
    },
  };
}

/** What a run is given, in a form `toEqual` compares (typed arrays as arrays). */
export function comparableRunInput(s: RunInput) {
  return {
    watermark: s.watermark,
    vmIds: s.vmIds,
    vmTenants: s.vmTenants,
    vmVpcs: s.vmVpcs,
    features: Array.from(s.vmFeatures.data),
    vmBytes: Array.from(s.vmBytes),
    pairs: [Array.from(s.vmPairs.a), Array.from(s.vmPairs.b), Array.from(s.vmPairs.bytes)],
    tenants: s.tenants,
  };
}

/** A generated trace's messages (topic and value text), the topics mapped to a test's; lines that are no message skipped. */
export function generatedMessages(gen: { lines(): Iterable<string> }, topicOf: Record<string, string>): Array<{ topic: string; value: string }> {
  const out: Array<{ topic: string; value: string }> = [];
  for (const line of gen.lines()) {
    try {
      const { topic, value } = JSON.parse(line) as { topic?: unknown; value?: unknown };
      const to = typeof topic === 'string' ? topicOf[topic] : undefined;
      if (to !== undefined && value !== undefined) out.push({ topic: to, value: JSON.stringify(value) });
    } catch {
      // Not a message of a topic: never reaches Kafka.
    }
  }
  return out;
}

/** A requested run on a member once it leads; resolves with the input the run was given. */
export async function requestedInput(m: TestMember, timeoutMs = 60_000): Promise<RunInput> {
  // The leader's consumer of run requests starts at the end of its topic: a request posted before it joined is not seen.
  await waitFor(async () => (m.member.status().leader && m.member.notReadyReason() === null ? true : undefined), timeoutMs, 'the member leading and ready');
  const before = m.service.inputs.length;
  m.member.requestRun(false);
  const found = await waitFor(async () => m.service.inputs.slice(before).find((r) => r.reason === 'request'), timeoutMs, 'the requested run').catch((err: unknown) => {
    throw new Error(`${String(err)}\n${m.logs.slice(-30).join('\n')}`);
  });
  return found.input;
}
