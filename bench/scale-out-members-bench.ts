/**
 * `npm run bench -- scale-out`: members of one scale-out application as real processes on a broker started
 * here. Today's single process and applications of 1, 2 and 3 members (each under a fresh app id) each get
 * fresh input topics of three partitions (so the route stage can spread); once every process is ready
 * (groups joined, every by-VM partition owned, a leader) the small fixture is produced into them in one
 * transaction, and the clock runs from its commit to every record routed and applied, for all alike. Then one member's
 * ingest of 200k single-record messages against Kafka's own consumer tool (benchMemberIngest).
 * With 3 members it also measures partition balance, a kill -9 of a member and of the leader, and reads
 * during a run. The single-process figures (repartition bytes, checkpoint bytes per VM) come from
 * bench/scale-out-bench.ts's in-process topology on the same trace.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { produceTraceWith } from '../src/kafka/produce-trace.ts';
import { defaultTopics } from '../src/contract/topics.ts';
import { topologyTopics } from '../src/topology/config.ts';
import { createTopics, testKafkaClient, uniqueTopic } from '../test/helpers/kafka.ts';
import { getJson, type ServiceProcess, startServiceProcess, waitFor } from '../test/helpers/service-process.ts';
import { getFreePorts, runConsumerPerformance, startKafkaBroker } from '../tools/kafka-broker/index.ts';
import { randomBytes } from 'node:crypto';
import { benchBareKafkajs, benchKafkaClient, benchKafkaIngest, buildMessages, createBenchTopics, produceTexts } from './kafka-ingest.ts';
import { groupTiming } from '../src/topology/stage-kafka.ts';
import { measureScaleOutInProcess } from './scale-out-bench.ts';

export const TRACE = 'fixtures/small.jsonl.gz';
export const PARTITIONS = 6;
const INPUT_PARTITIONS = 3;
/** The members' session timeout: configuration (operators keep Kafka's 45 s or 30 s), reported beside the failover times. */
export const SESSION_TIMEOUT_MS = 10_000;
/** The single process's kafka_ingest figure (bench/kafka-bench.ts): 200k single-record messages on one partition. */
const INGEST_RECORDS = 200_000;

interface Stats {
  records: { flows: number; vm_attributes: number; tenant_attributes: number };
  latest_run_id: string | null;
}

export const routed = async (url: string): Promise<number> => {
  const { records } = (await getJson<Stats>(`${url}/v1/stats`)).body;
  return records.flows + records.vm_attributes + records.tenant_attributes;
};

export async function metric(url: string, name: string): Promise<number> {
  return (await metrics(url, [name]))[0]!;
}

/** Several metrics from one scrape. */
async function metrics(url: string, names: readonly string[]): Promise<number[]> {
  const lines = (await (await fetch(`${url}/metrics`)).text()).split('\n');
  return names.map((name) => {
    const line = lines.find((l) => l.startsWith(`${name} `));
    return line === undefined ? Number.NaN : Number(line.split(' ')[1]);
  });
}

/** User + system CPU seconds of a live process, from /proc (Linux): the member's own, not this process's. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

/** Bytes of a partition's log segments; its index files are preallocated (10 MB each) and say nothing. */
export function segmentBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isFile() && e.name.endsWith('.log')) n += statSync(join(dir, e.name)).size;
  return n;
}

const percentile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
export const round = (x: number, digits = 1): number => Number(x.toFixed(digits));

/** A failure with the members' last output, the only record of why a member died. */
export function withLogs(members: ServiceProcess[]): (err: unknown) => never {
  return (err) => {
    throw new Error(`${String(err)}\n${members.map((m, i) => `--- member ${i} (exit ${m.child.exitCode})\n${m.output().slice(-3000)}`).join('\n')}`);
  };
}

/**
 * Every process is ready but for its first run (none can happen on empty topics): inputs joined (a member:
 * its groups, the tables read), and the members' window partitions all owned and a leader: nothing left to join.
 */
export async function allReady(procs: ServiceProcess[], members: boolean): Promise<true | undefined> {
  for (const p of procs) {
    const { body } = await getJson<{ missing: string[] }>(`${p.url}/readyz`);
    if (body.missing.some((m) => m !== 'first_run')) return undefined;
  }
  if (!members) return true;
  const owned = await Promise.all(procs.map((m) => metric(m.url, 'alcor_scale_out_partitions_owned')));
  if (owned.reduce((a, b) => a + b, 0) !== PARTITIONS) return undefined;
  return (await Promise.all(procs.map((m) => metric(m.url, 'alcor_scale_out_leader')))).some((l) => l === 1) ? true : undefined;
}

/** The members' live counters summed: input messages routed, by-VM records written and applied. */
export async function memberCounts(members: ServiceProcess[]): Promise<{ routedMessages: number; routedRecords: number; applied: number }> {
  const names = ['alcor_scale_out_routed_messages_total', 'alcor_scale_out_routed_records_total', 'alcor_scale_out_applied_records_total'];
  const each = await Promise.all(members.map((m) => metrics(m.url, names)));
  const sum = (i: number) => each.reduce((a, v) => a + v[i]!, 0);
  return { routedMessages: sum(0), routedRecords: sum(1), applied: sum(2) };
}

/** Polls every `everyMs` (finer than waitFor's 250 ms: the clock's grain), until `probe` gives a value. */
export async function poll<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string, everyMs = 50): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * CPU seconds per second the members spend with no input, polled as the clock polls them (every `everyMs`):
 * the scrapes (prom-client's default metrics read the process's memory at each) and the idle consumers'
 * fetches. At a load of 30 a run lasts ten times longer than at 2 and this share grows with it; the figures
 * net of it are what the records cost.
 */
export async function idleCpuPerSecond(members: ServiceProcess[], everyMs: number, seconds = 4): Promise<number[]> {
  const before = members.map((m) => cpuSeconds(m.child.pid!));
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    await memberCounts(members);
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return members.map((m, i) => (cpuSeconds(m.child.pid!) - before[i]!) / seconds);
}

/** CPU seconds of each thread of a live process, by thread id (Linux /proc): the main thread's id is the process's. */
export function threadCpuSeconds(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const fields = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      out.set(Number(tid), (Number(fields[11]) + Number(fields[12])) / 100);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

/**
 * CPU seconds per million records of a member's threads over a clock: the main thread (windows, serving),
 * the busiest other one (Node names every thread "node": with the route worker running, it is the route
 * worker; else a V8 helper), and the rest together (V8's GC and compiler helpers, libuv's pool).
 */
export function threadCpuPerMillion(before: Map<number, number>, after: Map<number, number>, pid: number, records: number): Record<string, number> {
  const spent = [...after].map(([tid, s]): [number, number] => [tid, s - (before.get(tid) ?? 0)]);
  const main = spent.find(([tid]) => tid === pid)?.[1] ?? 0;
  const others = spent.filter(([tid]) => tid !== pid).map(([, s]) => s).sort((a, b) => b - a);
  const perMillion = (s: number) => round((s / records) * 1e6);
  return { main_thread: perMillion(main), busiest_other_thread: perMillion(others[0] ?? 0), other_threads: perMillion(others.slice(1).reduce((a, b) => a + b, 0)) };
}

/** A member's alcor_scale_out_stage_seconds_total, by `stage/phase`. */
async function stageSeconds(url: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await (await fetch(`${url}/metrics`)).text()).split('\n')) {
    const m = /^alcor_scale_out_stage_seconds_total\{stage="(\w+)",phase="(\w+)"\} (\S+)$/.exec(line);
    if (m !== null) out.set(`${m[1]}/${m[2]}`, Number(m[3]));
  }
  return out;
}

/**
 * Where the route and window stages' wall time went over a clock of `seconds`: each phase's seconds and
 * its share of the clock. Each stage's batch loop is serial, so its shares add up to about 1 (less while
 * the stage had not started, or after it finished).
 */
function stageBreakdown(before: Map<string, number>, after: Map<string, number>, seconds: number, transactions: number): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const [key, v] of after) {
    const [stage, phase] = key.split('/') as [string, string];
    const s = v - (before.get(key) ?? 0);
    out[stage] ??= {};
    out[stage]![`${phase}_s`] = round(s, 3);
    out[stage]![`${phase}_share`] = round(s / seconds, 3);
  }
  const route = out.route;
  if (route !== undefined && transactions > 0) {
    const txn = (route.offsets_s ?? 0) + (route.commit_s ?? 0) + (route.dead_letters_s ?? 0);
    route.offsets_and_commit_ms_per_transaction = round((txn / transactions) * 1000, 2);
  }
  return out;
}

export const loadAverage = (): number => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);

/**
 * Fresh input topics of INPUT_PARTITIONS (or `inputPartitions`) each for one configuration: every process starts on empty
 * topics and is ready (groups joined, partitions owned, a leader) before the trace is produced, so the
 * clock (from the produce's start) holds no start-up, join or rebalance, the same for 1, 2 and 3 members.
 */
export async function freshInputs(brokers: string, common: Record<string, string>, name: string, trace = TRACE, inputPartitions = INPUT_PARTITIONS) {
  const prefix = uniqueTopic(`scaleout-${name}`);
  const topics = { flows: `${prefix}.flows`, vm: `${prefix}.vms`, tenant: `${prefix}.tenants` };
  await createTopics(brokers, [...Object.values(topics), `${prefix}.other`], inputPartitions);
  const env = { ...common, KAFKA_TOPIC_FLOWS: topics.flows, KAFKA_TOPIC_VM_ATTRIBUTES: topics.vm, KAFKA_TOPIC_TENANT_ATTRIBUTES: topics.tenant };
  // The whole trace in one transaction: the processes read committed data only, so they see all of it
  // at once when it commits, and the clock starts there, not at a producer's pace (16 to 32 s at load 30).
  const produce = async () => {
    const producer = testKafkaClient(brokers, `scaleout-bench-producer-${name}`).producer({
      transactionalId: `scaleout-bench-${prefix}`,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: 300_000,
    });
    await producer.connect();
    try {
      const txn = await producer.transaction();
      const topicMap = { [defaultTopics.flows]: topics.flows, [defaultTopics.vmAttributes]: topics.vm, [defaultTopics.tenantAttributes]: topics.tenant };
      // The trace's lines of other topics (hostile ones among them) go to one sink topic nobody reads.
      for (const other of ['overlay-flow', 'flows-v0']) topicMap[other] = `${prefix}.other`;
      const produced = await produceTraceWith(txn, trace, { topicMap });
      const committing = performance.now();
      await txn.commit();
      return { produced, committing, committedS: (performance.now() - committing) / 1000 };
    } finally {
      await producer.disconnect();
    }
  };
  return { topics, env, produce };
}

/** What every member of these benches (and bench/member-profile.ts) is started with. */
export function membersEnv(brokers: string): Record<string, string> {
  return {
    KAFKA_BROKERS: brokers,
    RECLUSTER_WALLCLOCK_SECONDS: '0',
    // The bench's polls and reads are one client: past the default 1,200 requests a minute they were refused.
    RATE_LIMIT_MAX: '0',
    SCALE_OUT_PARTITIONS: String(PARTITIONS),
    SCALE_OUT_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS),
  };
}

/**
 * Reads while the leader computes and publishes a requested run: on a member that is not the leader, or on the
 * leader itself (which gathers, runs and publishes while it serves).
 */
async function readsDuringRun(
  members: ServiceProcess[],
  on: 'non_leader' | 'leader' = 'non_leader',
): Promise<{ leader: ServiceProcess; reader: ServiceProcess; reads: Record<string, number>; window: { from: number; to: number } }> {
  const leader = await waitFor(() => leaderOf(members), 60_000, 'a leader');
  const reader = on === 'leader' ? leader : members.find((m) => m !== leader)!;
  return { leader, reader, ...(await readsWhileRunning(leader, reader)) };
}

/**
 * Reads on `reader` while `runner` (the leader, or a single process: then the same) computes and publishes a
 * requested run: from the request until the reader serves the next run.
 */
async function readsWhileRunning(runner: ServiceProcess, reader: ServiceProcess): Promise<{ reads: Record<string, number>; window: { from: number; to: number } }> {
  // A run to serve first: the last tick's run may still be computed or published when the input is all applied
  // (without one every read is a 404, which the bench once measured as a fast read).
  const before = await waitFor(async () => (await getJson<Stats>(`${reader.url}/v1/stats`)).body.latest_run_id ?? undefined, 300_000, 'a run on the reader');
  const { body: assigned } = await getJson<{ vm_clusters: Record<string, string> }>(`${reader.url}/v1/assignments`);
  const vmIds = Object.keys(assigned.vm_clusters ?? {});
  const res = await fetch(`${runner.url}/v1/recluster`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ search: true }) });
  if (res.status !== 202) throw new Error(`POST /v1/recluster: ${res.status}`);
  // prom-client's event-loop delay histogram restarts at every scrape: this one opens the run's.
  await metric(reader.url, 'alcor_nodejs_eventloop_lag_max_seconds');
  const latencies: number[] = [];
  const readStart = performance.now();
  const readStartEpoch = Date.now();
  for (let i = 0; ; i++) {
    const t = performance.now();
    const r = await fetch(`${reader.url}/v1/vms/${encodeURIComponent(vmIds[i % Math.max(1, vmIds.length)] ?? 'none')}`);
    await r.arrayBuffer();
    latencies.push(performance.now() - t);
    // A VM of the run read before may be gone from the new one (deleted since that run's tick): the new run
    // is served, which ends the reads anyway. Any other refusal (429 past the rate limit) is fast and would pass for a good one.
    if (r.status === 404 && (await getJson<Stats>(`${reader.url}/v1/stats`)).body.latest_run_id !== before) {
      latencies.pop();
      break;
    }
    if (r.status !== 200) throw new Error(`GET /v1/vms/{id} on the reader: ${r.status} after ${i} reads`);
    if (i % 50 === 49 && (await getJson<Stats>(`${reader.url}/v1/stats`)).body.latest_run_id !== before) break;
    if (performance.now() - readStart > 120_000) break;
  }
  const runSeconds = (performance.now() - readStart) / 1000;
  // How long the reader's event loop was held at once during the run (its own work, or no CPU for it): a
  // request's latency beyond that is the machine's load.
  const readEndEpoch = Date.now();
  const scrape = await fetch(`${reader.url}/metrics`);
  // The event-loop figures came out null once: this scrape was refused (429), the reader's rate limit spent by the reads.
  if (scrape.status !== 200) throw new Error(`GET /metrics on the reader: ${scrape.status}`);
  const loopText = await scrape.text();
  const loop = (name: string): number => Number(/^\S+ (\S+)$/.exec(loopText.split('\n').find((l) => l.startsWith(`${name} `)) ?? '')?.[1] ?? Number.NaN) * 1000;
  latencies.sort((a, b) => a - b);
  const reads = {
    requests: latencies.length,
    p50_ms: round(percentile(latencies, 0.5), 2),
    p99_ms: round(percentile(latencies, 0.99), 2),
    run_seconds: round(runSeconds, 1),
    reader_event_loop_delay_p99_ms: round(loop('alcor_nodejs_eventloop_lag_p99_seconds'), 1),
    reader_event_loop_delay_max_ms: round(loop('alcor_nodejs_eventloop_lag_max_seconds'), 1),
    load_average_1min: Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]),
  };
  return { reads, window: { from: readStartEpoch, to: readEndEpoch } };
}

/**
 * Today's single process (no SCALE_OUT_APP_ID) on the same trace and the same reads: its own fresh input
 * topics, the trace produced, read until its consumer lag is at most the commit marker and its counts stand still for 3 s (it applies
 * each record as it reads it), then readsWhileRunning on itself.
 */
async function singleProcessReads(brokers: string, common: Record<string, string>, trace: string, probe: Record<string, string>) {
  const { env, produce } = await freshInputs(brokers, common, 'reads-single', trace);
  const single = await startServiceProcess({ ...env, ...probe });
  try {
    await waitFor(() => allReady([single], false), 120_000, 'one process ready').catch(withLogs([single]));
    await produce();
    const t0 = performance.now();
    let last = -1;
    let still = 0;
    await poll(
      async () => {
        const lines = (await (await fetch(`${single.url}/metrics`)).text()).split('\n');
        // A transaction's commit marker takes the last offset of each partition: a lag of 1 is read to the end.
        const behind = lines.filter((l) => l.startsWith('alcor_consumer_lag{')).some((l) => Number(l.split(' ')[1]) > 1);
        const { body } = await getJson<Stats & { rejected: { count: number } }>(`${single.url}/v1/stats`);
        const seen = body.records.flows + body.records.vm_attributes + body.records.tenant_attributes + body.rejected.count;
        still = seen === last && seen > 0 && !behind ? still + 1 : 0;
        last = seen;
        return still >= 3 ? true : undefined;
      },
      900_000,
      'the single process caught up with the trace',
      1000,
    ).catch(withLogs([single]));
    const ingestS = (performance.now() - t0) / 1000;
    const vms = await metric(single.url, 'alcor_vms_tracked');
    const { reads, window } = await readsWhileRunning(single, single).catch(withLogs([single]));
    return { single, vms, ingest_s: round(ingestS, 1), reads, window };
  } catch (err) {
    await single.stop('SIGKILL');
    throw err;
  }
}

async function leaderOf(alive: ServiceProcess[]): Promise<ServiceProcess | undefined> {
  for (const m of alive) if ((await metric(m.url, 'alcor_scale_out_leader')) === 1) return m;
  return undefined;
}

/**
 * `failoverOnly` (`npm run bench -- scale-out-failover`): the 3-member application with the trace, and its
 * kill -9 and leader failover with their parts (measureFailover), nothing else: a minute, not ten.
 */
export async function benchScaleOut(options: { failoverOnly?: boolean } = {}): Promise<Record<string, unknown>> {
  const failoverOnly = options.failoverOnly === true;
  const inProcess = await measureScaleOutInProcess(TRACE, PARTITIONS);
  const [port, controllerPort] = await getFreePorts(2);
  const dataDir = `.cache/kafka/bench-data-${port}`;
  const broker = await startKafkaBroker({ port: port!, controllerPort: controllerPort!, dataDir, logDir: `.cache/kafka/bench-logs-${port}`, detached: false });
  const brokerLog = `.cache/kafka/bench-logs-${port}/server.log`;
  const running: ServiceProcess[] = [];
  try {
    const total = inProcess.input_records;
    const common = {
      ...membersEnv(broker.brokers),
      // The join and "holding" lines time the failover's parts (measureFailover).
      LOG_LEVEL: 'info',
    };
    const throughput: Record<string, unknown> = {};
    let flowMessages = 0;
    let flowTopic = '';
    if (!failoverOnly) {
      // Today's single process (no SCALE_OUT_APP_ID), measured the same way: what one member is held against.
      // Done when it has counted every record (it applies each as it counts it).
      // On one input partition, as the replay reads the trace: on the members' three its one watermark runs
      // ahead of the slower partitions and it rejected over half the small fixture as too_late (less work
      // than a member's, so its records/s looked higher; bench/scale-out-one-bench.ts found it).
      const { env, produce } = await freshInputs(broker.brokers, common, 'single', TRACE, 1);
      const single = await startServiceProcess(env);
      running.push(single);
      await waitFor(() => allReady([single], false), 120_000, 'one process ready').catch(withLogs([single]));
      const cpu0 = cpuSeconds(single.child.pid!);
      // The clock from the commit: before it the process sees none of the trace (CPU counted from before the produce).
      const { committing: t0, committedS } = await produce();
      await poll(async () => ((await routed(single.url)) >= total ? true : undefined), 300_000, `${total} records in one process`).catch(withLogs([single]));
      const seconds = (performance.now() - t0) / 1000;
      const cpu = cpuSeconds(single.child.pid!) - cpu0;
      throughput.single_process = {
        load_average_1min: loadAverage(),
        input_partitions: 1,
        records_per_s: Math.round(total / seconds),
        seconds: round(seconds, 2),
        commit_s: round(committedS, 2),
        cpu_s_per_million_records: round((cpu / total) * 1e6),
      };
      await single.stop('SIGKILL');
    }
    let three: { members: ServiceProcess[]; appId: string } | null = null;
    for (const n of failoverOnly ? [3] : [1, 2, 3]) {
      const appId = uniqueTopic(`bench${n}`);
      const { env, produce, topics } = await freshInputs(broker.brokers, common, `m${n}`);
      const started = performance.now();
      const members = await Promise.all(Array.from({ length: n }, () => startServiceProcess({ ...env, SCALE_OUT_APP_ID: appId })));
      running.push(...members);
      // At a load of 30 and more a group may keep rebalancing for minutes: that configuration is reported
      // as not measured rather than ending the bench.
      if (!(await waitFor(() => allReady(members, true), 300_000, `${n} members ready`).then(() => true, () => false))) {
        throughput[`members_${n}`] = { not_ready_within_s: 300, load_average_1min: loadAverage() };
        for (const m of members) await m.stop('SIGKILL');
        continue;
      }
      const readyS = (performance.now() - started) / 1000;
      // Before the trace: after it, the leader may still be running the last tick's clustering.
      const idle = await idleCpuPerSecond(members, 50);
      const cpu0 = members.map((m) => cpuSeconds(m.child.pid!));
      const { produced, committing: t0, committedS } = await produce();
      // Kafka's tool reads the one member's flows topic: the same three partitions the member routed.
      if (n === 1) {
        flowMessages = produced.byTopic[topics.flows] ?? 0;
        flowTopic = topics.flows;
      }
      // The members' input topics only: a trace line of another topic (host capacities) is produced to a topic they do not read.
      const messages = Object.values(topics).reduce((sum, topic) => sum + (produced.byTopic[topic] ?? 0), 0);
      // Done when every message produced is routed and every by-VM record routed is applied in the windows.
      await poll(
        async () => {
          const c = await memberCounts(members);
          return c.routedMessages >= messages && c.applied >= c.routedRecords ? c : undefined;
        },
        300_000,
        `${messages} messages routed and applied by ${n} members`,
      ).catch(withLogs(members));
      const seconds = (performance.now() - t0) / 1000;
      const cpu = members.map((m, i) => cpuSeconds(m.child.pid!) - cpu0[i]!);
      const transactions = (await Promise.all(members.map((m) => metric(m.url, 'alcor_scale_out_route_transactions_total')))).reduce((a, b) => a + b, 0);
      throughput[`members_${n}`] = {
        load_average_1min: loadAverage(),
        records_per_s: Math.round(total / seconds),
        seconds: round(seconds, 2),
        commit_s: round(committedS, 2),
        start_to_ready_s: round(readyS, 2),
        cpu_s_per_million_records_per_member: cpu.map((c) => round((c / total) * 1e6)),
        cpu_s_per_million_records_total: round((cpu.reduce((a, b) => a + b, 0) / total) * 1e6),
        idle_cpu_s_per_s_per_member: idle.map((c) => round(c, 3)),
        cpu_s_per_million_records_net_of_idle_total: round((cpu.reduce((a, c, i) => a + c - idle[i]! * seconds, 0) / total) * 1e6),
        route_transactions: transactions,
      };
      if (n === 1) {
        // The hop as the broker stores it (record batches, headers, transaction markers included).
        const byVm = `${topologyTopics(appId).byVm}-`;
        const logDirs = join(dataDir, 'kraft');
        const bytes = readdirSync(logDirs)
          .filter((d) => d.startsWith(byVm))
          .reduce((sum, d) => sum + segmentBytes(join(logDirs, d)), 0);
        (throughput.members_1 as Record<string, unknown>).by_vm_log_bytes_per_input_record = round(bytes / total);
        // The other internal topics the route and window write per input record: the leader's connection log
        // (every routed flow once more), the routers' held sets, the checkpoints, the features.
        const topics = topologyTopics(appId);
        const perRecord = (topic: string) => round(readdirSync(logDirs).filter((d) => d.startsWith(`${topic}-`)).reduce((sum, d) => sum + segmentBytes(join(logDirs, d)), 0) / total);
        (throughput.members_1 as Record<string, unknown>).log_bytes_per_input_record = {
          connections: perRecord(topics.connections),
          route_held: perRecord(topics.held),
          changelog: perRecord(topics.changelog),
          features: perRecord(topics.features),
        };
      }
      if (n === 3) three = { members, appId };
      else for (const m of members) await m.stop('SIGKILL');
    }
    const common3 = { trace: TRACE, input_records: total, input_partitions: INPUT_PARTITIONS, by_vm_partitions: PARTITIONS, session_timeout_ms: SESSION_TIMEOUT_MS, throughput };
    if (three === null) return failoverOnly ? common3 : { ...common3, ingest_single_record_messages: await benchMemberIngest(broker.brokers, common) };
    const { members, appId } = three;
    const owned = await Promise.all(members.map((m) => metric(m.url, 'alcor_scale_out_partitions_owned')));
    const vms = await Promise.all(members.map((m) => metric(m.url, 'alcor_scale_out_vms_owned')));
    const changelog = topologyTopics(appId);
    // The broker's log.dirs is dataDir/kraft (tools/kafka-broker/broker.ts); a partition is `<topic>-<n>`.
    const logDirs = join(dataDir, 'kraft');
    const changelogDirs = readdirSync(logDirs).filter((d) => d.startsWith(`${changelog.changelog}-`));
    const state = {
      rss_mb_per_member: members.map((m) => round(rssBytes(m.child.pid!) / 2 ** 20)),
      checkpoint_bytes_per_member: vms.map((v) => Math.round(v * inProcess.checkpoint_bytes_per_vm)),
      changelog_segment_bytes_on_broker: changelogDirs.reduce((s, d) => s + segmentBytes(join(logDirs, d)), 0),
    };

    const { leader, reader, reads } = await readsDuringRun(members);

    const failover = await measureFailover(members, leader, reader, appId, brokerLog);
    if (failoverOnly) return { trace: TRACE, by_vm_partitions: PARTITIONS, throughput, ...failover };
    const alive = members.filter((m) => m !== reader && m !== leader);

    for (const m of alive) await m.stop('SIGKILL');
    // The trace packs many flow records into one message: the tool counts messages, the members records.
    const flowRecords = inProcess.flow_records;
    const perf = await runConsumerPerformance({ brokers: broker.brokers, topic: flowTopic, messages: flowMessages });
    const one = throughput.members_1 as { records_per_s: number };
    const ingest = await benchMemberIngest(broker.brokers, common);
    return {
      trace: TRACE,
      input_records: total,
      input_partitions: INPUT_PARTITIONS,
      by_vm_partitions: PARTITIONS,
      session_timeout_ms: SESSION_TIMEOUT_MS,
      throughput,
      repartition: { by_vm_records_per_input_record: inProcess.by_vm_records_per_input_record, by_vm_bytes_per_input_record: inProcess.by_vm_bytes_per_input_record, input_bytes_per_record: inProcess.input_bytes_per_record },
      balance_3_members: { partitions_owned: owned, vms_owned: vms },
      state_3_members: state,
      kill9_to_partitions_served_again_s: failover.kill9_to_partitions_served_again_s,
      leader_failover_s: failover.leader_failover_s,
      failover_breakdown: failover.breakdown,
      get_vm_during_run: reads,
      kafka_tool_flows_messages: flowMessages,
      kafka_tool_flows_messages_per_s: Math.round(perf.recordsPerSec),
      kafka_tool_flows_fetch_messages_per_s: Math.round(perf.fetchRecordsPerSec),
      kafka_tool_flows_fetch_records_per_s: Math.round((perf.fetchRecordsPerSec * flowRecords) / Math.max(1, flowMessages)),
      ratio_1_member_to_kafka_tool_fetch_records: round((one.records_per_s * flowMessages) / (perf.fetchRecordsPerSec * flowRecords), 4),
      ingest_single_record_messages: ingest,
    };
  } finally {
    for (const m of running) await m.stop('SIGKILL');
    await broker.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** benchMemberIngest alone on a broker of its own (`npm run bench -- scale-out-ingest`): minutes, not the scale-out bench's ten. */
export async function benchScaleOutIngest(): Promise<Record<string, unknown>> {
  const [port, controllerPort] = await getFreePorts(2);
  const dataDir = `.cache/kafka/bench-data-${port}`;
  const broker = await startKafkaBroker({ port: port!, controllerPort: controllerPort!, dataDir, logDir: `.cache/kafka/bench-logs-${port}`, detached: false });
  try {
    const common = { KAFKA_BROKERS: broker.brokers, RECLUSTER_WALLCLOCK_SECONDS: '0', SCALE_OUT_PARTITIONS: String(PARTITIONS), SCALE_OUT_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS), LOG_LEVEL: 'info' };
    return await benchMemberIngest(broker.brokers, common);
  } finally {
    await broker.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/**
 * One member's ingest measured as the single process's kafka_ingest is (bench/kafka-ingest.ts): 200k
 * single-record flow messages produced first into a topic of one partition, then the member started on it,
 * its clock from its first routed batch (polled every 20 ms) to every message routed and every by-VM record
 * applied, the runs at their normal cadence (a tick every RECLUSTER_MINUTES of event time: the trace spans
 * 33 minutes); then a second member, under an app id of its own, on the same topic with the runs off, as
 * kafka_ingest runs none. Kafka's ConsumerPerformance and the single process's kafka_ingest run in the same bench run,
 * on the same broker and topic shape.
 */
export async function benchMemberIngest(brokers: string, common: Record<string, string>): Promise<Record<string, unknown>> {
  const client = benchKafkaClient(brokers);
  const texts = buildMessages(INGEST_RECORDS, 1);
  const topics = await createBenchTopics(client, `member-${randomBytes(4).toString('hex')}`, 1);
  const produceMs = await produceTexts(client, topics.flows, texts);
  const env = { ...common, KAFKA_TOPIC_FLOWS: topics.flows, KAFKA_TOPIC_VM_ATTRIBUTES: topics.vmAttributes, KAFKA_TOPIC_TENANT_ATTRIBUTES: topics.tenantAttributes };
  const figures = await memberIngest(env, texts.length);
  // The single process's kafka_ingest runs no clustering: a member with the runs off (no ticks, features,
  // checkpoints or runs) is the like-for-like figure; the one above pays a run every 5 minutes of event time.
  // Against a route transaction per fetched batch, as before transactions spanned batches (what their round
  // trips cost): alternated, twice each, as the machine's load moves between runs; the best of each is the figure.
  const spanning: Array<Record<string, unknown>> = [];
  const perBatchRuns: Array<Record<string, unknown>> = [];
  for (let i = 0; i < 2; i++) {
    spanning.push(await memberIngest({ ...env, RECLUSTER_MINUTES: '0' }, texts.length));
    perBatchRuns.push(await memberIngest({ ...env, RECLUSTER_MINUTES: '0', SCALE_OUT_ROUTE_COMMIT_MESSAGES: '1' }, texts.length));
  }
  const best = (runs: Array<Record<string, unknown>>) => runs.reduce((a, b) => ((b.records_per_s as number) > (a.records_per_s as number) ? b : a));
  const runsOff = best(spanning);
  const perBatch = best(perBatchRuns);
  // The same with the route in the main thread (SCALE_OUT_ROUTE_WORKER=false), as before the route worker: what the second core gives.
  const routeInMain = await memberIngest({ ...env, RECLUSTER_MINUTES: '0', SCALE_OUT_ROUTE_WORKER: 'false' }, texts.length);
  const tool = await runConsumerPerformance({ brokers, topic: topics.flows, messages: texts.length });
  // The ceiling of kafkajs itself on one event loop, with the member's route consumer's fetch settings:
  // if it is under half the tool, no member that consumes with kafkajs in one thread reaches the goal.
  const timing = groupTiming({ appId: 'bare', partitions: PARTITIONS, replicationFactor: 1, sessionTimeoutMs: SESSION_TIMEOUT_MS });
  // Alternated, twice each: the first run of a process pays kafkajs' JIT warm-up, and the machine is shared.
  const bareRuns: number[] = [];
  const textRuns: number[] = [];
  for (let i = 0; i < 2; i++) {
    bareRuns.push((await benchBareKafkajs({ brokers, topic: topics.flows, messages: texts.length, timing, decodeText: false })).messages_per_s);
    textRuns.push((await benchBareKafkajs({ brokers, topic: topics.flows, messages: texts.length, timing, decodeText: true })).messages_per_s);
  }
  const bareLoad = loadAverage();
  const bare = Math.max(...bareRuns);
  const bareText = Math.max(...textRuns);
  const single = await benchKafkaIngest({ brokers, records: INGEST_RECORDS, batchSize: 1 });
  const memberRate = figures.records_per_s as number;
  return {
    records: INGEST_RECORDS,
    messages: texts.length,
    produce_s: round(produceMs / 1000, 2),
    one_member: figures,
    one_member_runs_off: runsOff,
    one_member_runs_off_route_in_main_thread: routeInMain,
    one_member_runs_off_a_transaction_per_batch: perBatch,
    alternated_runs_off: {
      records_per_s: spanning.map((r) => r.records_per_s),
      load_average_1min: spanning.map((r) => r.load_average_1min),
      a_transaction_per_batch_records_per_s: perBatchRuns.map((r) => r.records_per_s),
      a_transaction_per_batch_load_average_1min: perBatchRuns.map((r) => r.load_average_1min),
    },
    kafka_tool_fetch_messages_per_s: Math.round(tool.fetchRecordsPerSec),
    ratio_1_member_to_kafka_tool: round(memberRate / tool.fetchRecordsPerSec, 4),
    ratio_1_member_runs_off_to_kafka_tool: round((runsOff.records_per_s as number) / tool.fetchRecordsPerSec, 4),
    ratio_1_member_runs_off_route_in_main_thread_to_kafka_tool: round((routeInMain.records_per_s as number) / tool.fetchRecordsPerSec, 4),
    ratio_1_member_runs_off_a_transaction_per_batch_to_kafka_tool: round((perBatch.records_per_s as number) / tool.fetchRecordsPerSec, 4),
    bare_kafkajs: {
      load_average_1min: bareLoad,
      runs_messages_per_s: bareRuns,
      messages_per_s: bare,
      ratio_to_kafka_tool: round(bare / tool.fetchRecordsPerSec, 4),
      with_value_to_string_runs_messages_per_s: textRuns,
      with_value_to_string_messages_per_s: bareText,
      with_value_to_string_ratio_to_kafka_tool: round(bareText / tool.fetchRecordsPerSec, 4),
    },
    single_process: {
      records_per_s: Math.round(single.recordsPerSec),
      cpu_us_per_record: round(single.consumeCpuUsPerRecord, 2),
      kafka_tool_fetch_messages_per_s: single.kafkaTool ? Math.round(single.kafkaTool.fetchMessagesPerSec) : null,
      ratio_to_kafka_tool: single.ratioToKafkaTool === null ? null : round(single.ratioToKafkaTool, 4),
    },
    load_average_1min: loadAverage(),
  };
}

/** One member's ingest of the `messages` already in its flows topic, under an app id of its own (see benchMemberIngest). */
async function memberIngest(env: Record<string, string>, messages: number): Promise<Record<string, unknown>> {
  const member = await startServiceProcess({ ...env, SCALE_OUT_APP_ID: uniqueTopic('ingest') });
  try {
    // The first committed batch is inside the clock's start (about 2% of the messages): in the single
    // process's figure the first batch is inside the clock.
    const first = await poll(async () => ((await metric(member.url, 'alcor_scale_out_routed_messages_total')) > 0 ? performance.now() : undefined), 180_000, 'the first routed batch', 20).catch(
      withLogs([member]),
    );
    const cpu0 = cpuSeconds(member.child.pid!);
    const threads0 = threadCpuSeconds(member.child.pid!);
    const stages0 = await stageSeconds(member.url);
    const transactions0 = await metric(member.url, 'alcor_scale_out_route_transactions_total');
    const counts = await poll(
      async () => {
        const c = await memberCounts([member]);
        return c.routedMessages >= messages && c.applied >= c.routedRecords ? c : undefined;
      },
      600_000,
      `${messages} messages routed and applied by one member`,
      100,
    ).catch(withLogs([member]));
    const seconds = (performance.now() - first) / 1000;
    const cpu = cpuSeconds(member.child.pid!) - cpu0;
    const threads = threadCpuPerMillion(threads0, threadCpuSeconds(member.child.pid!), member.child.pid!, INGEST_RECORDS);
    const stages = await stageSeconds(member.url);
    const load = loadAverage();
    // After the clock (the member read its topic from the start): with the runs on, the last tick's run may
    // still be in it, and the figure net of it is then too low.
    const [idle] = await idleCpuPerSecond([member], 100);
    const transactions = await metric(member.url, 'alcor_scale_out_route_transactions_total');
    // Over the clock (from the first routed batch): the stages' phases, as the member measured them.
    const breakdown = stageBreakdown(stages0, stages, seconds, transactions - transactions0);
    return {
      load_average_1min: load,
      records_per_s: Math.round(INGEST_RECORDS / seconds),
      seconds: round(seconds, 2),
      by_vm_records_applied: counts.applied,
      cpu_s_per_million_records: round((cpu / INGEST_RECORDS) * 1e6),
      idle_cpu_s_per_s: round(idle!, 3),
      cpu_s_per_million_records_net_of_idle: round(((cpu - idle! * seconds) / INGEST_RECORDS) * 1e6),
      cpu_s_per_million_records_by_thread: threads,
      stage_seconds: breakdown,
      route_transactions: transactions,
      input_messages_per_route_transaction: Math.round(messages / Math.max(1, transactions)),
      latest_run_id: (await getJson<Stats>(`${member.url}/v1/stats`)).body.latest_run_id,
    };
  } finally {
    await member.stop('SIGKILL');
  }
}

/** A line of a member's log (pino's JSON): its time and message. */
function memberLines(m: ServiceProcess): Array<{ time: number; msg: string }> {
  const out: Array<{ time: number; msg: string }> = [];
  for (const line of m.output().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const { time, msg } = JSON.parse(line) as { time?: unknown; msg?: unknown };
      if (typeof time === 'number' && typeof msg === 'string') out.push({ time, msg });
    } catch {
      // Not a log line (kafkajs' own, cut off): no time to read.
    }
  }
  return out;
}

/**
 * When the broker's group coordinator did something to a group after `since` (epoch ms): `what` is a
 * regular expression over its line. The coordinator's lines say when a session expired (the rebalance
 * starts) and when every survivor had rejoined (the group stabilised): what no member can see.
 */
function coordinatorAt(brokerLog: string, group: string, what: RegExp, since: number): number | null {
  for (const line of readFileSync(brokerLog, 'utf8').split('\n')) {
    const m = /^\[(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d),(\d{3})\]/.exec(line);
    if (m === null || !line.includes(`group ${group} `) || !what.test(line)) continue;
    // The broker logs in the machine's zone: UTC here, as `date` says.
    const at = Date.parse(`${m[1]}T${m[2]}.${m[3]}Z`);
    if (at >= since) return at;
  }
  return null;
}

/**
 * kill -9 of a member that does not lead (until the survivors own every partition again), then of the
 * leader (until another member leads), each cut into its parts: the session timeout (kill to the
 * coordinator's rebalance, configuration), the survivors' rejoin (to the group stabilised: how soon they
 * learn of the rebalance, ours), the restore (to the last "holding" line: fence, changelog read, ours) or
 * taking up the leadership, and this bench's poll of the metric.
 */
export async function measureFailover(members: ServiceProcess[], leader: ServiceProcess, victim: ServiceProcess, appId: string, brokerLog: string) {
  const groups = { window: `${appId}-window`, leader: `${appId}-leader` };
  const expired = /Preparing to rebalance .*(expiration|removing member)/;
  const stabilised = /Stabilized group/;
  const since = (t0: number, t: number | null): number | null => (t === null ? null : round((t - t0) / 1000, 2));
  let alive = members.filter((m) => m !== victim);
  let t0 = Date.now();
  let c0 = performance.now();
  await victim.stop('SIGKILL');
  await waitFor(async () => ((await Promise.all(alive.map((m) => metric(m.url, 'alcor_scale_out_partitions_owned')))).reduce((a, b) => a + b, 0) === PARTITIONS ? true : undefined), 120_000, 'partitions served again');
  const partitionsServedAgainS = (performance.now() - c0) / 1000;
  const holding = alive.flatMap((m) => memberLines(m).filter((l) => l.time >= t0 && l.msg.startsWith('holding ')).map((l) => l.time));
  const member = {
    session_expired_s: since(t0, coordinatorAt(brokerLog, groups.window, expired, t0)),
    window_group_stabilised_s: since(t0, coordinatorAt(brokerLog, groups.window, stabilised, t0)),
    last_partition_restored_s: holding.length === 0 ? null : since(t0, Math.max(...holding)),
    seen_by_the_bench_s: round(partitionsServedAgainS, 2),
  };

  t0 = Date.now();
  c0 = performance.now();
  await leader.stop('SIGKILL');
  alive = alive.filter((m) => m !== leader);
  const leaderOf = async (): Promise<ServiceProcess | undefined> => {
    for (const m of alive) if ((await metric(m.url, 'alcor_scale_out_leader')) === 1) return m;
    return undefined;
  };
  const successor = await waitFor(leaderOf, 120_000, 'a new leader');
  const leaderFailoverS = (performance.now() - c0) / 1000;
  const leads = memberLines(successor).find((l) => l.time >= t0 && l.msg.startsWith('this member is the leader'));
  const leaderParts = {
    session_expired_s: since(t0, coordinatorAt(brokerLog, groups.leader, expired, t0)),
    leader_group_stabilised_s: since(t0, coordinatorAt(brokerLog, groups.leader, stabilised, t0)),
    leadership_taken_up_s: since(t0, leads?.time ?? null),
    seen_by_the_bench_s: round(leaderFailoverS, 2),
  };
  return {
    kill9_to_partitions_served_again_s: round(partitionsServedAgainS, 2),
    leader_failover_s: round(leaderFailoverS, 2),
    breakdown: { session_timeout_ms: SESSION_TIMEOUT_MS, member, leader: leaderParts, load_average_1min: loadAverage() },
  };
}

/**
 * Reads during a run on a larger fleet (`npm run bench -- scale-out-reads`): three members on a broker
 * started here, `trace` produced and every record applied, then readsDuringRun as in benchScaleOut.
 */
export async function benchScaleOutReads(trace: string): Promise<Record<string, unknown>> {
  const [port, controllerPort] = await getFreePorts(2);
  const dataDir = `.cache/kafka/bench-data-${port}`;
  const broker = await startKafkaBroker({ port: port!, controllerPort: controllerPort!, dataDir, logDir: `.cache/kafka/bench-logs-${port}`, detached: false });
  const members: ServiceProcess[] = [];
  try {
    const common = {
      ...membersEnv(broker.brokers),
    };
    // READS_PROBE_DIR: each process's CPU profile and what held its loop (bench/loop-probe.mjs), written as it exits.
    const probeDir = process.env.READS_PROBE_DIR;
    const probe: Record<string, string> =
      probeDir === undefined
        ? {}
        : { READS_PROBE_DIR: probeDir, NODE_OPTIONS: `--import=${join(process.cwd(), 'bench/loop-probe.mjs')}` };
    // The single process first, alone on the machine as the members are after it.
    const one = await singleProcessReads(broker.brokers, common, trace, probe);
    await one.single.stop(probeDir === undefined ? 'SIGKILL' : 'SIGTERM');
    if (probeDir !== undefined) writeFileSync(join(probeDir, `output-${one.single.child.pid}.log`), one.single.output());
    const singleProcess = { vms: one.vms, ingest_s: one.ingest_s, get_vm_during_run: one.reads };
    const { env, produce, topics } = await freshInputs(broker.brokers, common, 'reads', trace);
    const appId = uniqueTopic('reads');
    members.push(...(await Promise.all([0, 1, 2].map(() => startServiceProcess({ ...env, ...probe, SCALE_OUT_APP_ID: appId })))));
    await waitFor(() => allReady(members, true), 300_000, '3 members ready').catch(withLogs(members));
    const { produced } = await produce();
    const messages = Object.values(topics).reduce((sum, topic) => sum + (produced.byTopic[topic] ?? 0), 0);
    const t0 = performance.now();
    await poll(
      async () => {
        const c = await memberCounts(members);
        return c.routedMessages >= messages && c.applied >= c.routedRecords ? c : undefined;
      },
      900_000,
      `${messages} messages routed and applied by 3 members`,
      1000,
    ).catch(withLogs(members));
    const ingestS = (performance.now() - t0) / 1000;
    const vms = (await Promise.all(members.map((m) => metric(m.url, 'alcor_scale_out_vms_owned')))).reduce((a, b) => a + b, 0);
    const { reads, leader, reader, window } = await readsDuringRun(members).catch(withLogs(members));
    const onLeader = probeDir === undefined ? (await readsDuringRun(members, 'leader').catch(withLogs(members))).reads : null;
    if (probeDir !== undefined) {
      writeFileSync(join(probeDir, 'reads-window.json'), JSON.stringify({ ...window, reader: reader.child.pid, leader: leader.child.pid, single: { ...one.window, pid: one.single.child.pid } }));
      // A profile is written as its process exits: not on SIGKILL.
      for (const m of members) {
        await m.stop('SIGTERM');
        writeFileSync(join(probeDir, `output-${m.child.pid}.log`), m.output());
      }
    }
    return { trace, vms, members: 3, by_vm_partitions: PARTITIONS, ingest_s: round(ingestS, 1), get_vm_during_run: reads, get_vm_during_run_on_leader: onLeader, single_process: singleProcess };
  } finally {
    for (const m of members) await m.stop('SIGKILL');
    await broker.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}
