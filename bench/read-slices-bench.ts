/**
 * `npm run bench -- read-slices`: the synchronous slices a scale-out member runs on its event loop while a
 * run is computed and published (docs/scale-out.md, "Reads during a run"), measured in one process on a
 * generated trace: each partition's features at a tick, their encoding for the features topic, the leader's
 * gather, the run record's encoding and, on every member, its decode and adoption. Each figure is the
 * longest time the loop was held at once by that step (the step as a member runs it), with the VMs it covers.
 * The reads' own latency, measured against real member processes, is scale-out-members-bench.ts's.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../src/config/pipeline-options.ts';
import { Pipeline } from '../src/pipeline/pipeline.ts';
import { ClusterService } from '../src/service/cluster-service.ts';
import { InlineClusterer } from '../src/service/clusterer.ts';
import { decodeSnapshotFile, encodeSnapshotFile } from '../src/snapshots/snapshot-file.ts';
import { vmKey } from '../src/topology/by-vm.ts';
import { gatherAttributes, gatherSnapshot } from '../src/topology/gather.ts';
import { LocalTopology, tenantInfos } from '../src/topology/local-topology.ts';
import type { PartitionFeatures } from '../src/topology/partition-state.ts';
import { decodeDocumentInSlices, encodeDocumentInSlices } from '../src/snapshots/sliced-document.ts';
import type { PublishedRun } from '../src/topology/member.ts';
import { hostCapacityFacts } from '../src/runs/run-input.ts';
import { traceMessages } from '../src/trace/trace-messages.ts';

const PARTITIONS = 6;

/** The small fixture (the scale-out bench's), the API bench's fleet size (11,642 VMs) and about 2.5 times it. */
export const READ_SLICES_TRACES: ReadonlyArray<{ name: string; path: string; args: string[] | null }> = [
  { name: 'vms_485', path: 'fixtures/small.jsonl.gz', args: null },
  {
    name: 'vms_11642',
    path: 'fixtures/generated/readp99-12k.jsonl.gz',
    args: ['--name', 'readp99-12k', '--seed', '12', '--vms', '12000', '--tenants', '700', '--minutes', '12', '--records', '300000', '--out-dir', 'fixtures/generated', '--gzip-level', '1'],
  },
  {
    name: 'vms_29104',
    path: 'fixtures/generated/readp99-30k.jsonl.gz',
    args: ['--name', 'readp99-30k', '--seed', '30', '--vms', '30000', '--tenants', '1500', '--minutes', '8', '--records', '800000', '--out-dir', 'fixtures/generated', '--gzip-level', '1'],
  },
];

const round = (x: number, digits = 1): number => Number(x.toFixed(digits));

/**
 * The longest stretch the loop is held by `work` (sync or sliced with setImmediate), and its wall time: the
 * least of REPEATS tries, since on a loaded machine a try also counts the time the process had no core.
 */
async function held(work: () => unknown): Promise<{ longest_ms: number; wall_ms: number }> {
  let best = { longest_ms: Number.POSITIVE_INFINITY, wall_ms: Number.POSITIVE_INFINITY };
  for (let i = 0; i < REPEATS; i++) {
    const t = await heldOnce(work);
    best = { longest_ms: Math.min(best.longest_ms, t.longest_ms), wall_ms: Math.min(best.wall_ms, t.wall_ms) };
  }
  return best;
}

const REPEATS = 3;

async function heldOnce(work: () => unknown): Promise<{ longest_ms: number; wall_ms: number }> {
  // A timer of 1 ms beside the work: the largest gap between two of its ticks is the longest slice.
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 1);
  await new Promise((r) => setTimeout(r, 5));
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const t0 = performance.now();
  last = t0;
  await work();
  const wall = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 5));
  h.disable();
  clearInterval(timer);
  return { longest_ms: round(Math.max(longest, h.max / 1e6), 2), wall_ms: round(wall, 2) };
}

export async function benchReadSlices(trace: string): Promise<Record<string, unknown>> {
  const config = toPipelineConfig(PipelineOptions.parse({}));
  const topology = new LocalTopology(config, PARTITIONS, () => {}, (key) => vmKey(key));
  (await traceMessages(trace)).forEach(([topic, text], i) => {
    topology.ingest(topic, text, `m${i}`);
    if (i % 50 === 49) topology.endOfBatch();
  });
  topology.endOfBatch();

  // Each partition's features at a requested run, as a member computes and publishes them.
  const features: PartitionFeatures[] = [];
  const featureSlices = [];
  for (const p of topology.partitions) {
    let f: PartitionFeatures | null = null;
    const compute = await held(async () => {
      f = await p.featuresInSlices(null, 'bench');
    });
    let bytes = 0;
    const encode = await held(() => {
      bytes = encodeSnapshotFile(f).byteLength;
    });
    const encodeSliced = await held(() => encodeDocumentInSlices(f));
    features.push(f!);
    featureSlices.push({ vms: f!.vmIds.length, compute_in_slices: compute, encode_one_block: encode, encode_in_slices: encodeSliced, bytes });
  }
  let input = null as ReturnType<typeof gatherSnapshot> | null;
  const gather = await held(() => {
    input = gatherSnapshot(features, tenantInfos(topology.tenants), hostCapacityFacts(topology.tenants));
  });
  const leader = new ClusterService(new Pipeline(config), new InlineClusterer(), toRunOptions(PipelineOptions.parse({})), Date.now, {});
  leader.startRun('request', {}, input!);
  await leader.whenIdle();
  const record: PublishedRun = { member: 'bench', state: leader.exportState(), tick: null, request: 'bench', attributes: gatherAttributes(features), securityGroups: null };
  const vms = record.state.latest?.vms.ids.length ?? 0;

  let whole: Buffer = Buffer.alloc(0);
  const encodeWhole = await held(() => {
    whole = encodeSnapshotFile(record);
  });
  const decodeWhole = await held(() => decodeSnapshotFile(whole));
  let sliced: Buffer = Buffer.alloc(0);
  const encodeSliced = await held(async () => {
    sliced = await encodeDocumentInSlices(record);
  });
  const reader = new ClusterService(new Pipeline(config), new InlineClusterer(), toRunOptions(PipelineOptions.parse({})), Date.now, {});
  const decodeSliced = await held(async () => {
    const run = (await decodeDocumentInSlices(sliced)) as PublishedRun;
    reader.restoreState(run.state);
  });
  await leader.close();
  await reader.close();
  return {
    trace,
    vms,
    partitions: PARTITIONS,
    features_per_partition: featureSlices,
    gather_on_leader: gather,
    run_record: {
      bytes: whole.byteLength,
      one_block: { encode: encodeWhole, decode: decodeWhole },
      sliced: { bytes: sliced.byteLength, encode: encodeSliced, decode_and_adopt: decodeSliced },
    },
    load_average_1min: Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]),
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const figures = await benchReadSlices(process.argv[2] ?? 'fixtures/small.jsonl.gz');
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
}
