/**
 * The security groups computed the way a live service computes them, with the connection log forgetting
 * rows (compacting) between runs: the default log (15-minute windows, rows forgotten after four silent
 * windows) fed a generated trace in time order, a computation every `--every` minutes (the service's
 * default `reclusterMinutes`, 5). security-groups-bench.ts never meets a compaction (its log never forgets
 * rows); this one measures what it costs. Three passes over the same records in one process:
 *
 * - kept: what is kept from run to run follows the compactions (learned-entries.ts, kept-verdicts.ts);
 * - dropped at compactions: the kept entries and verdicts forgotten before a run whenever the log compacted
 *   since the last run (what a compaction did to them before they followed it);
 * - cold: forgotten before every run (a first computation every run).
 *
 * An untimed pass first, so that no pass pays for compiling the code. Per pass, CPU (process.cpuUsage) of each computation, not of building the document; the documents of the
 * three passes must be equal at every run (the script fails if not).
 *
 *   node --expose-gc --import tsx bench/security-groups-compaction.ts [--vms 1000] [--minutes 100] [--every 5] [--seed 1206]
 */
import { loadavg } from 'node:os';
import { TraceGenerator } from '../src/generator/index.ts';
import { ConnectionLog } from '../src/security-groups/connection-log.ts';
import { KeptVerdicts } from '../src/security-groups/kept-verdicts.ts';
import { LearnedEntries } from '../src/security-groups/learned-entries.ts';
import { type Membership, recommendSecurityGroups } from '../src/security-groups/recommend.ts';
import { decodedFlowsOf } from '../test/helpers/records.ts';

const MIN = 60_000;
const collect = (globalThis as { gc?: () => void }).gc;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`--${name} must be a positive number`);
  return v;
}

const vms = arg('vms', 1000);
const minutes = arg('minutes', 100);
const every = arg('every', 5);
const seed = arg('seed', 1206);

const gen = new TraceGenerator({ name: 'compaction', seed, vms, tenants: Math.max(1, Math.round(vms / 12)), minutes, ports: 'spread' });
const flows = decodedFlowsOf(gen.lines());
const truth = gen.truth();
const start = flows[0]!.ts;

function membership(run: number, at: number, seen: ReadonlySet<string>): Membership {
  const ids = Object.keys(truth.vms)
    .filter((id) => seen.has(id))
    .sort();
  return {
    runId: `run-${run}`,
    computedAt: at,
    vmIds: ids,
    clusterIds: ids.map((id) => `${truth.vms[id]!.app}-${truth.vms[id]!.role}`),
    vmTenants: ids.map((id) => truth.vms[id]!.tenant_id),
    anomalyScores: Float64Array.from(ids, (id) => (truth.vms[id]!.role === 'scanner' ? 6 : 1)),
    clusterNames: new Map(),
  };
}

type Mode = 'kept' | 'dropped at compactions' | 'cold';
interface Run {
  minute: number;
  rows: number;
  compacted: boolean;
  cpuMs: number;
  entriesFromScratch: boolean;
  rowsFiledAgain: number;
  verdictsFromScratch: boolean;
  judged: number;
  withTraffic: number;
  document: string;
}

function pass(mode: Mode): Run[] {
  LearnedEntries.forget();
  KeptVerdicts.forget();
  const log = new ConnectionLog(15 * MIN);
  const seen = new Set<string>();
  const runs: Run[] = [];
  let next = 0;
  let forgotten = 0;
  // The first run once the log holds a window, then every `every` minutes.
  for (let m = 15, run = 0; m <= minutes; m += every, run++) {
    const at = start + m * MIN;
    for (; next < flows.length && flows[next]!.ts <= at; next++) {
      const f = flows[next]!;
      log.add(f);
      if (f.srcVm !== null) seen.add(f.srcVm);
      if (f.dstVm !== null) seen.add(f.dstVm);
    }
    const compacted = log.counters.forgotten !== forgotten;
    forgotten = log.counters.forgotten;
    if (mode === 'cold' || (mode === 'dropped at compactions' && compacted)) {
      LearnedEntries.forget();
      KeptVerdicts.forget();
    }
    const member = membership(run, at, seen);
    // The garbage of earlier runs and passes collected outside the timing (with --expose-gc): at this size
    // a major collection is as large as a computation, and lands in whichever run it likes.
    collect?.();
    const cpu = process.cpuUsage();
    const outcome = recommendSecurityGroups(member, log);
    const used = process.cpuUsage(cpu);
    const document = JSON.stringify(outcome.document);
    outcome.release();
    const scan = LearnedEntries.lastScan!;
    const check = KeptVerdicts.lastCheck!;
    runs.push({
      minute: m,
      rows: log.size,
      compacted,
      cpuMs: (used.user + used.system) / 1000,
      entriesFromScratch: scan.fromScratch,
      rowsFiledAgain: scan.rowsFiledAgain,
      verdictsFromScratch: check.fromScratch,
      judged: check.judged,
      withTraffic: check.rows,
      document,
    });
  }
  return runs;
}

// A pass first whose figures are dropped: the code compiled before any pass is timed (the first pass paid
// for it otherwise).
pass('kept');
const load = [loadavg()[0]!];
const modes: Mode[] = ['cold', 'dropped at compactions', 'kept'];
const results = new Map<Mode, Run[]>();
for (const mode of modes) {
  results.set(mode, pass(mode));
  load.push(loadavg()[0]!);
}
const kept = results.get('kept')!;
for (const mode of modes)
  results.get(mode)!.forEach((r, k) => {
    if (r.document !== kept[k]!.document) throw new Error(`run at minute ${r.minute}: the ${mode} document differs from the kept one`);
  });
// The first run is a first computation in every pass; the rest are what a service pays run after run.
const later = (rs: readonly Run[]): Run[] => rs.slice(1);
const sum = (rs: readonly Run[]): number => rs.reduce((s, r) => s + r.cpuMs, 0);
const out = {
  command: `node --expose-gc --import tsx bench/security-groups-compaction.ts --vms ${vms} --minutes ${minutes} --every ${every} --seed ${seed}`,
  records: flows.length,
  runs: kept.length,
  collected_between_runs: collect !== undefined,
  runs_after_a_compaction: kept.filter((r) => r.compacted).length,
  rows_at_the_end: kept[kept.length - 1]!.rows,
  load_average_1m: load.map((l) => Math.round(l * 10) / 10),
  cpu_ms_per_later_run: Object.fromEntries(modes.map((mode) => [mode, Math.round(sum(later(results.get(mode)!)) / (kept.length - 1))])),
  cpu_ms_per_later_run_after_a_compaction: Object.fromEntries(
    modes.map((mode) => {
      const rs = later(results.get(mode)!).filter((r) => r.compacted);
      return [mode, rs.length === 0 ? null : Math.round(sum(rs) / rs.length)];
    }),
  ),
  per_run: kept.map((r, k) => ({
    minute: r.minute,
    rows: r.rows,
    compacted: r.compacted,
    cpu_ms: Object.fromEntries(modes.map((mode) => [mode, Math.round(results.get(mode)![k]!.cpuMs)])),
    kept: { entries_from_scratch: r.entriesFromScratch, rows_filed_again: r.rowsFiledAgain, verdicts_from_scratch: r.verdictsFromScratch, judged: r.judged, with_traffic: r.withTraffic },
    dropped_at_compactions: { entries_from_scratch: results.get('dropped at compactions')![k]!.entriesFromScratch },
  })),
};
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
