/**
 * The bin end to end on the small fixture: `replay --json` (stdout is one JSON document and nothing else),
 * the result's vm_projection, then `evaluate --plot` drawing one mark per VM in each panel.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Resvg } from '@resvg/resvg-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { compiled } from '../helpers/build.ts';

const run = promisify(execFile);
const bin = async (...args: string[]) => run(process.execPath, [await compiled('src/cli/main.ts'), ...args], { maxBuffer: 1 << 24 });

interface JsonSummary {
  trace: string;
  out: string;
  lines: number;
  flow_records: number;
  vms_live: number;
  tenants_live: number;
  runs: number;
  rejected: { count: number; by_reason: Record<string, number> };
  timings: { totalMs: number; clusteringMs: number };
  run: { vms: { algorithm: string; k: number; clusters: Array<{ cluster_id: string; size: number }> }; tenants: { k: number; clusters: Array<{ size: number }> } };
}

interface Result {
  vm_clusters: Record<string, string>;
  vm_projection: { method: string; explained_variance: [number, number]; points: Record<string, [number, number]> };
}

const dir = mkdtempSync(join(tmpdir(), 'cli-'));
const out = join(dir, 'result.json');
let summary: JsonSummary;
let stdout: string;
let stderr: string;

beforeAll(async () => {
  // --progress: the bar although stderr is a pipe here (one line per redraw).
  ({ stdout, stderr } = await bin('replay', 'fixtures/small.jsonl.gz', '--out', out, '--recluster-minutes', '0', '--json', '--progress'));
  summary = JSON.parse(stdout) as JsonSummary;
}, 120_000);

describe('alcor-clusters replay --json', () => {
  it('prints exactly one JSON document on stdout', () => {
    expect(stdout.endsWith('}\n')).toBe(true);
    expect(stdout.trim().split('\n')).toHaveLength(1);
    // Progress is on stderr only, never in stdout; the bar's last redraw shows the whole file read.
    expect(stdout).not.toContain('replay ');
    const bars = stderr.split('\n').filter((l) => l.startsWith('replay █') || l.startsWith('replay ░'));
    expect(bars.at(-1)).toMatch(/^replay █{24} 100% \| 3\.1 MB of 3\.1 MB \| [\d,]+ records\/s \| ETA 0s$/);
  });

  it('holds the counts of the trace, the rejections and the run', () => {
    expect(summary).toMatchObject({ trace: 'fixtures/small.jsonl.gz', out, lines: 4323, flow_records: 70578, vms_live: 485, tenants_live: 40, runs: 1 });
    expect(summary.rejected.count).toBe(69);
    expect(summary.rejected.by_reason.too_late).toBe(49);
    expect(summary.run.vms.algorithm).toBe('kmeans');
    expect(summary.run.vms.clusters).toHaveLength(summary.run.vms.k);
    expect(summary.run.vms.clusters.reduce((n, c) => n + c.size, 0)).toBe(485);
    expect(summary.run.tenants.clusters.reduce((n, c) => n + c.size, 0)).toBe(40);
    expect(summary.timings.clusteringMs).toBeLessThan(summary.timings.totalMs);
  });

  it('writes the result with a 2-D projection of every VM', () => {
    const result = JSON.parse(readFileSync(out, 'utf8')) as Result;
    expect(Object.keys(result.vm_projection.points).sort()).toEqual(Object.keys(result.vm_clusters).sort());
    expect(result.vm_projection.method).toBe('clustering-space');
    const [first, second] = result.vm_projection.explained_variance;
    expect(first).toBeGreaterThanOrEqual(second);
    expect(first + second).toBeLessThanOrEqual(1);
    expect(second).toBeGreaterThan(0);
  });
});

describe('alcor-clusters evaluate --plot', () => {
  it('writes an SVG that parses, with one mark per VM in each panel (by truth, by cluster)', async () => {
    const svgPath = join(dir, 'pca.svg');
    const { stdout: scores } = await bin('evaluate', out, 'fixtures/small.truth.json', '--plot', svgPath, '--json');
    expect(JSON.parse(scores)).toHaveProperty('vms.scored', 485);
    const svg = readFileSync(svgPath, 'utf8');
    // resvg parses with a strict XML parser: a malformed document throws here.
    const parsed = new Resvg(svg);
    expect(parsed.width).toBeGreaterThan(800);
    expect(svg.startsWith('<svg')).toBe(true);
    const panels = [...svg.matchAll(/<g class="mark-symbol role-mark[^"]*"[^>]*>(.*?)<\/g>/g)].map((m) => m[1]!);
    expect(panels.map((p) => p.match(/<path /g)?.length ?? 0)).toEqual([485, 485]);
    // Each mark names its VM (Vega's aria label from the description channel): every VM once per panel.
    const vms = Object.keys((JSON.parse(readFileSync(out, 'utf8')) as Result).vm_clusters).sort();
    for (const panel of panels) expect([...panel.matchAll(/<path aria-label="([^"]+)"/g)].map((m) => m[1]).sort()).toEqual(vms);
  }, 60_000);

  it('refuses a plot file that is neither .svg nor .png', async () => {
    const pdf = join(dir, 'pca.pdf');
    await expect(bin('evaluate', out, 'fixtures/small.truth.json', '--plot', pdf)).rejects.toMatchObject({
      code: 2,
      stderr: `evaluate: --plot ${pdf}: name the file .svg or .png\n`,
    });
    // replay refuses it before reading the trace.
    await expect(bin('replay', 'fixtures/no-such-trace.jsonl.gz', '--plot', pdf)).rejects.toMatchObject({
      code: 2,
      stderr: `replay: --plot ${pdf}: name the file .svg or .png\n`,
    });
  });
});
