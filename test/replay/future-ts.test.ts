import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import type { RejectedRecord } from '../../src/contract/rejections.ts';
import { type ReplayOutcome, replayTrace } from '../../src/replay/replay.ts';

// Only the final run: the comparison is of the state at the end, and one run keeps the test quick.
const opts = PipelineOptions.parse({ reclusterMinutes: 0 });
const options = { pipeline: toPipelineConfig(opts), run: toRunOptions(opts) };
const HOUR = 3_600_000;

const lines = gunzipSync(readFileSync('fixtures/small.jsonl.gz')).toString('utf8').split('\n').filter((l) => l !== '');
const dir = mkdtempSync(join(tmpdir(), 'future-ts-'));

function writeTrace(name: string, out: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${out.join('\n')}\n`);
  return path;
}

async function replay(path: string): Promise<{ outcome: ReplayOutcome; rejects: RejectedRecord[] }> {
  const rejects: RejectedRecord[] = [];
  const outcome = await replayTrace(path, { ...options, onReject: (r) => rejects.push(r) });
  return { outcome, rejects };
}

/** Everything the clustering is made of: the partitions and the feature matrices it ran on. */
function clustering(o: ReplayOutcome) {
  const run = o.lastRun!;
  return {
    vm_clusters: o.result.vm_clusters,
    tenant_clusters: o.result.tenant_clusters,
    affinity_groups: o.result.affinity_groups,
    run: o.result.run,
    vmFeatures: run.vms.features,
    tenantFeatures: run.tenants.features,
    watermark: o.pipeline.fleet.watermark,
  };
}

type RawFlow = Record<string, unknown>;
/** A trace line as an object; the fixture's deliberately broken lines are kept as they are. */
function parseLine(line: string): { topic?: unknown; value?: unknown } | null {
  try {
    const m: unknown = JSON.parse(line);
    return typeof m === 'object' && m !== null && !Array.isArray(m) ? m : null;
  } catch {
    return null;
  }
}
/** The exporting host of a flow as the bound sees it: the host of its VM end. */
const exporter = (f: RawFlow) => (f.src_vm != null ? f.src_host : f.dst_host) ?? f.src_host ?? f.dst_host ?? null;

let clean: Awaited<ReturnType<typeof replay>>;
beforeAll(async () => {
  clean = await replay('fixtures/small.jsonl.gz');
}, 60_000);

describe('replay with a record from the future', () => {
  it('one 9999-12-31 flow in the middle of the trace changes nothing but one more reject (future_ts)', async () => {
    const middle = Math.floor(lines.length / 2);
    // A real VM on a real host, so that a wrong acceptance would also show in that VM's features.
    const sample = lines.slice(middle).map(parseLine).find((m) => m?.topic === 'overlay-flows' && Array.isArray(m.value));
    const real = (Array.isArray(sample?.value) ? sample.value[0] : sample?.value) as RawFlow;
    const poison = JSON.stringify({ topic: 'overlay-flows', value: { ...real, ts: '9999-12-31T23:59:59Z' } });
    const { outcome, rejects } = await replay(writeTrace('poison.jsonl', [...lines.slice(0, middle), poison, ...lines.slice(middle)]));

    expect(clustering(outcome)).toEqual(clustering(clean.outcome));
    expect(outcome.result.stats.vms_live).toBe(485);
    expect(outcome.result.stats.tenants_live).toBe(40);
    expect(outcome.result.rejected).toEqual({
      count: clean.outcome.result.rejected.count + 1,
      by_reason: { ...clean.outcome.result.rejected.by_reason, future_ts: 1 },
    });
    const future = rejects.filter((r) => r.reason === 'future_ts');
    expect(future).toHaveLength(1);
    expect(future[0]).toMatchObject({ topic: 'overlay-flows', source: `line ${middle + 1}`, field: 'ts' });
    expect(future[0]!.message).toMatch(/^ts 9999-12-31T23:59:59\.000Z is \d+ s ahead of 2026-11-01T00:\d\d:\d\d\.000Z, the time 3 of \d+ recent sources have reached; the allowed future skew is 300 s$/);
  }, 60_000);

  it('a host whose clock runs two hours ahead has its flows rejected and the rest of the fleet is untouched', async () => {
    const host = 'cmp-az2-r01-19';
    let shifted = 0;
    const skewed: string[] = [];
    const without: string[] = [];
    for (const line of lines) {
      const m = parseLine(line);
      if (m === null || m.topic !== 'overlay-flows' || !Array.isArray(m.value)) {
        skewed.push(line);
        without.push(line);
        continue;
      }
      const mine = (m.value as RawFlow[]).filter((f) => typeof f === 'object' && f !== null && exporter(f) === host && typeof f.ts === 'number');
      shifted += mine.length;
      skewed.push(JSON.stringify({ ...m, value: (m.value as RawFlow[]).map((f) => (mine.includes(f) ? { ...f, ts: (f.ts as number) + 2 * HOUR } : f)) }));
      without.push(JSON.stringify({ ...m, value: (m.value as RawFlow[]).filter((f) => !mine.includes(f)) }));
    }
    expect(shifted).toBeGreaterThan(100);
    const [withSkew, baseline] = [await replay(writeTrace('skewed.jsonl', skewed)), await replay(writeTrace('without.jsonl', without))];

    // The same fleet as if the host had sent nothing: its flows changed no window, no watermark, no other record's fate.
    expect(clustering(withSkew.outcome)).toEqual(clustering(baseline.outcome));
    expect(withSkew.outcome.result.stats.flows_applied).toBe(baseline.outcome.result.stats.flows_applied);
    expect(withSkew.outcome.result.rejected).toEqual({
      count: baseline.outcome.result.rejected.count + shifted,
      by_reason: { ...baseline.outcome.result.rejected.by_reason, future_ts: shifted },
    });
    expect(withSkew.outcome.result.stats.vms_live).toBeGreaterThan(470);
    expect(withSkew.rejects.filter((r) => r.reason === 'future_ts').every((r) => r.message.includes('recent sources have reached'))).toBe(true);
  }, 90_000);
});
