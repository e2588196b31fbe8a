/**
 * `npm run bench -- scale-out-one` (only when named): one member against today's single process on the small
 * fixture, the goal "one member must not be slower than one process by more than the repartition hop costs"
 * (issue 12). On one broker, `ROUNDS` times each, alternated so the machine's load weighs on both alike:
 * the clock, the CPU of each process (user + system, and its main thread's alone) and the internal topics'
 * bytes, measured as `npm run bench -- scale-out` measures them (scale-out-members-bench.ts). Then each of
 * the two once more under `--cpu-prof`, its main thread's samples between the trace's commit and its last
 * record applied summed by where the code lives. Then the hop alone (hopAlone): the by-VM messages of the
 * same trace encoded, produced in transactions, fetched and decoded, with no route and no windows.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PipelineOptions, toPipelineConfig } from '../src/config/pipeline-options.ts';
import { decodeByVm, packByVm, partitionOfMemo } from '../src/topology/by-vm.ts';
import { topologyTopics } from '../src/topology/config.ts';
import { type Routed, Router } from '../src/topology/router.ts';
import { traceMessages } from '../src/trace/trace-messages.ts';
import { createTopics, testKafkaClient, uniqueTopic } from '../test/helpers/kafka.ts';
import { type ServiceProcess, startServiceProcess, waitFor } from '../test/helpers/service-process.ts';
import { getFreePorts, startKafkaBroker } from '../tools/kafka-broker/index.ts';
import {
  PARTITIONS,
  SESSION_TIMEOUT_MS,
  TRACE,
  allReady,
  cpuSeconds,
  freshInputs,
  idleCpuPerSecond,
  loadAverage,
  memberCounts,
  poll,
  round,
  routed,
  segmentBytes,
  withLogs,
} from './scale-out-members-bench.ts';

/** Alternated rounds; SCALE_OUT_ONE_ROUNDS=0 takes the profiles and the hop alone only (a look at where the CPU goes, no figures). */
const ROUNDS = Number(process.env.SCALE_OUT_ONE_ROUNDS ?? 3);
/** Route batches of the hop alone: about what one member's routers commit for the small fixture (30 transactions). */
const HOP_BATCHES = 30;
/**
 * Input partitions of the single process's topics. On the members' 3, one process with one watermark read
 * the backlog a partition at a time and rejected 40,049 of the 73,856 records as too_late (the replay: 49);
 * it keeps a watermark per flows partition now (docs/event-time.md). On 1 it does the replay's work, as the
 * member does. SCALE_OUT_ONE_SINGLE_INPUT_PARTITIONS=3 measures it on the members' 3.
 */
const SINGLE_INPUT_PARTITIONS = Number(process.env.SCALE_OUT_ONE_SINGLE_INPUT_PARTITIONS ?? 1);
/**
 * SCALE_OUT_ONE_RUNS=off: no runs (RECLUSTER_MINUTES=0), the ingest alone. With runs, the clock stops when
 * the last record is applied, and the runs done by then differ: a member's leader had 3 or 4 (each tick's
 * features come with the records), the single process none on inputs of one partition, 3 on three.
 */
const RUNS = process.env.SCALE_OUT_ONE_RUNS !== 'off';
/** Seconds of the quiet idle measure (nothing polled). */
const QUIET_S = 4;

/** CPU seconds of a process's main thread (its first task, tid = pid): route, hop, windows and the Kafka client run there. */
function mainThreadCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The monotonic clock of V8's profiler (CLOCK_MONOTONIC), in microseconds: profiles' sample times are on it. */
const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

interface Measured {
  seconds: number;
  cpu_s_per_million_records: number;
  main_thread_cpu_s_per_million_records: number;
  idle_cpu_s_per_s: number;
  /** Idle and not polled: what the process costs with no input and no one asking. */
  quiet_idle_cpu_s_per_s: number;
  /** Records rejected (all reasons, and too_late), and the latest run when the clock stopped. */
  rejected: number;
  too_late: number;
  latest_run_id: string | null;
  cpu_s_per_million_records_net_of_idle: number;
  load_average_1min: number;
  /** The clock's span on the profiler's clock, to cut a profile to it. */
  span: { fromUs: number; toUs: number };
}

/** One process (today's single one, or a member of a fresh application of one) over the trace, as the scale-out bench clocks it. */
async function measureOne(brokers: string, common: Record<string, string>, kind: 'single' | 'member', total: number, dataDir: string, nodeArgs: readonly string[] = []) {
  const name = `${kind}${Math.floor(Math.random() * 1e6)}`;
  const appId = uniqueTopic(`one${kind}`);
  const { env, produce, topics } = await freshInputs(brokers, common, name, TRACE, kind === 'single' ? SINGLE_INPUT_PARTITIONS : undefined);
  const proc = await startServiceProcess({ ...env, ...(kind === 'member' ? { SCALE_OUT_APP_ID: appId } : {}) }, nodeArgs);
  try {
    await waitFor(() => allReady([proc], kind === 'member'), 300_000, `${kind} ready`).catch(withLogs([proc]));
    const pid = proc.child.pid!;
    // Nothing asked of it: its consumers' fetches and heartbeats, timers, the route worker's reports.
    const quiet0 = cpuSeconds(pid);
    await new Promise((r) => setTimeout(r, QUIET_S * 1000));
    const quietIdle = (cpuSeconds(pid) - quiet0) / QUIET_S;
    // Polled as the clock polls it (a member's /metrics, one process's /v1/stats): the scrapes are most of the idle figure.
    const [idle] = kind === 'member' ? await idleCpuPerSecond([proc], 50) : [await singleIdleCpuPerSecond(proc)];
    const cpu0 = cpuSeconds(pid);
    const main0 = mainThreadCpuSeconds(pid);
    const fromUs = monotonicUs();
    const { produced, committing: t0 } = await produce();
    const messages = Object.values(topics).reduce((sum, topic) => sum + (produced.byTopic[topic] ?? 0), 0);
    if (kind === 'single') await poll(async () => ((await routed(proc.url)) >= total ? true : undefined), 300_000, `${total} records in one process`).catch(withLogs([proc]));
    else
      await poll(
        async () => {
          const c = await memberCounts([proc]);
          return c.routedMessages >= messages && c.applied >= c.routedRecords ? c : undefined;
        },
        300_000,
        `${messages} messages routed and applied by one member`,
      ).catch(withLogs([proc]));
    const seconds = (performance.now() - t0) / 1000;
    const toUs = monotonicUs();
    // What the process made of the trace: its rejects and runs (the same work for both, or the figures compare nothing).
    const stats = (await (await fetch(`${proc.url}/v1/stats`)).json()) as { rejected: { count: number; by_reason: Record<string, number> }; latest_run_id: string | null };
    const cpu = cpuSeconds(pid) - cpu0;
    const main = mainThreadCpuSeconds(pid) - main0;
    const measured: Measured = {
      seconds: round(seconds, 2),
      cpu_s_per_million_records: round((cpu / total) * 1e6),
      main_thread_cpu_s_per_million_records: round((main / total) * 1e6),
      idle_cpu_s_per_s: round(idle!, 3),
      quiet_idle_cpu_s_per_s: round(quietIdle, 3),
      rejected: stats.rejected.count,
      too_late: stats.rejected.by_reason.too_late ?? 0,
      latest_run_id: stats.latest_run_id,
      cpu_s_per_million_records_net_of_idle: round(((cpu - idle! * seconds) / total) * 1e6),
      load_average_1min: loadAverage(),
      span: { fromUs, toUs },
    };
    const logBytes = kind === 'member' ? internalTopicBytes(dataDir, appId, total) : null;
    return { measured, logBytes, proc };
  } catch (err) {
    await proc.stop('SIGKILL');
    throw err;
  }
}

/** idleCpuPerSecond for one process: /v1/stats polled every 50 ms for 4 s, as its clock polls it. */
async function singleIdleCpuPerSecond(proc: ServiceProcess, seconds = 4): Promise<number> {
  const before = cpuSeconds(proc.child.pid!);
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    await routed(proc.url);
    await new Promise((r) => setTimeout(r, 50));
  }
  return (cpuSeconds(proc.child.pid!) - before) / seconds;
}

/** Bytes in the broker's log per input record of the member's internal topics. */
function internalTopicBytes(dataDir: string, appId: string, total: number): Record<string, number> {
  const logDirs = join(dataDir, 'kraft');
  const t = topologyTopics(appId);
  const perRecord = (topic: string) => round(readdirSync(logDirs).filter((d) => d.startsWith(`${topic}-`)).reduce((sum, d) => sum + segmentBytes(join(logDirs, d)), 0) / total);
  return { by_vm: perRecord(t.byVm), features: perRecord(t.features), connections: perRecord(t.connections), changelog: perRecord(t.changelog) };
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Where the code of a profile node lives: the stages a member adds show apart from one process's. */
function categoryOf(n: ProfileNode): string {
  const { url, functionName } = n.callFrame;
  if (functionName === '(garbage collector)') return 'gc';
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(program)') return 'program (V8, native)';
  if (url.includes('/node_modules/kafkajs/')) return 'kafkajs';
  if (url.includes('/node_modules/')) return `node_modules/${url.split('/node_modules/')[1]!.split('/')[0]}`;
  if (url.startsWith('node:')) return 'node internals';
  // The sources (tsx) or their build (dist/, as the service processes run).
  const m = /\/(?:src|dist)\/([^/]+)\/(?:([^/]+)\.[jt]s)?/.exec(url);
  if (m === null) return url === '' ? 'native' : 'other';
  if (m[1] === 'topology') return `topology/${m[2] ?? ''}`;
  return m[1]!;
}

const frameName = (n: ProfileNode): string => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*\/(src|dist|node_modules)\//, '$1/')}:${n.callFrame.lineNumber + 1}`;

/** Our own code: the repository's src/ or its build, not a dependency's (whose paths hold a src/ of their own). */
const isOurs = (n: ProfileNode): boolean => /\/(src|dist)\//.test(n.callFrame.url) && !n.callFrame.url.includes('/node_modules/');

/**
 * The innermost frame of our own code on a sample's stack: self time shows native writes, GC and kafkajs
 * apart from the code of ours that asked for them; this charges them to it. Stacks with no frame of ours
 * (kafkajs' fetch loop, timers, the HTTP parser) fall back to their own category.
 */
function ourFrame(id: number, nodes: Map<number, ProfileNode>, parent: Map<number, number>): string {
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const n = nodes.get(at)!;
    if (isOurs(n)) return frameName(n);
  }
  return `(none of ours) ${categoryOf(nodes.get(id)!)}`;
}

/**
 * The profiles of one process (Node writes one per thread: CPU.<date>.<time>.<pid>.<thread id>.<n>.cpuprofile,
 * thread 0 the main one), their samples between `span`'s ends: the main thread's summed by category and by
 * function (ms), and by the innermost frame of ours; the route worker's (a member's route thread) by the
 * innermost frame of ours too; the other worker threads' (the clustering runs) as one busy figure.
 */
function summariseProfile(dir: string, span: { fromUs: number; toUs: number }) {
  let main: { byCategory: Map<string, number>; byFunction: Map<string, number>; byOurFrame: Map<string, number>; ms: number } | null = null;
  let workersBusyMs = 0;
  let routeWorker: { byOurFrame: Map<string, number>; ms: number } | null = null;
  const workersByOurFrame = new Map<string, number>();
  let workerThreads = 0;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
    const p = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const byCategory = new Map<string, number>();
    const byFunction = new Map<string, number>();
    const byOurFrame = new Map<string, number>();
    let t = p.startTime;
    let ms = 0;
    for (let i = 0; i < p.samples.length; i++) {
      const dt = p.timeDeltas[i] ?? 0;
      t += dt;
      if (t < span.fromUs || t > span.toUs) continue;
      const n = nodes.get(p.samples[i]!)!;
      const c = categoryOf(n);
      byCategory.set(c, (byCategory.get(c) ?? 0) + dt / 1000);
      const f = frameName(n);
      byFunction.set(f, (byFunction.get(f) ?? 0) + dt / 1000);
      if (c !== 'idle') {
        ms += dt / 1000;
        const o = ourFrame(n.id, nodes, parent);
        byOurFrame.set(o, (byOurFrame.get(o) ?? 0) + dt / 1000);
      }
    }
    if (file.split('.')[4] === '0') main = { byCategory, byFunction, byOurFrame, ms };
    else if (p.nodes.some((n) => n.callFrame.url.endsWith('/route-worker.ts') || n.callFrame.url.endsWith('/route-worker.js'))) routeWorker = { byOurFrame, ms };
    else {
      workersBusyMs += ms;
      workerThreads++;
      for (const [k, v] of byOurFrame) workersByOurFrame.set(k, (workersByOurFrame.get(k) ?? 0) + v);
    }
  }
  if (main === null) return null;
  const top = (m: Map<string, number>, n: number) =>
    Object.fromEntries(
      [...m.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, n)
        .map(([k, v]) => [k, round(v)]),
    );
  return {
    main_thread_busy_ms: round(main.ms),
    route_worker_busy_ms: routeWorker === null ? null : round(routeWorker.ms),
    worker_threads_busy_ms: round(workersBusyMs),
    worker_threads: workerThreads,
    main_by_category_ms: top(main.byCategory, 24),
    main_top_functions_ms: top(main.byFunction, 25),
    main_busy_by_our_innermost_frame_ms: top(main.byOurFrame, 30),
    route_worker_busy_by_our_innermost_frame_ms: routeWorker === null ? null : top(routeWorker.byOurFrame, 20),
    worker_threads_busy_by_our_innermost_frame_ms: top(workersByOurFrame, 20),
  };
}

/** The trace routed (as one router) into HOP_BATCHES route batches, and its input records. */
async function routedBatches(): Promise<{ batches: Routed[][]; total: number }> {
  const config = toPipelineConfig(PipelineOptions.parse({}));
  const input = await traceMessages(TRACE);
  const router = new Router(config, () => {});
  const batches: Routed[][] = [];
  const every = Math.ceil(input.length / HOP_BATCHES);
  let out: Routed[] = [];
  for (const [i, [topic, text]] of input.entries()) {
    router.route(topic, text, `m${i}`, out);
    if (i % every === every - 1 || i === input.length - 1) {
      router.endOfBatch(out);
      batches.push(out);
      out = [];
    }
  }
  const n = router.recordsIn;
  return { batches, total: n.flows + n.vmAttributes + n.tenantAttributes };
}

/**
 * The repartition hop alone, in this process: the small fixture routed (not timed) into HOP_BATCHES route
 * batches packed as a member packs them (one message per by-VM partition and batch), then encoded, produced
 * in one transaction per batch, fetched read_committed and decoded, each timed with process.cpuUsage.
 */
async function hopAlone(brokers: string, batches: Routed[][], total: number) {
  const cpu = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  const partitionOf = partitionOfMemo(PARTITIONS);
  let c0 = cpu();
  const packed = batches.map((b) => packByVm(b, PARTITIONS, partitionOf));
  const encodeS = cpu() - c0;
  const bytes = packed.reduce((n, ms) => n + ms.reduce((k, m) => k + m.value.length, 0), 0);
  const topic = uniqueTopic('hop-alone');
  await createTopics(brokers, [topic], PARTITIONS);
  const kafka = testKafkaClient(brokers, 'hop-alone');
  const producer = kafka.producer({ transactionalId: `${topic}-txn`, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  c0 = cpu();
  let t0 = performance.now();
  for (const ms of packed) {
    const txn = await producer.transaction();
    await txn.send({ topic, messages: ms.map((m) => ({ partition: m.partition, value: m.value })) });
    await txn.commit();
  }
  const produceS = cpu() - c0;
  const produceWallS = (performance.now() - t0) / 1000;
  await producer.disconnect();
  const messages = packed.reduce((n, ms) => n + ms.length, 0);
  const consumer = kafka.consumer({ groupId: `${topic}-reader` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let seen = 0;
  let decodeS = 0;
  let records = 0;
  c0 = cpu();
  t0 = performance.now();
  await new Promise<void>((resolve) => {
    void consumer.run({
      eachBatch: async ({ batch }) => {
        const d0 = cpu();
        for (const m of batch.messages) if (m.value !== null) records += decodeByVm(m.value)?.length ?? 0;
        decodeS += cpu() - d0;
        seen += batch.messages.length;
        if (seen >= messages) resolve();
      },
    });
  });
  const fetchAndDecodeS = cpu() - c0;
  const consumeWallS = (performance.now() - t0) / 1000;
  await consumer.disconnect();
  const perM = (s: number) => round((s / total) * 1e6);
  return {
    by_vm_messages: messages,
    by_vm_records_per_input_record: round(records / total, 3),
    by_vm_value_bytes_per_input_record: round(bytes / total),
    cpu_s_per_million_records: {
      encode: perM(encodeS),
      produce_in_transactions: perM(produceS),
      fetch: perM(fetchAndDecodeS - decodeS),
      decode: perM(decodeS),
      total: perM(encodeS + produceS + fetchAndDecodeS),
    },
    wall_s: { produce: round(produceWallS, 2), consume: round(consumeWallS, 2) },
    load_average_1min: loadAverage(),
  };
}

export async function benchScaleOutOne(): Promise<Record<string, unknown>> {
  const [port, controllerPort] = await getFreePorts(2);
  const dataDir = `.cache/kafka/bench-data-${port}`;
  const broker = await startKafkaBroker({ port: port!, controllerPort: controllerPort!, dataDir, logDir: `.cache/kafka/bench-logs-${port}`, detached: false });
  const { batches, total } = await routedBatches();
  try {
    const common = {
      KAFKA_BROKERS: broker.brokers,
      RECLUSTER_WALLCLOCK_SECONDS: '0',
      SCALE_OUT_PARTITIONS: String(PARTITIONS),
      SCALE_OUT_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS),
      LOG_LEVEL: 'warn',
      ...(RUNS ? {} : { RECLUSTER_MINUTES: '0' }),
    };
    // The profiles first: the rounds' figures are measured without the profiler.
    const profiles: Record<string, unknown> = {};
    for (const kind of ['single', 'member'] as const) {
      process.stderr.write(`  ${kind} under --cpu-prof\n`);
      const dir = mkdtempSync(join(tmpdir(), `cpuprof-${kind}-`));
      const one = await measureOne(broker.brokers, common, kind, total, dataDir, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
      // A graceful stop: the profiles are written at exit.
      await one.proc.stop('SIGTERM');
      profiles[kind] = { seconds: one.measured.seconds, load_average_1min: one.measured.load_average_1min, ...summariseProfile(dir, one.measured.span) };
      await rm(dir, { recursive: true, force: true });
    }
    const rounds: Array<{ single: Measured; member: Measured; member_log_bytes_per_input_record: Record<string, number> | null }> = [];
    for (let r = 0; r < ROUNDS; r++) {
      process.stderr.write(`  round ${r + 1} of ${ROUNDS}: one process, then one member\n`);
      const single = await measureOne(broker.brokers, common, 'single', total, dataDir);
      await single.proc.stop('SIGKILL');
      const member = await measureOne(broker.brokers, common, 'member', total, dataDir);
      await member.proc.stop('SIGKILL');
      rounds.push({ single: single.measured, member: member.measured, member_log_bytes_per_input_record: member.logBytes });
      process.stderr.write(`  ${JSON.stringify(rounds[rounds.length - 1])}\n`);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const pick = (k: 'single' | 'member', f: keyof Omit<Measured, 'span' | 'latest_run_id'>) => median(rounds.map((x) => x[k][f]));
    process.stderr.write('  the hop alone\n');
    const hop = await hopAlone(broker.brokers, batches, total);
    return {
      trace: TRACE,
      input_records: total,
      by_vm_partitions: PARTITIONS,
      single_process_input_partitions: SINGLE_INPUT_PARTITIONS,
      runs: RUNS ? 'on' : 'off',
      rounds: rounds.map((x) => ({ ...x, single: { ...x.single, span: undefined }, member: { ...x.member, span: undefined } })),
      median: {
        single_process_cpu_s_per_million_records: pick('single', 'cpu_s_per_million_records'),
        one_member_cpu_s_per_million_records: pick('member', 'cpu_s_per_million_records'),
        single_process_net_of_idle: pick('single', 'cpu_s_per_million_records_net_of_idle'),
        one_member_net_of_idle: pick('member', 'cpu_s_per_million_records_net_of_idle'),
        single_process_idle_cpu_s_per_s: pick('single', 'idle_cpu_s_per_s'),
        one_member_idle_cpu_s_per_s: pick('member', 'idle_cpu_s_per_s'),
        single_process_quiet_idle_cpu_s_per_s: pick('single', 'quiet_idle_cpu_s_per_s'),
        one_member_quiet_idle_cpu_s_per_s: pick('member', 'quiet_idle_cpu_s_per_s'),
        single_process_main_thread: pick('single', 'main_thread_cpu_s_per_million_records'),
        one_member_main_thread: pick('member', 'main_thread_cpu_s_per_million_records'),
        single_process_records_per_s: Math.round(total / pick('single', 'seconds')),
        one_member_records_per_s: Math.round(total / pick('member', 'seconds')),
      },
      profiles,
      hop_alone: hop,
    };
  } finally {
    await broker.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}
