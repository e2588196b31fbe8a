/**
 * What is kept from run to run (the learner's entries, the check's verdicts, the split, the turned rows'
 * copies) against computations from scratch, run after run on a generated trace (fixed seed): the same
 * document and connections with their verdicts, while VMs are deleted, migrate to another cluster, boot
 * between runs and the watermark moves by epochs and past a purge.
 */
import { describe, expect, it } from 'vitest';
import type { FlowRecord } from '../../src/contract/records.ts';
import { TraceGenerator } from '../../src/generator/index.ts';
import { ConnectionLog } from '../../src/security-groups/connection-log.ts';
import { KeptVerdicts } from '../../src/security-groups/kept-verdicts.ts';
import { LearnedEntries } from '../../src/security-groups/learned-entries.ts';
import { type Membership, recommendSecurityGroups } from '../../src/security-groups/recommend.ts';
import { decodedFlowsOf } from '../helpers/records.ts';

const MIN = 60_000;
/** Rows the log had forgotten by each run (compactions between runs 3 and 5). */
const KEPT_FORGOTTEN = [0, 0, 0, 0, 332, 1522, 1522, 1522];

/** The trace's decoded flow records in time order, and its truth. */
function trace(): { flows: FlowRecord[]; truth: ReturnType<TraceGenerator['truth']> } {
  const gen = new TraceGenerator({ name: 'kept', seed: 1_206, vms: 144, tenants: 12, minutes: 45, ports: 'spread' });
  const flows = decodedFlowsOf(gen.lines());
  return { flows, truth: gen.truth() };
}

describe('kept from run to run on a generated trace', () => {
  it('gives every run the document and verdicts of a computation from scratch as VMs are deleted, migrate and boot', () => {
    const { flows, truth } = trace();
    const start = flows[0]!.ts;
    const vmIds = Object.keys(truth.vms).sort();
    // Every seventh VM is deleted from run 3 on, every fifth (not deleted) migrates to a cluster of its own
    // at run 2 and another at run 5, every eleventh boots at run 4: its records held back until then.
    const deleted = new Set(vmIds.filter((_, k) => k % 7 === 3));
    const migrating = vmIds.filter((id, k) => k % 5 === 1 && !deleted.has(id));
    const late = new Set(vmIds.filter((id, k) => k % 11 === 2 && !deleted.has(id)));
    // Watermarks (minutes after the first record): an epoch on, the same, two epochs, past a window, back a
    // little, on. The log keeps two windows: from minute 30 it forgets rows and compacts (nothing kept).
    const minutes = [20, 24, 24, 31, 33, 45, 44, 49];
    const membership = (run: number, at: number, seen: ReadonlySet<string>): Membership => {
      const ids = vmIds.filter((id) => seen.has(id) && !(run >= 3 && deleted.has(id)));
      return {
        runId: `run-${run}`,
        computedAt: at,
        vmIds: ids,
        clusterIds: ids.map((id) => {
          const vm = truth.vms[id]!;
          if (migrating.includes(id) && run >= 2) return `moved-${run >= 5 ? 'b' : 'a'}-${migrating.indexOf(id) % 3}`;
          return `${vm.app}-${vm.role}`;
        }),
        vmTenants: ids.map((id) => truth.vms[id]!.tenant_id),
        anomalyScores: Float64Array.from(ids, (id) => (truth.vms[id]!.role === 'scanner' ? 6 : 1)),
        clusterNames: new Map(),
      };
    };
    const runAll = (fromScratch: boolean) => {
      LearnedEntries.forget();
      KeptVerdicts.forget();
      const log = new ConnectionLog(15 * MIN, 1_000_000, 2);
      const seen = new Set<string>();
      let next = 0;
      return minutes.map((m, run) => {
        const at = start + m * MIN;
        for (; next < flows.length && flows[next]!.ts <= at; next++) {
          const f = flows[next]!;
          if (run < 4 && ((f.srcVm !== null && late.has(f.srcVm)) || (f.dstVm !== null && late.has(f.dstVm)))) continue;
          log.add(f);
          if (f.srcVm !== null) seen.add(f.srcVm);
          if (f.dstVm !== null) seen.add(f.dstVm);
        }
        if (fromScratch) {
          LearnedEntries.forget();
          KeptVerdicts.forget();
        }
        const outcome = recommendSecurityGroups(membership(run, at, seen), log);
        const result = { document: outcome.document, connections: outcome.connections };
        outcome.release();
        return { result, scan: LearnedEntries.lastScan!, check: KeptVerdicts.lastCheck!, forgotten: log.counters.forgotten };
      });
    };
    const kept = runAll(false);
    const scratch = runAll(true);
    for (let run = 0; run < minutes.length; run++) {
      expect(scratch[run]!.check.fromScratch).toBe(true);
      expect(scratch[run]!.scan.fromScratch).toBe(true);
      expect(kept[run]!.result).toEqual(scratch[run]!.result);
    }
    // It must reach what it claims: runs that kept verdicts and entries, VMs deleted, moved and booted, rows forgotten.
    const judgedShare = kept.map((r) => (r.check.rows === 0 ? 1 : r.check.judged / r.check.rows));
    // Run 4 follows a compaction: most verdicts kept all the same.
    expect(judgedShare[4]).toBeLessThan(0.75);
    expect(kept.filter((r) => !r.check.fromScratch).length).toBeGreaterThanOrEqual(4);
    expect(judgedShare.filter((s, run) => !kept[run]!.check.fromScratch && s < 0.75).length).toBeGreaterThanOrEqual(4);
    // The same watermark again (run 6 after run 5's back step): the rules unchanged, no verdict judged anew.
    expect(kept[6]!.check.judged).toBe(0);
    expect(kept[6]!.check.rows).toBeGreaterThan(1000);
    // A compaction of the log renumbers rows, ends and addresses: the verdicts follow it (only the first run
    // judges from scratch), and compactions fall between runs 3 and 5.
    expect(kept.map((r) => r.check.fromScratch)).toEqual([true, false, false, false, false, false, false, false]);
    expect(kept.map((r) => r.forgotten)).toEqual(KEPT_FORGOTTEN);
    // The entries follow it too: from scratch only at the first run and at run 5, whose clusters are renamed
    // (more than a quarter of the groups gone); run 4 files again 749 of 3,966 rows, not all.
    expect(kept.map((r) => r.scan.fromScratch)).toEqual([true, false, false, false, false, true, false, false]);
    expect(kept[4]!.scan.rowsFiledAgain / kept[4]!.scan.rows).toBeLessThan(0.25);
    expect(kept.filter((r) => !r.scan.fromScratch).length).toBeGreaterThanOrEqual(4);
    expect(kept[kept.length - 1]!.forgotten).toBeGreaterThan(0);
    const docs = kept.map((r) => r.result.document);
    const groupVms = (run: number): string[] => docs[run]!.tenants.flatMap((t) => t.security_groups.flatMap((g) => g.vm_ids));
    expect(groupVms(2).filter((id) => deleted.has(id)).length).toBeGreaterThan(5);
    expect(groupVms(3).filter((id) => deleted.has(id))).toEqual([]);
    expect(groupVms(3).filter((id) => late.has(id))).toEqual([]);
    expect(groupVms(4).filter((id) => late.has(id)).length).toBeGreaterThan(5);
    const movedGroups = (run: number): number => docs[run]!.tenants.flatMap((t) => t.security_groups).filter((g) => g.id.includes(':moved-')).length;
    expect(movedGroups(1)).toBe(0);
    expect(movedGroups(2)).toBeGreaterThan(5);
    expect(Math.min(...docs.map((d) => d.summary.rules))).toBeGreaterThan(100);
    expect(Math.max(...docs.map((d) => d.summary.check.flows_denied))).toBeGreaterThan(0);
  });
});
