/**
 * `npm run bench -- scale-out-one` (only when named): one member against today's single process on the small
 * fixture, the goal "one member must not be slower than one process by more than the repartition hop costs"
 * (issue 12). On one broker, `ROUNDS` times each, alternated so the machine's load weighs on both alike:
 * the clock, the CPU of each process (user + system, and its main thread's alone) and the internal topics'
 * bytes, measured as `npm run bench -- scale-out` measures them (scale-out-members-bench.ts). Then each of
 * the two once more under `--cpu-prof`, its main thread's samples between the trace's commit and its last
 * record applied summed by where the code lives. Then the hop alone (hopAlone): the by-VM messages of the
 * same trace encoded, produced in transactions, fetched and decoded, with no route and no windows.
 * Runs on and off in one bench run (SCALE_OUT_ONE_RUNS=on or off for one), each measure going on to
 * settled (every run of the trace done, runs counted), and the profiles' busy time by item of a run.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PipelineOptions, toPipelineConfig } from '../src/config/pipeline-options.ts';
import { decodeByVm, partitionOfMemo } from '../src/topology/by-vm.ts';
import { packByVm } from '../src/topology/by-vm-pack.ts';
import { topologyTopics } from '../src/topology/config.ts';
import { type Routed, Router } from '../src/topology/router.ts';
import { runNumber } from '../src/runs/history.ts';
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
  threadCpuPerMillion,
  threadCpuSeconds,
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
 * SCALE_OUT_ONE_RUNS=on or off: that mode only; by default both, alternated in each round (issue 12 asks
 * for both from one bench run). Off: no runs (RECLUSTER_MINUTES=0), the ingest alone. On: the clock stops
 * when the last record is applied, and the runs done by then differ (a member's leader had 2 or 3, each
 * tick's features come with the records; one process one at most, still in flight): each measure also
 * goes on to `settled`, every run the trace leads to done, with the runs counted.
 */
const MODES: ReadonlyArray<'on' | 'off'> = process.env.SCALE_OUT_ONE_RUNS === 'off' ? ['off'] : process.env.SCALE_OUT_ONE_RUNS === 'on' ? ['on'] : ['on', 'off'];
/** Settled: no run in flight and the latest run unchanged for this long (a leader gathers and publishes between runs). */
const SETTLED_QUIET_MS = 3000;
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
  /** CPU by thread over the clock: main, the busiest other (a member's route worker), the rest (the clustering worker, V8's helpers). */
  cpu_s_per_million_records_by_thread: Record<string, number>;
  /** From the same start to every run done (no run in flight, the latest unchanged for SETTLED_QUIET_MS). */
  settled: Settled;
  /** The span to settled on the profiler's clock, to cut a profile to it. */
  span: { fromUs: number; toUs: number };
}

interface Settled {
  seconds: number;
  /** Runs completed since the start (the number of the latest run: each measure starts afresh). */
  runs: number;
  latest_run_id: string | null;
  cpu_s_per_million_records: number;
  /** Net of the polled idle over the clock and the quiet idle after it (settling polls every 250 ms). */
  cpu_s_per_million_records_net_of_idle: number;
  cpu_s_per_million_records_by_thread: Record<string, number>;
}

/** Polls /v1/stats until no run is in flight and the latest run has stayed the same for SETTLED_QUIET_MS. */
async function settle(url: string): Promise<string | null> {
  let last: string | null | undefined;
  let since = performance.now();
  const until = performance.now() + 180_000;
  while (performance.now() < until) {
    const s = (await (await fetch(`${url}/v1/stats`)).json()) as { latest_run_id: string | null; run_in_progress: string | null };
    if (s.run_in_progress !== null || s.latest_run_id !== last) {
      last = s.latest_run_id;
      since = performance.now();
    } else if (performance.now() - since >= SETTLED_QUIET_MS) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('the runs did not settle within 180 s');
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
    const threads0 = threadCpuSeconds(pid);
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
    const threads1 = threadCpuSeconds(pid);
    // What the process made of the trace: its rejects and runs (the same work for both, or the figures compare nothing).
    const stats = (await (await fetch(`${proc.url}/v1/stats`)).json()) as { rejected: { count: number; by_reason: Record<string, number> }; latest_run_id: string | null };
    const cpu = cpuSeconds(pid) - cpu0;
    const main = mainThreadCpuSeconds(pid) - main0;
    const latest = await settle(proc.url);
    const settledSeconds = (performance.now() - t0) / 1000;
    const settledCpu = cpuSeconds(pid) - cpu0;
    const toUs = monotonicUs();
    const settled: Settled = {
      seconds: round(settledSeconds, 2),
      runs: latest === null ? 0 : (runNumber(latest) ?? 0),
      latest_run_id: latest,
      cpu_s_per_million_records: round((settledCpu / total) * 1e6),
      cpu_s_per_million_records_net_of_idle: round(((settledCpu - idle! * seconds - quietIdle * (settledSeconds - seconds)) / total) * 1e6),
      cpu_s_per_million_records_by_thread: threadCpuPerMillion(threads0, threadCpuSeconds(pid), pid, total),
    };
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
      cpu_s_per_million_records_by_thread: threadCpuPerMillion(threads0, threads1, pid, total),
      settled,
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
 * Items of a member's run (issue 12's list) and of the ingest around it, for the frames of ours on a
 * sample's stack (innermost first, "function@path" under src/ or dist/): the first rule that matches names
 * the item. The order matters: a document encoded inside a tick's transaction is the encode, not the
 * transaction; a by-VM message decoded by a topic reader is the connections topic, not the windows.
 */
const MAIN_ITEMS: ReadonlyArray<[string, (all: string) => boolean]> = [
  ["the bench's /metrics and /v1/stats polls", (all) => /observability\/|http\/routes\/(metrics|stats)/.test(all)],
  ['connection log (one process: fed by its pipeline; member: the leader reads the connections topic back)', (all) => /security-groups\/connection-log/.test(all) || (/decodeByVm@/.test(all) && /topic-reader/.test(all))],
  ['security groups learned at each run', (all) => /security-groups\//.test(all)],
  ['stable ids (matched on the main thread)', (all) => /runs\/identity/.test(all)],
  ['leader: gather of a tick', (all) => /topology\/gather/.test(all)],
  ['leader: run record chunks and hash', (all) => /topology\/run-chunks/.test(all)],
  ["documents decode (leader: every tick's features of every partition)", (all) => /(decodeDocumentSteps|joinDocument|decodeDocumentInSlices)@/.test(all)],
  ['documents encode (window: features at each tick; leader: the run record)', (all) => /(encodeDocumentSteps|cutDocument|encodeDocumentInSlices)@/.test(all)],
  ['checkpoints (member: fleet encode, local cache; one process: snapshots)', (all) => /fleet-codec|snapshot-file|local-cache|encodeFleet|snapshots\//.test(all)],
  ['window: features computed at each tick (one process: at each run)', (all) => /featuresSteps@|takeRunInputSteps@|takeRunInput@|features\/vm-features/.test(all)],
  ['window: tick transactions (features, checkpoint, offsets)', (all) => /publishTick@/.test(all)],
];

/** For the rest, the innermost frame of ours that names a stage. */
const FRAME_ITEMS: ReadonlyArray<[string, RegExp]> = [
  ['windows: apply (member: by-VM decode too)', /partition-state|fleet\/|windows\/|decodeByVm@/],
  ['input: decode, validate, attribute, route (member: by-VM encode too)', /contract\/|pipeline\/|attribution\/|topology\/(router|route-stage|by-vm|address-table)|kafka\//],
  ['run hand-off (service, clusterer)', /service\/|runs\//],
  ['HTTP (other routes, start-up)', /@http\//],
];

/** The frames of our own code on a sample's stack, innermost first, as "function@path" (path under src/ or dist/). */
function oursOnStack(id: number, nodes: Map<number, ProfileNode>, parent: Map<number, number>): string[] {
  const frames: string[] = [];
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const n = nodes.get(at)!;
    if (isOurs(n)) frames.push(`${n.callFrame.functionName || '(anonymous)'}@${n.callFrame.url.replace(/^.*\/(src|dist)\//, '')}`);
  }
  return frames;
}

function mainItemOf(frames: readonly string[], n: ProfileNode): string {
  if (n.callFrame.functionName === '(garbage collector)') return 'gc';
  const all = frames.join(' < ');
  for (const [item, matches] of MAIN_ITEMS) if (matches(all)) return item;
  for (const frame of frames) for (const [item, re] of FRAME_ITEMS) if (re.test(frame)) return item;
  return frames.length === 0 ? `none of ours: ${categoryOf(n)}` : `other of ours (${frames[0]})`;
}

/**
 * The profiles of one process (Node writes one per thread: CPU.<date>.<time>.<pid>.<thread id>.<n>.cpuprofile,
 * thread 0 the main one), their samples between `span`'s ends: the main thread's summed by category and by
 * function (ms), and by the innermost frame of ours; the route worker's (a member's route thread) by the
 * innermost frame of ours too; the other worker threads' (the clustering runs) as one busy figure.
 */
export function summariseProfile(dir: string, span: { fromUs: number; toUs: number }) {
  let main: { byCategory: Map<string, number>; byFunction: Map<string, number>; byOurFrame: Map<string, number>; ms: number } | null = null;
  let workersBusyMs = 0;
  let routeWorker: { byOurFrame: Map<string, number>; ms: number } | null = null;
  const workersByOurFrame = new Map<string, number>();
  let workerThreads = 0;
  // Busy ms by item (MAIN_ITEMS on the main thread; the other threads whole, their GC apart).
  const items = new Map<string, number>();
  const addItem = (item: string, ms: number) => items.set(item, (items.get(item) ?? 0) + ms);
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
    const p = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const byCategory = new Map<string, number>();
    const byFunction = new Map<string, number>();
    const byOurFrame = new Map<string, number>();
    const isMain = file.split('.')[4] === '0';
    const isRouteWorker = !isMain && p.nodes.some((n) => n.callFrame.url.endsWith('/route-worker.ts') || n.callFrame.url.endsWith('/route-worker.js'));
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
        const gc = c === 'gc' ? ': gc' : '';
        if (isMain) addItem(mainItemOf(oursOnStack(n.id, nodes, parent), n), dt / 1000);
        else if (isRouteWorker) addItem(`route worker (input decode, by-VM encode, produce)${gc}`, dt / 1000);
        else addItem(`clustering runs (worker threads)${gc}`, dt / 1000);
      }
    }
    if (isMain) main = { byCategory, byFunction, byOurFrame, ms };
    else if (isRouteWorker) routeWorker = { byOurFrame, ms };
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
    /** Every thread's busy ms by item, largest first: where a member's CPU goes against one process's. */
    busy_by_item_ms: top(items, 40),
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
    const envOf = (runs: 'on' | 'off') => ({
      KAFKA_BROKERS: broker.brokers,
      RECLUSTER_WALLCLOCK_SECONDS: '0',
      SCALE_OUT_PARTITIONS: String(PARTITIONS),
      SCALE_OUT_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS),
      LOG_LEVEL: 'warn',
      ...(runs === 'on' ? {} : { RECLUSTER_MINUTES: '0' }),
    });
    // The profiles first (in the first mode: runs on by default), to settled: every run of the trace in them.
    // The rounds' figures are measured without the profiler.
    const profiles: Record<string, unknown> = {};
    for (const kind of ['single', 'member'] as const) {
      process.stderr.write(`  ${kind} under --cpu-prof (runs ${MODES[0]})\n`);
      const dir = mkdtempSync(join(tmpdir(), `cpuprof-${kind}-`));
      const one = await measureOne(broker.brokers, envOf(MODES[0]!), kind, total, dataDir, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
      // A graceful stop: the profiles are written at exit.
      await one.proc.stop('SIGTERM');
      const summary = summariseProfile(dir, one.measured.span);
      const perMillion = (ms: number) => round((ms / 1000 / total) * 1e6);
      profiles[kind] = {
        runs: MODES[0],
        seconds_to_settled: one.measured.settled.seconds,
        runs_completed: one.measured.settled.runs,
        load_average_1min: one.measured.load_average_1min,
        // Profiler samples of busy threads, cut to the span to settled: inflated by the machine's load (a
        // thread waiting for a core still gets samples), so shares, not CPU-s, are what compare.
        busy_by_item_cpu_s_per_million_records: summary === null ? null : Object.fromEntries(Object.entries(summary.busy_by_item_ms).map(([k, v]) => [k, perMillion(v)])),
        ...summary,
      };
      // SCALE_OUT_ONE_KEEP_PROFILES=1 keeps them for a closer look (the directory is printed).
      if (process.env.SCALE_OUT_ONE_KEEP_PROFILES === '1') process.stderr.write(`  profiles kept in ${dir}\n`);
      else await rm(dir, { recursive: true, force: true });
    }
    type Round = { single: Measured; member: Measured; member_log_bytes_per_input_record: Record<string, number> | null };
    const rounds: Record<'on' | 'off', Round[]> = { on: [], off: [] };
    for (let r = 0; r < ROUNDS; r++)
      for (const mode of MODES) {
        process.stderr.write(`  round ${r + 1} of ${ROUNDS}, runs ${mode}: one process, then one member\n`);
        const single = await measureOne(broker.brokers, envOf(mode), 'single', total, dataDir);
        await single.proc.stop('SIGKILL');
        const member = await measureOne(broker.brokers, envOf(mode), 'member', total, dataDir);
        await member.proc.stop('SIGKILL');
        rounds[mode].push({ single: single.measured, member: member.measured, member_log_bytes_per_input_record: member.logBytes });
        process.stderr.write(`  ${JSON.stringify({ ...rounds[mode][rounds[mode].length - 1], single: { ...single.measured, span: undefined }, member: { ...member.measured, span: undefined } })}\n`);
      }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    type Figure = 'seconds' | 'cpu_s_per_million_records' | 'cpu_s_per_million_records_net_of_idle' | 'idle_cpu_s_per_s' | 'quiet_idle_cpu_s_per_s' | 'main_thread_cpu_s_per_million_records';
    const medians = (rs: Round[]) => {
      const pick = (k: 'single' | 'member', f: Figure) => median(rs.map((x) => x[k][f]));
      const settled = (k: 'single' | 'member', f: 'cpu_s_per_million_records' | 'cpu_s_per_million_records_net_of_idle' | 'runs' | 'seconds') => median(rs.map((x) => x[k].settled[f]));
      return {
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
        settled: {
          single_process_runs: settled('single', 'runs'),
          one_member_runs: settled('member', 'runs'),
          single_process_seconds: settled('single', 'seconds'),
          one_member_seconds: settled('member', 'seconds'),
          single_process_cpu_s_per_million_records: settled('single', 'cpu_s_per_million_records'),
          one_member_cpu_s_per_million_records: settled('member', 'cpu_s_per_million_records'),
          single_process_net_of_idle: settled('single', 'cpu_s_per_million_records_net_of_idle'),
          one_member_net_of_idle: settled('member', 'cpu_s_per_million_records_net_of_idle'),
        },
        load_average_1min: rs.map((x) => [x.single.load_average_1min, x.member.load_average_1min]).flat(),
      };
    };
    process.stderr.write('  the hop alone\n');
    const hop = await hopAlone(broker.brokers, batches, total);
    const byMode = Object.fromEntries(
      MODES.map((mode) => [
        `runs_${mode}`,
        {
          rounds: rounds[mode].map((x) => ({ ...x, single: { ...x.single, span: undefined }, member: { ...x.member, span: undefined } })),
          median: ROUNDS > 0 ? medians(rounds[mode]) : null,
        },
      ]),
    );
    return {
      trace: TRACE,
      input_records: total,
      by_vm_partitions: PARTITIONS,
      single_process_input_partitions: SINGLE_INPUT_PARTITIONS,
      modes: MODES,
      ...byMode,
      profiles,
      hop_alone: hop,
    };
  } finally {
    await broker.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}
