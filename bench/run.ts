/**
 * npm run bench [-- replay attribution replay-hour kafka api scale memory placement security-groups scale-out scale-out-failover]: runs the benchmarks (all, or those named) and writes their figures
 * (`npm run bench -- quality` adds clustering quality over 15 generated hard traces, bench/quality.ts: only when named)
 * to bench/results/latest.json (and prints them). Traces are generated on demand into fixtures/generated/
 * (git-ignored); the Kafka benchmark starts its own broker from the Maven jars.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { parseFlags } from '../src/cli/args.ts';
import { benchChartSpec } from '../src/cli/bench-chart.ts';
import { unknownSections } from '../src/cli/commands/bench.ts';
import { plotFormatOf, writePlot } from '../src/cli/plots.ts';
import { benchApi } from './api-bench.ts';
import { benchAttribution } from './attribution-bench.ts';
import { benchKafka } from './kafka-bench.ts';
import { benchMemory } from './memory.ts';
import { benchPlacement } from './placement-bench.ts';
import { benchQuality } from './quality.ts';
import { READ_SLICES_TRACES, benchReadSlices } from './read-slices-bench.ts';
import { benchReplay } from './replay-bench.ts';
import { benchScale } from './scale-bench.ts';
import { benchScaleOut, benchScaleOutIngest, benchScaleOutReads } from './scale-out-members-bench.ts';
import { benchScaleOutOne } from './scale-out-one-bench.ts';
import { benchSecurityGroups } from './security-groups-bench.ts';

const TRACE = 'fixtures/generated/bench-1m.jsonl.gz';
/** Issue 11's replay goal is set on a generated hour of 300 tenants. */
const HOUR_TRACE = 'fixtures/generated/hour-300.jsonl.gz';
const HOUR_ARGS = ['--name', 'hour-300', '--seed', '300', '--vms', '1800', '--tenants', '300', '--minutes', '60', '--out-dir', 'fixtures/generated', '--gzip-level', '1'];
const RESULTS = 'bench/results/latest.json';
const PLOT = 'bench/results/latest.svg';

async function main(): Promise<void> {
  const { positionals: only, values: flags } = parseFlags(process.argv.slice(2), ['json']);
  // Before generating anything: a misspelt name would otherwise run nothing and say nothing.
  const unknown = unknownSections(only);
  if (unknown !== null) {
    process.stderr.write(`bench: ${unknown}\n`);
    process.exitCode = 2;
    return;
  }
  // Every section but replay-hour, attribution, placement, security-groups, scale-out(-failover) and read-slices (generated traces or fleets of their own, the small fixture) runs on the 1M-record trace.
  if (!existsSync(TRACE) && (only.length === 0 || only.some((name) => !['replay-hour', 'attribution', 'placement', 'security-groups', 'scale-out', 'scale-out-one', 'scale-out-ingest', 'scale-out-failover', 'read-slices', 'scale-out-reads'].includes(name)))) {
    process.stderr.write(`generating ${TRACE} (once)...\n`);
    execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/fixtures.ts', '--preset', 'bench-1m'], { stdio: 'inherit' });
  }
  if (typeof flags.plot === 'string' && plotFormatOf(flags.plot) === null) throw new Error(`--plot ${flags.plot}: name the file .svg or .png`);
  const wanted = (name: string): boolean => only.length === 0 || only.includes(name);
  const started = new Date().toISOString();
  const figures: Record<string, unknown> = {
    started,
    machine: { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memory_gb: Math.round(totalmem() / 2 ** 30) },
  };
  if (wanted('replay')) {
    process.stderr.write('replay benchmark (3 passes)...\n');
    figures.replay = await benchReplay(TRACE);
  }
  if (wanted('attribution')) {
    process.stderr.write('attribution benchmark (an hour of 60 tenants reusing one address range; 3 passes)...\n');
    figures.attribution = await benchAttribution();
  }
  if (wanted('replay-hour')) {
    if (!existsSync(HOUR_TRACE)) execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/fixtures.ts', ...HOUR_ARGS], { stdio: 'inherit' });
    process.stderr.write('replay benchmark on an hour of 300 tenants (3 passes)...\n');
    figures.replay_hour_300 = await benchReplay(HOUR_TRACE);
  }
  if (wanted('kafka')) {
    process.stderr.write('Kafka ingest benchmark (starts a broker)...\n');
    figures.kafka_ingest = await benchKafka();
  }
  if (wanted('api')) {
    process.stderr.write('API latency benchmark (starts the service on the 1M-record trace)...\n');
    figures.api_latency = await benchApi(TRACE);
  }
  if (wanted('scale')) {
    process.stderr.write('scale benchmark (10k, 50k, 100k VMs)...\n');
    figures.scale = await benchScale(TRACE);
  }
  if (wanted('scale-out')) {
    process.stderr.write('scale-out benchmark (starts a broker and 1, 2 and 3 member processes)...\n');
    figures.scale_out = await benchScaleOut();
  }
  // Minutes: only when asked for by name.
  if (only.includes('scale-out-one')) {
    process.stderr.write('one member against one process (a broker; alternated rounds, profiles, the hop alone)...\n');
    figures.scale_out_one = await benchScaleOutOne();
  }
  // The one-member ingest of the above on a broker of its own (a few minutes): only when asked for by name.
  if (only.includes('scale-out-ingest')) {
    process.stderr.write('one member\'s ingest of 200k single-record messages, the bare kafkajs consumer and Kafka\'s tool (starts a broker)...\n');
    figures.scale_out_ingest = await benchScaleOutIngest();
  }
  // A minute of the above: only when asked for by name.
  if (only.includes('scale-out-failover')) {
    process.stderr.write('scale-out failover (a broker, 3 member processes, kill -9 of a member and of the leader)...\n');
    figures.scale_out_failover = await benchScaleOut({ failoverOnly: true });
  }
  // Minutes of ingest before the reads: only when asked for by name.
  if (only.includes('scale-out-reads')) {
    const { path, args } = READ_SLICES_TRACES[1]!;
    if (args !== null && !existsSync(path)) execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/fixtures.ts', ...args], { stdio: 'inherit' });
    process.stderr.write(`reads during a run on a member, 3 members on ${path} (starts a broker)...\n`);
    figures.scale_out_reads = await benchScaleOutReads(path);
  }
  if (wanted('read-slices')) {
    const sizes: Record<string, unknown> = {};
    for (const { name, path, args } of READ_SLICES_TRACES) {
      if (args !== null && !existsSync(path)) execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/fixtures.ts', ...args], { stdio: 'inherit' });
      process.stderr.write(`event-loop slices of a member's run and features work on ${path}...\n`);
      sizes[name] = await benchReadSlices(path);
    }
    figures.read_slices = sizes;
  }
  if (wanted('memory')) figures.memory = await benchMemory();
  if (wanted('placement')) {
    process.stderr.write('placement benchmark (advice and plain greedy baseline at 10k and 100k VMs)...\n');
    figures.placement = benchPlacement();
  }
  if (wanted('security-groups')) {
    process.stderr.write('security groups: the goal over 20 generated traces (seeds 101-120), the cost at 10k and 100k VMs against a run...\n');
    figures.security_groups = await benchSecurityGroups();
  }
  // Three minutes of replays: only when asked for by name.
  if (only.includes('quality')) {
    process.stderr.write('quality benchmark (15 hard traces, tuning and unseen seeds)...\n');
    figures.quality = await benchQuality('hard');
  }
  await mkdir('bench/results', { recursive: true });
  // A partial run (`npm run bench -- api`) updates its own sections and keeps the others' last figures.
  let previous: Record<string, unknown> = {};
  try {
    previous = JSON.parse(await readFile(RESULTS, 'utf8')) as Record<string, unknown>;
  } catch {
    // first run
  }
  for (const section of Object.keys(figures)) if (section !== 'started' && section !== 'machine') figures[`${section}_measured`] = started;
  const merged = { ...previous, ...figures };
  await writeFile(RESULTS, `${JSON.stringify(merged, null, 2)}\n`);
  const plot = typeof flags.plot === 'string' ? flags.plot : PLOT;
  await writePlot(benchChartSpec(merged), plot);
  // --json: stdout holds the figures' JSON document and nothing else.
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
  (flags.json ? process.stderr : process.stdout).write(`written to ${RESULTS} and ${plot}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
