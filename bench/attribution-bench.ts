/**
 * Attribution of addresses to VMs (issue 14, docs/exporters.md): the cost of attribution against ingest
 * throughput, and the agreement of the VM partition of address-only traffic with that of the same traffic
 * naming its VMs, on an hour of 60 tenants whose VPCs all reuse the same private addresses.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { AddressMap } from '../src/attribution/address-map.ts';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../src/config/pipeline-options.ts';
import type { FlowRecord, VmAttributes } from '../src/contract/records.ts';
import { adjustedRandIndex } from '../src/evaluation/metrics.ts';
import { Pipeline } from '../src/pipeline/pipeline.ts';
import { replayTrace } from '../src/replay/replay.ts';
import { readTraceChunks } from '../src/trace/trace-reader.ts';
import { median, timeIngest } from './replay-bench.ts';

const DIR = 'fixtures/generated';
const ARGS = ['--seed', '60', '--vms', '1200', '--tenants', '60', '--minutes', '60', '--addresses', 'shared', '--out-dir', DIR, '--gzip-level', '1'];
const NAMED = `${DIR}/attr-shared-named.jsonl.gz`;
const ADDRESSED = `${DIR}/attr-shared-addresses.jsonl.gz`;

export interface AttributionBenchResult {
  trace: string;
  records: number;
  ingest_named_records_per_s: number;
  ingest_address_only_records_per_s: number;
  /** The same with MAX_HELD_FLOWS=0: what holding flows for late attributes costs on top of the look-ups. */
  ingest_address_only_no_hold_records_per_s: number;
  flows_held: number;
  /** Time in the address map (every attributes message observed, every flow attributed) over the address-only ingest time. */
  attribution_share_of_ingest: number;
  attribution_ns_per_flow: number;
  vms: number;
  ari_vs_named: number;
  flow_ends_by_address: number;
  flow_ends_unattributed: Record<string, number>;
  missing_vm_rejects: number;
}

function generate(path: string, name: string, extra: string[]): void {
  if (existsSync(path)) return;
  execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/fixtures.ts', '--name', name, ...ARGS, ...extra], { stdio: 'inherit' });
}

type MapEvent = { vm: VmAttributes; flow: null } | { vm: null; flow: FlowRecord };

/** The address-only trace's attributes and decoded flows in ingest order, as the pipeline hands them to the map. */
async function mapEvents(path: string): Promise<MapEvent[]> {
  const pipeline = new Pipeline(toPipelineConfig(PipelineOptions.parse({ reclusterMinutes: 0 })));
  const events: MapEvent[] = [];
  const map = pipeline.addresses;
  const observe = map.observe.bind(map);
  const resolve = map.resolve.bind(map);
  map.observe = (a) => {
    events.push({ vm: a, flow: null });
    return observe(a);
  };
  // Every look-up, a held flow's again when it is released included.
  map.resolve = (f) => {
    events.push({ vm: null, flow: { ...f } });
    resolve(f);
  };
  for await (const c of readTraceChunks(path)) for (const line of c.lines) if (line) pipeline.ingestTraceLine(line, 'bench');
  pipeline.releaseHeld();
  return events;
}

/** Seconds the address map takes over the events, median of `passes` fresh maps. */
function timeMap(events: MapEvent[], config: Pipeline['config'], passes: number): number {
  const times: number[] = [];
  const horizonMs = config.window.windowMs + config.window.allowedLatenessMs;
  for (let p = 0; p < passes; p++) {
    const map = new AddressMap({ horizonMs, maxClaims: config.maxAddressClaims ?? 400_000 });
    const t = performance.now();
    for (const e of events) {
      if (e.vm !== null) map.observe(e.vm);
      else {
        e.flow.srcVm = null;
        e.flow.dstVm = null;
        map.resolve(e.flow);
        map.mayBeClaimedLater(e.flow);
        map.countResolved();
      }
    }
    times.push((performance.now() - t) / 1000);
  }
  return median(times);
}

export async function benchAttribution(passes = 3): Promise<AttributionBenchResult> {
  generate(NAMED, 'attr-shared-named', []);
  generate(ADDRESSED, 'attr-shared-addresses', ['--address-only']);
  const named: number[] = [];
  const addressed: number[] = [];
  const noHold: number[] = [];
  let records = 0;
  let flowsHeld = 0;
  for (let p = 0; p < passes; p++) {
    // Interleaved, so that the machine's load weighs on both alike.
    named.push((await timeIngest(NAMED)).seconds);
    const a = await timeIngest(ADDRESSED);
    addressed.push(a.seconds);
    noHold.push((await timeIngest(ADDRESSED, { maxHeldFlows: 0 })).seconds);
    records = a.pipeline.recordsIn.flows + a.pipeline.recordsIn.vmAttributes + a.pipeline.recordsIn.tenantAttributes;
    flowsHeld = a.pipeline.held.counters.held;
  }
  const events = await mapEvents(ADDRESSED);
  const flows = events.filter((e) => e.flow !== null).length;
  const config = toPipelineConfig(PipelineOptions.parse({ reclusterMinutes: 0 }));
  const mapSeconds = timeMap(events, config, passes);

  const options = PipelineOptions.parse({});
  const byName = await replayTrace(NAMED, { pipeline: toPipelineConfig(options), run: toRunOptions(options) });
  const byAddress = await replayTrace(ADDRESSED, { pipeline: toPipelineConfig(options), run: toRunOptions(options) });
  const a = byName.result.vm_clusters;
  const b = byAddress.result.vm_clusters;
  const ids = Object.keys(a).filter((id) => id in b);
  const s = byAddress.result.stats;
  return {
    trace: ADDRESSED,
    records,
    ingest_named_records_per_s: Math.round(records / median(named)),
    ingest_address_only_records_per_s: Math.round(records / median(addressed)),
    ingest_address_only_no_hold_records_per_s: Math.round(records / median(noHold)),
    flows_held: flowsHeld,
    attribution_share_of_ingest: Number((mapSeconds / median(addressed)).toFixed(4)),
    attribution_ns_per_flow: Math.round((mapSeconds * 1e9) / Math.max(1, flows)),
    vms: ids.length,
    ari_vs_named: Number(
      adjustedRandIndex(
        ids.map((id) => a[id] as string),
        ids.map((id) => b[id] as string),
      ).toFixed(4),
    ),
    flow_ends_by_address: s.flow_ends_by_address ?? 0,
    flow_ends_unattributed: {
      unknown_address: s.flow_ends_unknown_address ?? 0,
      ambiguous_no_vni: s.flow_ends_ambiguous_no_vni ?? 0,
      conflicting_claims: s.flow_ends_conflicting_claims ?? 0,
    },
    missing_vm_rejects: byAddress.result.rejected.by_reason.missing_vm ?? 0,
  };
}
