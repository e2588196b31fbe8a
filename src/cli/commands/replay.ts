/**
 * replay <trace.jsonl[.gz]> --out <result.json> [--rejects <rejects.jsonl>] [options]
 * Replays a recorded trace offline through the service's pipeline and writes the clustering as of its end.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { describeIssues, PipelineOptions, toPipelineConfig, toRunOptions } from '../../config/pipeline-options.ts';
import type { RejectedRecord } from '../../contract/rejections.ts';
import { type ReplayOutcome, replayTrace } from '../../replay/replay.ts';
import type { SideSummary } from '../../runs/result.ts';
import { parseFlags, unknownFlags } from '../args.ts';
import type { Command } from '../command.ts';
import { plotFormatOf, throughputSpec, writePlot } from '../plots.ts';
import { Progress, progressMode } from '../progress.ts';
import { projectRun } from '../projection.ts';
import { formatReplaySummary } from '../summary.ts';
import { ThroughputRecorder } from '../throughput.ts';
import { unwritable } from '../writable.ts';

const help = (prog: string): string => `Usage: ${prog} <trace.jsonl|trace.jsonl.gz> --out <result.json> [options]

Replays a trace (CONTRACT.md "Trace files") through the same pipeline as the service and writes the
clustering as of the end of the trace.

  --out FILE                 result JSON (vm_clusters, tenant_clusters, rejected, run, stats, vm_projection)
  --rejects FILE             rejected records as JSON Lines (reason, field, message, source, raw)
  --models-dir DIR           write each run's model there, as the service does (default: none)
  --json                     print the summary as one JSON document on stdout instead of tables
  --progress                 draw the progress bar even when stderr is not a terminal
  --no-progress              no progress output at all
  --plot FILE.svg|FILE.png   chart of records/s over the replay, clustering runs marked
  --window-minutes N         sliding window length (default 15)
  --bucket-seconds N         window granularity (default 60)
  --lateness-seconds N       allowed lateness behind the watermark (default 300)
  --max-future-skew-seconds N   how far a record may lead the time most sources agree on; further: future_ts (default 300)
  --future-quorum N          distinct recent sources (exporting hosts) that must agree before time leaps (default 3)
  --recluster-minutes N      event time between periodic runs; 0 = only the final run (default 5)
  --algorithm kmeans|dbscan  VM clustering algorithm (default kmeans)
  --k N | --k-min N --k-max N          VM clusters: fixed, or automatic within bounds (2..24)
  --tenant-algorithm, --tenant-k, --tenant-k-min, --tenant-k-max   the same for tenants (2..12)
  --restarts N               seeded k-means++ restarts per k (default 5)
  --seed N                   random seed (default 1)
  --pca true|false           project on principal components before clustering (default false)
  --dbscan-eps X, --dbscan-min-points N   DBSCAN parameters (eps automatic when absent)
  --flows-topic, --vm-attributes-topic, --tenant-attributes-topic   topic names in the trace
  --flow-format alcor|goflow2|pmacct   the JSON of the flows topic's values: ours, or a flow collector's (default alcor)
  --host-attributes-topic NAME   topic of host capacities in the trace (default host-attributes)
  --placement-max-moves N    migrations the placement advice may suggest (default 20)
  --placement-default-vcpus N, --placement-default-memory-mb N   capacity of hosts without host attributes
  --placement-rack-label K, --placement-zone-label K   host labels of the placement tiers (rack, zone)
  --placement-tier-distances R,Z,X   costs same rack, same zone, across zones (1,2,3)
                             (both or neither; default: the largest load seen on any host)
  --placement-rack-label K, --placement-zone-label K   host labels of the placement tiers (default rack, zone)
  --placement-tier-distances R,Z,X   costs same rack, same zone, across zones (default 1,2,3)
  --max-vms N                VMs tracked at once; records of new VMs beyond it are rejected as vm_cap (250000)
  --max-peers-per-vm N       exact distinct peers and ports per VM before a sketch counts them (4096)
  --max-vm-pairs N           VM pairs kept for the affinity graph (2000000)
  --max-security-group-connections N   connections kept for the security groups (1000000)
  --idle-minutes N           a VM silent this long (event time) is forgotten (default twice the window)
  --deleted-retention-hours N   tombstones of deleted VMs are kept this long (24)
  --max-message-bytes N      longer lines are rejected as too_large (4194304)
  --max-batch-records N      larger arrays of records are rejected as batch_too_large (100000)
  --max-tenants N            tenants held at once; attributes of new ones beyond it are rejected as tenant_cap (100000)
  --max-tenant-labels N      labels kept over all tenants; a message beyond it is kept without its labels (200000)
  --max-deleted-vms N        tombstones of deleted VMs kept; the oldest is forgotten early beyond it (250000)
  --max-address-claims N     address claims kept to attribute address-only flows to VMs (400000)
  --max-held-flows N         address-only flows held for late VM attributes; 0 holds none (100000)
  --max-held-flow-bytes N    estimated bytes of the held flows (67108864)

Exits 1 when no line of the file is a trace record (a truth file, say): every line would be rejected.
`;

/** What `--json` prints: the stats flat (as before), then the run's clusters in brief. */
function jsonSummary(trace: string, out: string | null, o: ReplayOutcome): Record<string, unknown> {
  const side = (s: SideSummary) => ({
    algorithm: s.algorithm,
    k: s.quality.k,
    silhouette: s.quality.silhouette,
    noise: s.quality.noise,
    clusters: s.clusters.map((c) => ({ cluster_id: c.cluster_id, size: c.size, ...(c.name === undefined ? {} : { name: c.name }) })),
  });
  const run = o.result.run;
  return {
    trace,
    out,
    ...o.result.stats,
    rejected: o.result.rejected,
    timings: o.timings,
    run: run === null ? null : { run_id: run.run_id, computed_at: run.computed_at, window_minutes: run.window_minutes, vms: side(run.vms), tenants: side(run.tenants) },
    security_groups: o.result.security_groups?.summary ?? null,
  };
}

async function run(argv: readonly string[], prog: string): Promise<number> {
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(argv, ['json', 'help', 'progress', 'no-progress']);
  } catch (err) {
    process.stderr.write(`replay: ${(err as Error).message}\n\n${help(prog)}`);
    return 2;
  }
  const { positionals, values } = parsed;
  if (values.help || positionals.length !== 1) {
    (values.help ? process.stdout : process.stderr).write(help(prog));
    return values.help ? 0 : 2;
  }
  const { out, rejects, json, modelsDir, plot, progress: forceProgress, noProgress, help: _help, ...rest } = values;
  const unknown = unknownFlags(Object.keys(rest), Object.keys(PipelineOptions.shape));
  if (unknown !== null) {
    process.stderr.write(`replay: ${unknown}\n`);
    return 2;
  }
  const options = PipelineOptions.safeParse(rest);
  if (!options.success) {
    process.stderr.write(`replay: invalid options\n${describeIssues(options.error)}\n`);
    return 2;
  }
  // Before the replay, not after it: a long replay must not end on a file it cannot write.
  if (typeof plot === 'string' && plotFormatOf(plot) === null) {
    process.stderr.write(`replay: --plot ${plot}: name the file .svg or .png\n`);
    return 2;
  }
  for (const [flag, path] of [['--out', out], ['--rejects', rejects], ['--plot', plot]] as const) {
    const problem = typeof path === 'string' ? unwritable(path) : null;
    if (problem !== null) {
      process.stderr.write(`replay: ${flag} ${path}: ${problem}\n`);
      return 2;
    }
  }
  const trace = positionals[0]!;

  let rejectsStream: WriteStream | null = null;
  if (typeof rejects === 'string') rejectsStream = createWriteStream(rejects);
  const onReject = rejectsStream
    ? (r: RejectedRecord) => {
        rejectsStream.write(`${JSON.stringify(r)}\n`);
      }
    : undefined;

  const mode = progressMode({ force: forceProgress === true, off: noProgress === true }, process.stderr);
  // Made at the first block read, when the file's size is known.
  const bar: { progress: Progress | null } = { progress: null };
  const recorder = typeof plot === 'string' ? new ThroughputRecorder() : null;
  let outcome: ReplayOutcome;
  try {
    outcome = await replayTrace(trace, {
      pipeline: toPipelineConfig(options.data),
      run: toRunOptions(options.data),
      ...(onReject ? { onReject } : {}),
      ...(typeof modelsDir === 'string' ? { modelsDir } : {}),
      onProgress: (p) => {
        bar.progress ??= new Progress({ label: 'replay', unit: 'bytes', total: p.fileBytes, mode, stream: process.stderr });
        bar.progress.update(p.bytesRead, p.records);
        recorder?.sample(p.records);
      },
      ...(recorder ? { onRun: () => recorder.markRun() } : {}),
    });
  } finally {
    // The bar's redraw timer would keep the process alive after an error.
    bar.progress?.stop();
  }
  if (rejectsStream) await new Promise<void>((resolve, reject) => rejectsStream.end((err?: Error | null) => (err ? reject(err) : resolve())));
  if (typeof out === 'string') {
    const lastRun = outcome.lastRun;
    // The VMs' coordinates on two principal components, for `evaluate --plot`: the result has no features.
    const document = lastRun === null ? outcome.result : { ...outcome.result, vm_projection: projectRun(lastRun) };
    await writeFile(out, `${JSON.stringify(document, null, 2)}\n`);
  }
  if (recorder && typeof plot === 'string') {
    const s = outcome.result.stats;
    const records = (s.flow_records ?? 0) + (s.vm_attribute_records ?? 0) + (s.tenant_attribute_records ?? 0);
    recorder.sample(records);
    await writePlot(throughputSpec(recorder.samples(), recorder.runsAt(), `replay of ${trace}: records/s`), plot);
  }
  process.stdout.write(json ? `${JSON.stringify(jsonSummary(trace, typeof out === 'string' ? out : null, outcome))}\n` : formatReplaySummary(outcome));
  const s = outcome.result.stats;
  if ((s.lines ?? 0) > 0 && (s.flow_records ?? 0) + (s.vm_attribute_records ?? 0) + (s.tenant_attribute_records ?? 0) === 0) {
    process.stderr.write(`replay: no line of ${trace} holds a record: all ${s.lines} were rejected; a trace has one {"topic", "value"} object per line (CONTRACT.md "Trace files")\n`);
    return 1;
  }
  return 0;
}

export const replayCommand: Command = {
  help,
  run,
};
