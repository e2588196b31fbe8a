/**
 * npx tsx bench/placement-bench.ts [--vms 10000,100000] [--moves N] [--out FILE]: the placement advice's cost on
 * generated fleets (src/generator/placement-fleet.ts: applications placed by a traffic-blind scheduler),
 * the 'best' the service runs and the plain greedy baseline ('single'), with the share of cross-host traffic
 * each saves. Figures go to bench/results/placement.json (merged with the crosscheck's); `npm run bench --
 * placement` (bench/run.ts) puts the same figures in bench/results/latest.json.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { generatePlacementFleet } from '../src/generator/placement-fleet.ts';
import { planPlacement } from '../src/placement/advice.ts';
import type { PlacementOptions } from '../src/placement/types.ts';

const RESULTS = 'bench/results/placement.json';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

export interface PlacementBench {
  rows: Array<Record<string, number | string>>;
  /** Per fleet size: the advice's cost and what it saves over the plain greedy baseline. */
  summary: Array<{ vms: number; max_moves: number; ms: number; cpu_ms: number; baseline_ms: number; saved_share: number; ratio_to_baseline: number }>;
}

export function benchPlacement(sizes: readonly number[] = [10_000, 100_000], maxMoves = 50, log: (line: string) => void = () => {}): PlacementBench {
  const rows: Array<Record<string, number | string>> = [];
  for (const vms of sizes) {
    const fleet = generatePlacementFleet({ vms, seed: 1 });
    for (const strategy of ['best', 'single'] as Array<PlacementOptions['strategy']>) {
      // One warm-up, then the median of three: the first call pays for JIT compilation.
      planPlacement(fleet.input, { maxMoves, strategy });
      const times: number[] = [];
      // CPU time too: on the shared machine, wall time under load says more about the others than about us.
      const cpu: number[] = [];
      let saved = 0;
      let before = 0;
      let chosen = '';
      for (let r = 0; r < 3; r++) {
        const t = performance.now();
        const c = process.cpuUsage();
        const p = planPlacement(fleet.input, { maxMoves, strategy });
        times.push(performance.now() - t);
        cpu.push(process.cpuUsage(c).user / 1000);
        saved = p.before - p.after;
        before = p.before;
        chosen = p.plan.strategy;
      }
      times.sort((a, b) => a - b);
      cpu.sort((a, b) => a - b);
      const row = {
        vms,
        hosts: fleet.hosts,
        pairs: fleet.input.pairs.a.length,
        max_moves: maxMoves,
        strategy,
        chosen,
        ms: Math.round(times[1]! * 10) / 10,
        cpu_ms: Math.round(cpu[1]! * 10) / 10,
        saved: Math.round(saved),
        saved_share: Math.round((saved / before) * 1e5) / 1e5,
      };
      rows.push(row);
      log(`${JSON.stringify(row)}\n`);
    }
  }
  const summary = sizes.map((vms) => {
    const best = rows.find((r) => r.vms === vms && r.strategy === 'best')!;
    const single = rows.find((r) => r.vms === vms && r.strategy === 'single')!;
    return {
      vms,
      max_moves: maxMoves,
      ms: best.ms as number,
      cpu_ms: best.cpu_ms as number,
      baseline_ms: single.ms as number,
      saved_share: best.saved_share as number,
      ratio_to_baseline: Math.round(((best.saved as number) / Math.max(1e-9, single.saved as number)) * 1e4) / 1e4,
    };
  });
  return { rows, summary };
}

async function main(): Promise<void> {
  const sizes = arg('--vms', '10000,100000').split(',').map(Number);
  const maxMoves = Number(arg('--moves', '50'));
  const out = arg('--out', RESULTS);
  const { rows, summary } = benchPlacement(sizes, maxMoves, (line) => process.stdout.write(line));
  let doc: Record<string, unknown> = {};
  try {
    doc = JSON.parse(await readFile(out, 'utf8')) as Record<string, unknown>;
  } catch {
    // First run: a new file.
  }
  doc.bench = { node: process.version, date: new Date().toISOString(), summary, rows };
  await writeFile(out, `${JSON.stringify(doc, null, 2)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
