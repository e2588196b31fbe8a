/**
 * The set-up the scale-out tests share: a fresh application over fresh input topics, run as member
 * processes (test/e2e/) or as members in the test process (test/topology/, with test/helpers/members.ts);
 * the offline replay they must agree with, and waiting for a requested run to reach every member.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, expect } from 'vitest';
import { defaultTopics } from '../../src/contract/topics.ts';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import { type ProduceResult, produceTrace } from '../../src/kafka/produce-trace.ts';
import type { PipelineConfig } from '../../src/pipeline/pipeline.ts';
import { replayTrace } from '../../src/replay/replay.ts';
import type { TopologyConfig } from '../../src/topology/config.ts';
import { createServiceInputs, createTopics, type ServiceInputs, sharedTestKafka, testKafkaClient, uniqueTopic } from './kafka.ts';
import { startTestMember, type TestMember } from './members.ts';
import { adjustedRandIndex } from '../../src/evaluation/metrics.ts';
import { type Assignments, type Stats, stats } from './reliability.ts';
import { getJson, type ServiceProcess, startServiceProcess, waitFor } from './service-process.ts';

/**
 * The members' session timeout in tests: a dead member's partitions and the leadership move within it. The
 * test broker allows it (group.min.session.timeout.ms, test/helpers/kafka.ts; Kafka's default floor is 6 s,
 * operators keep 30 s). 5 s was tried: at load 40 a member starved of CPU missed it while alive, again and
 * again (its partitions and the leadership moved for nothing, a run went unpublished), and the test failed.
 */
const TEST_SESSION_TIMEOUT_MS = 8000;

/**
 * The members' table readers' fetch wait in tests (SCALE_OUT_READER_WAIT_MS). A reader's stop waits for its
 * fetch in flight, which on an idle topic is kafkajs' 5 s: a member stopped in 11 s, most of it these waits
 * one after another (docs/testing.md). Data still arrives at once; only the idle fetches are shorter.
 */
export const TEST_READER_WAIT_MS = 500;

/** The environment of every member of a fresh application over the given inputs. */
export function memberEnv(inputs: Record<string, string>, name: string, partitions = 6, sessionTimeoutMs = TEST_SESSION_TIMEOUT_MS): Record<string, string> {
  return {
    ...inputs,
    SCALE_OUT_APP_ID: uniqueTopic(name),
    SCALE_OUT_PARTITIONS: String(partitions),
    SCALE_OUT_SESSION_TIMEOUT_MS: String(sessionTimeoutMs),
    SCALE_OUT_READER_WAIT_MS: String(TEST_READER_WAIT_MS),
    LOG_LEVEL: 'info',
  };
}

/** An application of member processes over fresh input topics, and the small fixture to produce into them. */
export interface MemberProcesses {
  topics: ServiceInputs['topics'];
  /** The application's id (SCALE_OUT_APP_ID): its groups and topics are named after it (topologyGroups, topologyTopics). */
  appId: string;
  /** Every member started, in order, dead ones included (their logs are kept on failure). */
  readonly members: ServiceProcess[];
  /** Starts one more member of the application. */
  start(): Promise<ServiceProcess>;
  /** Produces the trace (fixtures/small.jsonl.gz unless given) into the application's inputs (`rate` records/s; unpaced without it). */
  produce(rate?: number): Promise<ProduceResult>;
  /** Keeps every member's log in test-output/scale-out/ (call from onTestFailed). */
  keepLogs(): void;
  /** kill -9 of every member still running (afterAll). */
  stopAll(): Promise<void>;
}

/**
 * `inputPartitions`: of the flows and VM-attributes topics (createServiceInputs); several split the route over
 * the members. `trace`: what `produce` sends; `sessionTimeoutMs`: the members' (TEST_SESSION_TIMEOUT_MS unless given).
 */
export async function memberProcesses(
  brokers: string,
  name: string,
  count: number,
  inputPartitions = 1,
  { trace = 'fixtures/small.jsonl.gz', sessionTimeoutMs }: { trace?: string; sessionTimeoutMs?: number } = {},
): Promise<MemberProcesses> {
  const { topics, env } = await createServiceInputs(brokers, name, inputPartitions);
  const member = memberEnv(env, name, undefined, sessionTimeoutMs);
  const members: ServiceProcess[] = [];
  const start = async (): Promise<ServiceProcess> => {
    const m = await startServiceProcess(member);
    members.push(m);
    return m;
  };
  await Promise.all(Array.from({ length: count }, start));
  return {
    topics,
    appId: member.SCALE_OUT_APP_ID!,
    members,
    start,
    produce: (rate) =>
      produceTrace(
        trace,
        {
          ...(rate === undefined ? {} : { rate }),
          topicMap: { [defaultTopics.flows]: topics.flows, [defaultTopics.vmAttributes]: topics.vm, [defaultTopics.tenantAttributes]: topics.tenant },
        },
        testKafkaClient(brokers, `${name}-producer`),
      ),
    keepLogs: () => keepLogs(name, () => members),
    stopAll: async () => {
      for (const m of members) await m.stop('SIGKILL');
    },
  };
}

/** Members in the test process: the application's topology, its pipeline over fresh inputs, and a producer into them. */
export interface InProcessApp {
  topics: ServiceInputs['topics'];
  topology: TopologyConfig;
  /** The pipeline of one process over the same inputs, with a wall clock as the live service has (the traces lie in its past). */
  pipeline: PipelineConfig;
  /** The input topic of host capacities, when asked for (created, and named in the pipeline). */
  hostTopic: string | null;
  /** The generated traces' topic names mapped to this test's (generatedMessages in test/helpers/members.ts). */
  topicOf: Record<string, string>;
  /** Sends the messages in order, 50 to a request (the broker takes about 1 MB per request). */
  send(messages: ReadonlyArray<{ topic: string; value: string }>): Promise<void>;
  /** Disconnects the producer. */
  close(): Promise<void>;
}

export async function inProcessApp(brokers: string, name: string, partitions: number, options: { hostAttributes?: boolean } = {}): Promise<InProcessApp> {
  const { topics } = await createServiceInputs(brokers, name);
  const hostTopic = options.hostAttributes === true ? `${topics.flows}.hosts` : null;
  if (hostTopic !== null) await createTopics(brokers, [hostTopic]);
  const defaults = toPipelineConfig(PipelineOptions.parse({}));
  const pipeline: PipelineConfig = {
    ...defaults,
    topics: { flows: topics.flows, vmAttributes: topics.vm, tenantAttributes: topics.tenant },
    ...(hostTopic === null ? {} : { hostAttributesTopic: hostTopic }),
    future: { ...defaults.future!, wallClock: Date.now },
  };
  const producer = testKafkaClient(brokers, `${name}-producer`).producer();
  await producer.connect();
  return {
    topics,
    topology: { appId: uniqueTopic(name), partitions, replicationFactor: 1, sessionTimeoutMs: TEST_SESSION_TIMEOUT_MS, readerWaitMs: TEST_READER_WAIT_MS },
    pipeline,
    hostTopic,
    topicOf: { [defaultTopics.flows]: topics.flows, [defaultTopics.vmAttributes]: topics.vm, [defaultTopics.tenantAttributes]: topics.tenant },
    async send(messages) {
      for (let i = 0; i < messages.length; i += 50) {
        const batch = messages.slice(i, i + 50);
        for (const topic of new Set(batch.map((m) => m.topic))) await producer.send({ topic, messages: batch.filter((m) => m.topic === topic).map((m) => ({ value: m.value })) });
      }
    },
    close: () => producer.disconnect(),
  };
}

/** A file of in-process member tests: the shared broker, and what its tests start, stopped after the file. */
export interface MemberTestFile {
  /** The shared test broker, once the file's beforeAll has run. */
  readonly brokers: string;
  /** A member (startTestMember), stopped after the file. */
  member(topology: TopologyConfig, pipeline: PipelineConfig, extra?: Parameters<typeof startTestMember>[3]): Promise<TestMember>;
  /** An application over fresh inputs (inProcessApp), its producer closed after the file. */
  app(name: string, partitions: number, options?: { hostAttributes?: boolean }): Promise<InProcessApp>;
}

/** Registers the file's hooks: call once at the top of a member test file. */
export function memberTestFile(): MemberTestFile {
  let brokers = '';
  const members: TestMember[] = [];
  const apps: InProcessApp[] = [];
  beforeAll(async () => {
    brokers = (await sharedTestKafka()).brokers;
  }, 180_000);
  afterAll(async () => {
    // At once: six members stopped one after another took longer than a minute on the loaded machine.
    await Promise.all(members.map((m) => m.stop().catch(() => undefined)));
    for (const a of apps) await a.close();
  }, 120_000);
  return {
    get brokers() {
      return brokers;
    },
    async member(topology, pipeline, extra) {
      const m = await startTestMember(brokers, topology, pipeline, extra);
      members.push(m);
      return m;
    },
    async app(name, partitions, options) {
      const a = await inProcessApp(brokers, name, partitions, options);
      apps.push(a);
      return a;
    },
  };
}

/** The offline replay's final run of a trace, and what it counted. */
export interface ReplayReference {
  vmClusters: Record<string, string>;
  tenantClusters: Record<string, string>;
  features: Record<string, Record<string, number>>;
  /** Records applied, by input (the names of /v1/stats). */
  records: Stats['records'];
  rejected: Stats['rejected'];
}

/** The offline replay's final run of the trace (the small fixture unless given): assignments, every VM's features, records and rejections. */
export async function replayReference(trace = 'fixtures/small.jsonl.gz'): Promise<ReplayReference> {
  const defaults = PipelineOptions.parse({});
  const { lastRun, pipeline, result } = await replayTrace(trace, { pipeline: toPipelineConfig(defaults), run: toRunOptions(defaults) });
  if (lastRun === null) throw new Error('the replay made no run');
  const vmClusters: Record<string, string> = {};
  const features: Record<string, Record<string, number>> = {};
  const m = lastRun.vms.features;
  lastRun.vms.ids.forEach((id, i) => {
    vmClusters[id] = lastRun.vms.clusterIds[i]!;
    const row: Record<string, number> = {};
    for (let c = 0; c < m.cols; c++) {
      const v = m.data[i * m.cols + c]!;
      if (Number.isFinite(v)) row[m.names[c]!] = v;
    }
    features[id] = row;
  });
  const tenantClusters: Record<string, string> = {};
  lastRun.tenants.ids.forEach((id, i) => {
    tenantClusters[id] = lastRun.tenants.clusterIds[i]!;
  });
  const r = pipeline.recordsIn;
  return { vmClusters, tenantClusters, features, records: { flows: r.flows, vm_attributes: r.vmAttributes, tenant_attributes: r.tenantAttributes }, rejected: result.rejected };
}

/** How many differences a diagnosis lists one by one. */
const FIRST_DIFFERENCES = 5;

/**
 * What differs between a member's end result and the replay's, for whoever reads a failure (null: nothing).
 * A cluster disagreement alone does not say why: the features per VM (their count and the first few values
 * that differ), the VMs missing or extra in the served run, and the records and rejections counted tell
 * whether input was lost or doubled (counts), reached the wrong windows (features), or only the clustering
 * went another way (neither). The rejections are given beside them.
 */
export async function differenceFromReplay(url: string, served: Assignments, expected: ReplayReference): Promise<string | null> {
  const lines: string[] = [];
  const want = Object.keys(expected.vmClusters).sort();
  const have = new Set(Object.keys(served.vm_clusters));
  const missing = want.filter((id) => !have.has(id));
  const extra = [...have].filter((id) => expected.vmClusters[id] === undefined).sort();
  if (missing.length + extra.length > 0)
    lines.push(`VMs: ${have.size} served in ${served.run_id}, ${want.length} in the replay; missing ${missing.length} (${missing.slice(0, FIRST_DIFFERENCES).join(', ')}), extra ${extra.length} (${extra.slice(0, FIRST_DIFFERENCES).join(', ')})`);
  const shared = want.filter((id) => have.has(id));
  const ari = (a: Record<string, string>, b: Record<string, string>, ids: string[]) => adjustedRandIndex(ids.map((id) => a[id]!), ids.map((id) => b[id]!));
  const vmAgreement = ari(served.vm_clusters, expected.vmClusters, shared);
  const tenantIds = Object.keys(expected.tenantClusters).filter((id) => served.tenant_clusters[id] !== undefined).sort();
  const tenantAgreement = ari(served.tenant_clusters, expected.tenantClusters, tenantIds);
  if (vmAgreement !== 1 || tenantAgreement !== 1) lines.push(`clusters of ${served.run_id}: agreement with the replay ${vmAgreement.toFixed(4)} (VMs), ${tenantAgreement.toFixed(4)} (tenants)`);
  const differing: string[] = [];
  for (const id of shared) {
    const { body } = await getJson<{ features: Record<string, number> | null }>(`${url}/v1/vms/${encodeURIComponent(id)}`);
    const got = body.features ?? {};
    const exp = expected.features[id] ?? {};
    const names = [...new Set([...Object.keys(got), ...Object.keys(exp)])].sort();
    const diffs = names.filter((n) => got[n] !== exp[n]).map((n) => `${n} ${got[n] ?? 'absent'} (replay ${exp[n] ?? 'absent'})`);
    if (diffs.length > 0) differing.push(`${id}: ${volumeDifference(got, exp)}; ${diffs.slice(0, FIRST_DIFFERENCES).join(', ')}${diffs.length > FIRST_DIFFERENCES ? `, ... ${diffs.length} features` : ''}`);
  }
  const more = differing.filter((d) => d.includes(': more ')).length;
  const fewer = differing.filter((d) => d.includes(': fewer ')).length;
  if (differing.length > 0) lines.push(`features of ${differing.length} of ${shared.length} VMs differ from the replay's (${more} with more flows, a duplicate; ${fewer} with fewer, a loss); the first:\n  ${differing.slice(0, FIRST_DIFFERENCES).join('\n  ')}`);
  const s = await stats(url);
  if (JSON.stringify(s.records) !== JSON.stringify(expected.records)) lines.push(`records applied ${JSON.stringify(s.records)}, the replay ${JSON.stringify(expected.records)}`);
  if (lines.length === 0) return null;
  // Context, not a difference: the replay also rejects lines of the trace file that never reach Kafka.
  lines.push(`rejected ${s.rejected.count} ${JSON.stringify(sortedKeys(s.rejected.by_reason))}, the replay ${expected.rejected.count} ${JSON.stringify(sortedKeys(expected.rejected.by_reason))}`);
  return `${url} serving ${served.run_id}:\n${lines.join('\n')}`;
}

/** The window the features are computed over, in minutes (the replay's, the default pipeline's). */
const WINDOW_MINUTES = toPipelineConfig(PipelineOptions.parse({})).window.windowMs / 60_000;

/**
 * A VM's flows and bytes in the window against the replay's, from its two volume features
 * (`log10(1 + x / window minutes)`, src/features/vm-features.ts): more is a record applied twice, fewer one lost.
 */
function volumeDifference(got: Record<string, number>, exp: Record<string, number>): string {
  const volume = (f: Record<string, number>, name: string): number => (f[name] === undefined ? 0 : (10 ** f[name]! - 1) * WINDOW_MINUTES);
  const flows = Math.round(volume(got, 'log_flows_per_min') - volume(exp, 'log_flows_per_min'));
  const bytes = Math.round(volume(got, 'log_bytes_per_min') - volume(exp, 'log_bytes_per_min'));
  const kind = flows > 0 || (flows === 0 && bytes > 0) ? 'more' : flows < 0 || bytes < 0 ? 'fewer' : 'as many';
  return `${kind} flows and bytes in the window than the replay (${flows >= 0 ? '+' : ''}${flows} flows, ${bytes >= 0 ? '+' : ''}${bytes} bytes)`;
}

const sortedKeys = (o: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));

/**
 * A searching run requested from one member, once every member serves it as its latest run: their
 * assignments. On the leader a request while a run is in flight answers with that run (`started: false`), as
 * one process does; and a tick that was pending when the request came may run after it, on less data. Either
 * way it asks again, until the requested run is the latest everywhere.
 */
export async function requestedRun(members: ServiceProcess[], timeoutMs = 120_000): Promise<Assignments[]> {
  const first = members[0]!.url;
  const deadline = Date.now() + timeoutMs;
  const left = (): number => Math.max(1, deadline - Date.now());
  const runNumber = (id: string | null): number => (id === null ? 0 : Number(id.replace(/^run-/, '')));
  let before = (await stats(first)).latest_run_id;
  for (;;) {
    const res = await fetch(`${first}/v1/recluster`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ search: true }),
    });
    expect(res.status).toBe(202);
    const { run_id, started } = (await res.json()) as { run_id: string; started: boolean };
    if (!started) {
      await waitFor(async () => (runNumber((await stats(first)).latest_run_id) >= runNumber(run_id) ? true : undefined), left(), `the run in flight (${run_id})`);
      continue;
    }
    const runId = await waitFor(
      async () => {
        const { body } = await getJson<{ runs: Array<{ run_id: string; reason: string }> }>(`${first}/v1/runs`);
        const asked = body.runs.find((r) => r.reason === 'request' && runNumber(r.run_id) > runNumber(before));
        return asked?.run_id;
      },
      left(),
      'the requested run',
    );
    const latest = await waitFor(
      async () => {
        const ids = await Promise.all(members.map(async (m) => (await stats(m.url)).latest_run_id));
        return ids.every((id) => runNumber(id) >= runNumber(runId)) ? ids : undefined;
      },
      left(),
      `${runId} on every member`,
    );
    const served = await Promise.all(members.map(async (m) => (await getJson<Assignments>(`${m.url}/v1/assignments`)).body));
    if (latest.every((id) => id === runId) && served.every((a) => a.run_id === runId)) return served;
    before = runId;
  }
}

/** Every member's whole log, for whoever reads a failure: test-output/scale-out/<test>-member-<i>.log. */
export function keepLogs(test: string, members: () => ServiceProcess[]): void {
  mkdirSync('test-output/scale-out', { recursive: true });
  for (const [i, m] of members().entries()) writeFileSync(`test-output/scale-out/${test}-member-${i}.log`, m.output());
}

/** A gauge's value from a member's /metrics (NaN when it is missing). */
export async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.split(' ')[1]);
}
