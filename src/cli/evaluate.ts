/**
 * npm run evaluate -- <result.json> <truth.json> [--json] [--confusion]
 * Scores a replay result against ground truth (ARI and NMI for VMs and tenants).
 */
import { readFile } from 'node:fs/promises';
import { confusion, ResultAssignments, type SideScore, score, Truth } from '../evaluation/score.ts';
import { parseFlags, runCli } from './args.ts';

const HELP = `Usage: npm run evaluate -- <result.json> <truth.json> [--json] [--confusion]

Scores a replay result against a fixture's ground truth: adjusted Rand index (ARI) and normalised mutual
information (NMI) for VMs (truth: role) and tenants (truth: kind), and for the traffic affinity groups
(truth: each VM's application within its tenant) when the result and the truth carry them.
  --json        machine-readable output
  --confusion   list which truth classes each cluster holds
`;

async function readJson(path: string): Promise<unknown> {
  return JSON.parse(await readFile(path, 'utf8'));
}

async function main(): Promise<number> {
  const { positionals, values } = parseFlags(process.argv.slice(2), ['json', 'confusion', 'help']);
  if (values.help || positionals.length !== 2) {
    process.stdout.write(HELP);
    return values.help ? 0 : 2;
  }
  const result = ResultAssignments.parse(await readJson(positionals[0]!));
  const truth = Truth.parse(await readJson(positionals[1]!));
  const s = score(result, truth);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(s)}\n`);
    return 0;
  }
  const sides: Array<[string, SideScore]> = [['VMs', s.vms], ['tenants', s.tenants]];
  if (s.affinity !== undefined) sides.push(['affinity', s.affinity]);
  for (const [label, side] of sides) {
    process.stdout.write(
      `${label.padEnd(8)} ARI ${side.ari.toFixed(4)}  NMI ${side.nmi.toFixed(4)}  scored ${side.scored}  missing ${side.missing}  extra ${side.extra}  truth classes ${side.truthClasses}  clusters ${side.clusters}\n`,
    );
  }
  if (values.confusion) {
    const vmTruth = Object.fromEntries(Object.entries(truth.vms).map(([id, v]) => [id, v.role]));
    const tenantTruth = Object.fromEntries(Object.entries(truth.tenants).map(([id, t]) => [id, t.kind]));
    for (const [label, t, p] of [['VM', vmTruth, result.vm_clusters], ['tenant', tenantTruth, result.tenant_clusters]] as const) {
      process.stdout.write(`\n${label} clusters by truth class:\n`);
      const c = [...confusion(t, p).entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
      for (const [cluster, classes] of c) {
        const parts = [...classes.entries()].sort((a, b) => b[1] - a[1]).map(([cls, n]) => `${cls} ${n}`);
        process.stdout.write(`  ${cluster.padEnd(12)} ${parts.join(', ')}\n`);
      }
    }
  }
  return 0;
}

runCli('evaluate', main);
