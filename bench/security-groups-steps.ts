/**
 * Which steps of the sliced security-group computation hold the event loop, and what they do:
 *
 *   node --expose-gc --import tsx bench/security-groups-steps.ts [--vms 100000] [--seed 101] [--over 10]
 *
 * The security-groups bench's fleet (its first seed replayed, replicated to --vms VMs, two computations as two
 * runs of a service: bench/security-groups-bench.ts) with a CPU profile sampled every 0.25 ms over each
 * computation; every step over --over ms of CPU is listed with the functions the profile sampled in it
 * (bench/loop-holds.ts's workOfHolds) and the GC pauses in it, beside the histogram of all steps' CPU.
 * The bench gives the longest step; this says which one it is, so a fix is measured rather than guessed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../src/config/pipeline-options.ts';
import { TraceGenerator } from '../src/generator/index.ts';
import { replayTrace } from '../src/replay/replay.ts';
import { membershipOf } from '../src/runs/membership.ts';
import { recommendInSlices } from '../src/security-groups/recommend.ts';
import { startCpuProfile, workOfHolds } from './loop-holds.ts';
import { replicate, type Source, type Stepped, stepHistogram, stepped } from './security-groups-bench.ts';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

async function source(seed: number): Promise<Source> {
  const defaults = PipelineOptions.parse({});
  const dir = mkdtempSync(join(tmpdir(), 'sg-steps-'));
  try {
    const gen = new TraceGenerator({ name: `sg-${seed}`, seed, vms: 600, tenants: 50, minutes: 45, ports: 'spread', security: 'standard' });
    const path = join(dir, `sg-${seed}.jsonl`);
    writeFileSync(path, `${[...gen.lines()].join('\n')}\n`);
    const out = await replayTrace(path, { pipeline: toPipelineConfig(defaults), run: toRunOptions(defaults) });
    return { membership: membershipOf(out.lastRun!), connections: out.securityGroups!.connections, windowMs: out.lastRun!.windowMs, snapshot: out.pipeline.runInput() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One computation, stepped and profiled: its figures and its steps over `overMs` of CPU with what they did. */
async function profiled<T>(name: string, start: () => Generator<void, T, void>, overMs: number): Promise<Stepped<T>> {
  const gcs: Array<{ at: number; ms: number }> = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ at: performance.timeOrigin + e.startTime, ms: e.duration });
  });
  observer.observe({ entryTypes: ['gc'] });
  const profiler = await startCpuProfile();
  const { monoMinusEpochUs } = profiler;
  const s = stepped(start);
  const profile = await profiler.stop();
  // The observer's entries arrive on the loop: one turn for the last ones.
  await new Promise((r) => setTimeout(r, 10));
  observer.disconnect();
  const long = s.each.map((e, k) => ({ ...e, k })).filter((e) => e.cpuMs >= overMs);
  const work = workOfHolds(profile, monoMinusEpochUs, long);
  const lines = [
    `${name}: ${s.steps} steps, ${s.cpuMs.toFixed(0)} ms CPU (${s.ms.toFixed(0)} ms wall), longest step ${Math.max(...s.each.map((e) => e.cpuMs)).toFixed(1)} ms CPU, load ${loadavg()[0]!.toFixed(1)}`,
    `  step CPU histogram (ms): ${JSON.stringify(stepHistogram(s.each))}`,
  ];
  long.forEach((e, i) => {
    const w = work[i]!;
    const gc = gcs.filter((g) => g.at >= e.at && g.at <= e.at + e.ms).reduce((a, g) => a + g.ms, 0);
    lines.push(`  step ${e.k}: ${e.cpuMs.toFixed(1)} ms CPU, ${e.ms.toFixed(1)} ms wall, GC ${gc.toFixed(1)} ms`);
    lines.push(`    self: ${w.self.map(([n, c]) => `${n} (${c})`).join('; ')}`);
    lines.push(`    under: ${w.ours.map(([n, c]) => `${n} (${c})`).join('; ')}`);
  });
  process.stdout.write(`${lines.join('\n')}\n`);
  return s;
}

const vms = Number(arg('vms', '100000'));
const seed = Number(arg('seed', '101'));
const overMs = Number(arg('over', '10'));
const src = await source(seed);
const fleet = replicate(src, Math.max(1, Math.round(vms / src.membership.vmIds.length)));
process.stdout.write(`${fleet.membership.vmIds.length} VMs, ${fleet.log.size} connections at the first computation\n`);
const cold = await profiled('first computation', () => recommendInSlices(fleet.membership, fleet.log), overMs);
cold.value.release();
const next = fleet.nextEpoch();
const warm = await profiled('second computation', () => recommendInSlices(next.membership, fleet.log), overMs);
await profiled('document', () => warm.value.documentInSlices(), overMs);
