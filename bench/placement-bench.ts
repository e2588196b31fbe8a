/**
 * npm run bench:placement [-- --vms 10000,100000] [--moves N] [--out FILE]: the placement advice's cost on
 * generated fleets (src/generator/placement-fleet.ts: applications placed by a traffic-blind scheduler),
 * each strategy and the 'best' the service runs, with the share of cross-host traffic each saves.
 * Figures go to bench/results/placement.json (merged with the crosscheck's).
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

async function main(): Promise<void> {
  const sizes = arg('--vms', '10000,100000').split(',').map(Number);
  const maxMoves = Number(arg('--moves', '50'));
  const out = arg('--out', RESULTS);
  const rows: Array<Record<string, number | string>> = [];
  for (const vms of sizes) {
    const fleet = generatePlacementFleet({ vms, seed: 1 });
    for (const strategy of ['best', 'single'] as Array<PlacementOptions['strategy']>) {
      // One warm-up, then the median of three: the first call pays for JIT compilation.
      planPlacement(fleet.input, { maxMoves, strategy });
      const times: number[] = [];
      let saved = 0;
      let before = 0;
      let chosen = '';
      for (let r = 0; r < 3; r++) {
        const t = performance.now();
        const p = planPlacement(fleet.input, { maxMoves, strategy });
        times.push(performance.now() - t);
        saved = p.before - p.after;
        before = p.before;
        chosen = p.plan.strategy;
      }
      times.sort((a, b) => a - b);
      const row = {
        vms,
        hosts: fleet.hosts,
        pairs: fleet.input.pairs.a.length,
        max_moves: maxMoves,
        strategy,
        chosen,
        ms: Math.round(times[1]! * 10) / 10,
        saved_share: Math.round((saved / before) * 1e5) / 1e5,
      };
      rows.push(row);
      process.stdout.write(`${JSON.stringify(row)}\n`);
    }
  }
  let doc: Record<string, unknown> = {};
  try {
    doc = JSON.parse(await readFile(out, 'utf8')) as Record<string, unknown>;
  } catch {
    // First run: a new file.
  }
  doc.bench = { node: process.version, date: new Date().toISOString(), rows };
  await writeFile(out, `${JSON.stringify(doc, null, 2)}\n`);
}

await main();
