/**
 * What holds the event loop during a run, in one process (`npx tsx bench/run-holds.ts [trace] [single|leader]`):
 * the trace applied to a pipeline, then a requested run as the service makes it (worker threads, stable ids,
 * security groups; the leader's as its run record's encoding too), with a 1 ms timer, the loop-delay
 * histogram (perf_hooks monitorEventLoopDelay) and a CPU profile sampled every 0.25 ms. Every block over
 * BLOCK_MS is listed with the functions the profile sampled in it (bench/loop-holds.ts's workOfHolds) and
 * the GC pauses. `single`: the run input taken by the service at the request, as a process without
 * SCALE_OUT_APP_ID does; `leader`: given, as a leader's gather hands it over in slices. Minutes of no broker:
 * the reads' own latency is scale-out-members-bench.ts's.
 */
import { randomUUID } from 'node:crypto';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../src/config/pipeline-options.ts';
import { Pipeline } from '../src/pipeline/pipeline.ts';
import { ClusterService } from '../src/service/cluster-service.ts';
import { WorkerClusterer } from '../src/service/clusterer.ts';
import { encodeDocumentInSlices } from '../src/snapshots/sliced-document.ts';
import { inSlices } from '../src/core/slices.ts';
import { runRecordsSteps } from '../src/topology/run-chunks.ts';
import type { PublishedRun } from '../src/topology/member.ts';
import { traceMessages } from '../src/trace/trace-messages.ts';
import { startCpuProfile, workOfHolds } from './loop-holds.ts';

/** Blocks listed: the goal is reads under 10 ms, and a read waits behind a whole block. */
const BLOCK_MS = 5;

export async function runHolds(trace: string, role: 'single' | 'leader'): Promise<Record<string, unknown>> {
  const options = PipelineOptions.parse({});
  const pipeline = new Pipeline(toPipelineConfig(options));
  const service = new ClusterService(pipeline, new WorkerClusterer(), toRunOptions(options), Date.now, { securityGroupsEveryRun: true, identitiesInSlices: true, runInputInSlices: true });
  for (const [i, [topic, text]] of (await traceMessages(trace)).entries()) service.ingestMessage(topic, text, `m${i}`);
  await service.whenIdle();
  // A run before the measured one: the measured one then starts warm and matches ids, as it does in the service.
  await service.securityGroups();
  const given = role === 'leader' ? pipeline.runInput() : undefined;

  const epoch = (t: number): number => performance.timeOrigin + t;
  const gcs: Array<{ at: number; ms: number; kind: number | null }> = [];
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ at: epoch(e.startTime), ms: e.duration, kind: (e as unknown as { detail?: { kind?: number } }).detail?.kind ?? null });
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  const holds: Array<{ at: number; ms: number }> = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    if (now - last > BLOCK_MS) holds.push({ at: epoch(last), ms: now - last });
    last = now;
  }, 1);
  const profiler = await startCpuProfile();
  const { monoMinusEpochUs } = profiler;
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  await new Promise((r) => setTimeout(r, 20));
  last = performance.now();
  const from = Date.now();

  const ran = new Promise<void>((resolve) => service.once('run', () => resolve()));
  service.startRun('request', { search: true }, given);
  await ran;
  const runMs = Date.now() - from;
  const document = await service.securityGroups();
  if (role === 'leader') {
    const record: PublishedRun = { member: 'bench', state: service.exportState(), tick: null, request: 'bench', securityGroups: document };
    const value = await encodeDocumentInSlices(record);
    await inSlices(runRecordsSteps(value, { publication: randomUUID(), member: 'bench', runId: service.latestRun()?.runId ?? null, liveChunks: 0 }), 4);
  }
  await new Promise((r) => setTimeout(r, 20));
  const to = Date.now();
  delay.disable();
  clearInterval(timer);
  gcObserver.disconnect();
  const profile = await profiler.stop();
  await service.close();

  const inWindow = <T extends { at: number }>(xs: T[]): T[] => xs.filter((x) => x.at >= from && x.at <= to);
  const blocks = workOfHolds(profile, monoMinusEpochUs, inWindow(holds).sort((a, b) => b.ms - a.ms));
  const round = (x: number): number => Number(x.toFixed(1));
  const pauses = inWindow(gcs);
  return {
    role,
    vms: service.latestRun()?.vms.ids.length ?? 0,
    run_ms: runMs,
    window_ms: to - from,
    loop_delay_p99_ms: round(delay.percentile(99) / 1e6),
    loop_delay_max_ms: round(delay.max / 1e6),
    gc: { pauses: pauses.length, ms: round(pauses.reduce((a, g) => a + g.ms, 0)), longest_ms: round(Math.max(0, ...pauses.map((g) => g.ms))) },
    blocks_over_5_ms: blocks.map((b) => ({
      ms: round(b.ms),
      cpu_ms: b.cpuMs,
      at_s: round((b.at - from) / 1000),
      gc_ms: round(pauses.filter((g) => g.at >= b.at && g.at <= b.at + b.ms).reduce((a, g) => a + g.ms, 0)),
      self: b.self.slice(0, 3).map(([n, c]) => `${n} (${c})`),
      under: b.ours.slice(0, 3).map(([n, c]) => `${n} (${c})`),
    })),
    load_average_1min: Number((await import('node:os')).loadavg()[0]!.toFixed(1)),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [trace = 'fixtures/generated/readp99-12k.jsonl.gz', role = 'single'] = process.argv.slice(2);
  if (role !== 'single' && role !== 'leader') throw new Error('usage: npx tsx bench/run-holds.ts [trace] [single|leader]');
  process.stdout.write(`${JSON.stringify(await runHolds(trace, role), null, 1)}\n`);
}
