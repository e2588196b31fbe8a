/**
 * Clustering quality over many generated traces: for each seed, a trace is generated (cached under
 * fixtures/generated/quality/), replayed through the same pipeline and runs as `npm run replay`, and scored
 * against its truth as `npm run evaluate` does (ARI of VMs against roles, of tenants against kinds).
 *
 *   npx tsx bench/quality.ts [--set unseen|tuning|all] [--realism hard|standard] [--periodic] [--out FILE]
 *
 * Two disjoint seed sets: TUNING_SEEDS were looked at while choosing the tenant features and the k rule;
 * UNSEEN_SEEDS were not, and are the figures the goals are judged on. Results go to
 * bench/results/quality-<realism>.json (mean and worst per set, and every seed's figures).
 */
import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createGzip } from 'node:zlib';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../src/config/pipeline-options.ts';
import { score, type TruthLabels } from '../src/evaluation/score.ts';
import { TraceGenerator } from '../src/generator/trace.ts';
import { type Realism, REALISMS } from '../src/generator/types.ts';
import { replayTrace } from '../src/replay/replay.ts';

/** Seeds looked at while tuning (features, k rule, its constants). */
export const TUNING_SEEDS = [1001, 1002, 1003, 1004, 1005] as const;
/** Seeds never looked at while tuning: the goals are judged on these. */
export const UNSEEN_SEEDS = [2001, 2002, 2003, 2004, 2005, 2006, 2007, 2008, 2009, 2010] as const;

/** A fleet shaped like the traces (about 6 VMs a tenant, heavy-tailed), small enough to replay in seconds. */
export const QUALITY_FLEET = { vms: 900, tenants: 120, minutes: 35 } as const;

export interface SeedQuality {
  seed: number;
  vms: number;
  tenants: number;
  vm_ari: number;
  tenant_ari: number;
  vm_k: number;
  tenant_k: number;
  vm_truth_classes: number;
  tenant_truth_classes: number;
  seconds: number;
}

export interface SetQuality {
  seeds: number[];
  vm_ari_mean: number;
  vm_ari_worst: number;
  tenant_ari_mean: number;
  tenant_ari_worst: number;
  per_seed: SeedQuality[];
}

export async function traceFor(seed: number, realism: Realism, dir: string): Promise<{ trace: string; truth: TruthLabels }> {
  const name = `q-${realism}-${seed}-${QUALITY_FLEET.vms}`;
  const trace = join(dir, `${name}.jsonl.gz`);
  const truthPath = join(dir, `${name}.truth.json`);
  if (existsSync(trace) && existsSync(truthPath)) {
    const { readFile } = await import('node:fs/promises');
    return { trace, truth: JSON.parse(await readFile(truthPath, 'utf8')) as TruthLabels };
  }
  await mkdir(dir, { recursive: true });
  const gen = new TraceGenerator({ name, seed, ...QUALITY_FLEET, realism });
  const tmp = `${trace}.tmp`;
  const file = createWriteStream(tmp);
  const gzip = createGzip({ level: 1 });
  gzip.pipe(file);
  let buffer = '';
  for (const line of gen.lines()) {
    buffer += `${line}\n`;
    if (buffer.length >= 1 << 20) {
      if (!gzip.write(buffer)) await once(gzip, 'drain');
      buffer = '';
    }
  }
  gzip.end(buffer);
  await once(file, 'finish');
  await rename(tmp, trace);
  const truth = gen.truth();
  await writeFile(truthPath, `${JSON.stringify(truth)}\n`);
  return { trace, truth: truth as unknown as TruthLabels };
}

export async function seedQuality(seed: number, realism: Realism, dir: string, periodic: boolean): Promise<SeedQuality> {
  const { trace, truth } = await traceFor(seed, realism, dir);
  const options = PipelineOptions.parse(periodic ? {} : { reclusterMinutes: 0 });
  const t = performance.now();
  const outcome = await replayTrace(trace, { pipeline: toPipelineConfig(options), run: toRunOptions(options) });
  const s = score(outcome.result, truth);
  return {
    seed,
    vms: s.vms.scored,
    tenants: s.tenants.scored,
    vm_ari: round(s.vms.ari),
    tenant_ari: round(s.tenants.ari),
    vm_k: s.vms.clusters,
    tenant_k: s.tenants.clusters,
    vm_truth_classes: s.vms.truthClasses,
    tenant_truth_classes: s.tenants.truthClasses,
    seconds: round((performance.now() - t) / 1000, 2),
  };
}

function round(x: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function summariseSet(perSeed: SeedQuality[]): SetQuality {
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  return {
    seeds: perSeed.map((s) => s.seed),
    vm_ari_mean: round(mean(perSeed.map((s) => s.vm_ari))),
    vm_ari_worst: Math.min(...perSeed.map((s) => s.vm_ari)),
    tenant_ari_mean: round(mean(perSeed.map((s) => s.tenant_ari))),
    tenant_ari_worst: Math.min(...perSeed.map((s) => s.tenant_ari)),
    per_seed: perSeed,
  };
}

/** Every seed of the chosen sets, replayed and scored; progress lines go to `log`. */
export async function benchQuality(
  realism: Realism,
  set: 'unseen' | 'tuning' | 'all' = 'all',
  periodic = false,
  dir = 'fixtures/generated/quality',
  log: (line: string) => void = (line) => process.stderr.write(line),
): Promise<Record<string, unknown>> {
  const sets: Array<[string, readonly number[]]> = [];
  if (set !== 'unseen') sets.push(['tuning', TUNING_SEEDS]);
  if (set !== 'tuning') sets.push(['unseen', UNSEEN_SEEDS]);
  const out: Record<string, unknown> = {
    command: `npx tsx bench/quality.ts --set ${set} --realism ${realism}${periodic ? ' --periodic' : ''}`,
    realism,
    fleet: QUALITY_FLEET,
    runs: periodic ? 'periodic every 5 min and final, as npm run replay' : 'final run only (reclusterMinutes 0)',
  };
  for (const [label, seeds] of sets) {
    const per: SeedQuality[] = [];
    for (const seed of seeds) {
      const q = await seedQuality(seed, realism, dir, periodic);
      per.push(q);
      log(
        `${label} seed ${seed}: VM ARI ${q.vm_ari.toFixed(4)} (k ${q.vm_k}/${q.vm_truth_classes})  tenant ARI ${q.tenant_ari.toFixed(4)} (k ${q.tenant_k}/${q.tenant_truth_classes})  ${q.seconds} s\n`,
      );
    }
    const s = summariseSet(per);
    out[label] = s;
    log(
      `${label}: VM ARI mean ${s.vm_ari_mean.toFixed(4)} worst ${s.vm_ari_worst.toFixed(4)}; tenant ARI mean ${s.tenant_ari_mean.toFixed(4)} worst ${s.tenant_ari_worst.toFixed(4)}\n`,
    );
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      set: { type: 'string', default: 'all' },
      realism: { type: 'string', default: 'hard' },
      periodic: { type: 'boolean', default: false },
      out: { type: 'string' },
      dir: { type: 'string', default: 'fixtures/generated/quality' },
    },
    strict: true,
  });
  const realism = values.realism as Realism;
  if (!REALISMS.includes(realism)) throw new Error(`--realism must be one of ${REALISMS.join(', ')}`);
  if (!['unseen', 'tuning', 'all'].includes(values.set)) throw new Error('--set must be unseen, tuning or all');
  const out = { started: new Date().toISOString(), ...(await benchQuality(realism, values.set as 'unseen' | 'tuning' | 'all', values.periodic, values.dir, (line) => process.stdout.write(line))) };
  const path = values.out ?? `bench/results/quality-${realism}.json`;
  await writeFile(path, `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`written to ${path}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    process.stderr.write(`quality: ${(err as Error).message}\n`);
    process.exitCode = 1;
  });
}
