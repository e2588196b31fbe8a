/**
 * evaluate <result.json> <truth.json> [--json] [--confusion] [--plot FILE.svg|FILE.png]
 * Scores a replay result against ground truth (ARI and NMI for VMs and tenants), and can draw the VMs
 * on two principal components coloured by truth and by cluster.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { confusion, ResultAssignments, type SideScore, score, TruthLabels } from '../../evaluation/score.ts';
import { parseFlags, unknownFlags } from '../args.ts';
import type { Command } from '../command.ts';
import { pcaScatterSpec, plotFormatOf, type ScatterPoint, writePlot } from '../plots.ts';

const help = (prog: string): string => `Usage: ${prog} <result.json> <truth.json> [--json] [--confusion] [--plot FILE]

Scores a replay result against a fixture's ground truth: adjusted Rand index (ARI) and normalised mutual
information (NMI) for VMs (truth: role) and tenants (truth: kind), and for the traffic affinity groups
(truth: each VM's application within its tenant) when the result and the truth carry them.
  --json        machine-readable output
  --confusion   list which truth classes each cluster holds
  --plot FILE   scatter of the VMs on two principal components, coloured by truth and by cluster
                (.svg or .png; needs the vm_projection that replay --out writes)

Exits 1, after the scores, when most VMs or tenants of the result are not in the truth: the truth of another trace.
`;

/** The coordinates replay writes next to the assignments (projection.ts). */
const ProjectedResult = z.object({
  vm_clusters: z.record(z.string(), z.string()),
  vm_projection: z.object({
    explained_variance: z.tuple([z.number(), z.number()]),
    points: z.record(z.string(), z.tuple([z.number(), z.number()])),
  }),
});

const NOT_IN_TRUTH = '(not in truth)';

function scatterPoints(result: z.infer<typeof ProjectedResult>, truth: TruthLabels): ScatterPoint[] {
  return Object.entries(result.vm_projection.points)
    .map(([vm_id, [x, y]]) => ({ vm_id, x, y, truth: truth.vms[vm_id]?.role ?? NOT_IN_TRUTH, cluster: result.vm_clusters[vm_id] ?? 'none' }))
    .sort((a, b) => (a.vm_id < b.vm_id ? -1 : a.vm_id > b.vm_id ? 1 : 0));
}

async function readJson(path: string): Promise<unknown> {
  return JSON.parse(await readFile(path, 'utf8'));
}

async function run(argv: readonly string[], prog: string): Promise<number> {
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(argv, ['json', 'confusion', 'help']);
  } catch (err) {
    process.stderr.write(`evaluate: ${(err as Error).message}\n\n${help(prog)}`);
    return 2;
  }
  const { positionals, values } = parsed;
  if (values.help || positionals.length !== 2) {
    (values.help ? process.stdout : process.stderr).write(help(prog));
    return values.help ? 0 : 2;
  }
  const unknown = unknownFlags(Object.keys(values), ['json', 'confusion', 'help', 'plot']);
  if (unknown !== null) {
    process.stderr.write(`evaluate: ${unknown}\n`);
    return 2;
  }
  // --plot always has a value here: parseFlags refuses a non-boolean flag without one.
  const plot = typeof values.plot === 'string' ? values.plot : undefined;
  if (plot !== undefined && plotFormatOf(plot) === null) {
    process.stderr.write(`evaluate: --plot ${plot}: name the file .svg or .png\n`);
    return 2;
  }
  const [resultPath, truthPath] = positionals as [string, string];
  const raw = await readJson(resultPath);
  const rawTruth = await readJson(truthPath);
  const parsedResult = ResultAssignments.safeParse(raw);
  const parsedTruth = TruthLabels.safeParse(rawTruth);
  if (!parsedResult.success || !parsedTruth.success) {
    if (!parsedResult.success && !parsedTruth.success && TruthLabels.safeParse(raw).success && ResultAssignments.safeParse(rawTruth).success) {
      process.stderr.write(`evaluate: the arguments are the wrong way round: the result first, then the truth (${prog} ${truthPath} ${resultPath})\n`);
    } else if (!parsedResult.success) {
      process.stderr.write(`evaluate: ${resultPath} is not a replay result (replay --out writes one): ${firstIssue(parsedResult.error)}\n`);
    } else if (!parsedTruth.success) {
      process.stderr.write(`evaluate: ${truthPath} is not a ground truth (fixtures writes one, <name>.truth.json): ${firstIssue(parsedTruth.error)}\n`);
    }
    return 2;
  }
  const result = parsedResult.data;
  const truth = parsedTruth.data;
  const s = score(result, truth);
  if (plot !== undefined) {
    const projected = ProjectedResult.safeParse(raw);
    if (!projected.success) {
      process.stderr.write(`evaluate: ${positionals[0]} has no vm_projection to plot: write it with replay --out\n`);
      return 1;
    }
    const title = `${positionals[0]}: ${Object.keys(projected.data.vm_projection.points).length} VMs, ARI ${s.vms.ari.toFixed(3)}, NMI ${s.vms.nmi.toFixed(3)}`;
    await writePlot(pcaScatterSpec(scatterPoints(projected.data, truth), projected.data.vm_projection.explained_variance, title), plot);
    process.stderr.write(`evaluate: plot written to ${plot}\n`);
  }
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
  // Most of the result's ids unknown to the truth means the wrong pair of files, not a bad clustering: say so,
  // and fail. (Ids of the truth missing from the result are normal for a replay capped by --max-vms.)
  const mismatched = (['VMs', 'tenants'] as const).filter((label) => {
    const side = label === 'VMs' ? s.vms : s.tenants;
    return side.extra > side.scored || (label === 'VMs' && side.scored === 0);
  });
  if (mismatched.length > 0) {
    const side = mismatched[0] === 'VMs' ? s.vms : s.tenants;
    process.stderr.write(
      `evaluate: most ${mismatched[0]} of ${resultPath} are not in ${truthPath} (${side.scored} in both, ${side.extra} only in the result, ${side.missing} only in the truth): is it the truth of the trace replayed?\n`,
    );
    return 1;
  }
  return 0;
}

/** One line for a schema failure: where and what, not zod's whole issue list. */
function firstIssue(error: z.ZodError): string {
  const i = error.issues[0];
  if (i === undefined) return 'invalid';
  const where = i.path.length > 0 ? i.path.map(String).join('.') : 'the document';
  return `${where}: ${i.message}${error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problems)` : ''}`;
}

export const evaluateCommand: Command = {
  help,
  run,
};
