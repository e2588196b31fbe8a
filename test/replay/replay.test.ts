import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import type { RejectedRecord } from '../../src/contract/rejections.ts';
import { score, TruthLabels } from '../../src/evaluation/score.ts';
import { type ReplayOutcome, replayTrace } from '../../src/replay/replay.ts';
import { compiled } from '../helpers/build.ts';

const defaults = PipelineOptions.parse({});
const options = { pipeline: toPipelineConfig(defaults), run: toRunOptions(defaults) };
const truthOf = (name: string) => TruthLabels.parse(JSON.parse(readFileSync(`fixtures/${name}.truth.json`, 'utf8')));

/**
 * A fixture's replay with the default configuration and the rejects it reported, made once: the truth test
 * checks it, and the determinism test compares a second replay with the small one (a replay is the costliest
 * step of either test).
 */
const replays = new Map<string, Promise<{ outcome: ReplayOutcome; rejected: RejectedRecord[] }>>();
function replayOf(name: string): Promise<{ outcome: ReplayOutcome; rejected: RejectedRecord[] }> {
  let replay = replays.get(name);
  if (replay === undefined) {
    const rejected: RejectedRecord[] = [];
    replay = replayTrace(`fixtures/${name}.jsonl.gz`, { ...options, onReject: (r) => rejected.push(r) }).then((outcome) => ({ outcome, rejected }));
    replays.set(name, replay);
  }
  return replay;
}

interface Injected {
  malformed_lines: number;
  malformed_records: number;
  very_late_records: number;
}

describe.each(['small', 'medium'])('replay of the %s fixture with the default configuration', (name) => {
  it('clusters VMs and tenants with ARI >= 0.9 against the truth and rejects exactly the bad records', async () => {
    const truth = truthOf(name);
    const injected = (JSON.parse(readFileSync(`fixtures/${name}.truth.json`, 'utf8')) as { injected: Injected }).injected;
    const { outcome, rejected } = await replayOf(name);
    const { result } = outcome;
    const s = score(result, truth);
    expect(s.vms.missing).toBe(0);
    expect(s.vms.extra).toBe(0);
    expect(s.tenants.missing).toBe(0);
    expect(s.tenants.extra).toBe(0);
    expect(s.vms.ari).toBeGreaterThanOrEqual(0.9);
    expect(s.tenants.ari).toBeGreaterThanOrEqual(0.9);
    expect(result.rejected.by_reason.too_late).toBe(injected.very_late_records);
    expect(result.rejected.count).toBe(injected.malformed_lines + injected.malformed_records + injected.very_late_records);
    expect(rejected).toHaveLength(result.rejected.count);
    for (const r of rejected) {
      expect(r.source).toMatch(/^line \d+$/);
      expect(r.raw.length).toBeGreaterThan(0);
      expect(r.message.length).toBeGreaterThan(0);
    }
  }, 120_000);
});

describe('replay', () => {
  it('is deterministic, and hostile lines change nothing but the rejection counts', async () => {
    const clean = (await replayOf('small')).outcome;
    const again = await replayTrace('fixtures/small.jsonl.gz', options);
    expect(JSON.stringify(again.result)).toBe(JSON.stringify(clean.result));

    const hostile = [
      '{"topic": "overlay-flows", "value": [',
      'null',
      '[]',
      '"just a string"',
      '{"topic": "overlay-flows"}',
      '{"topic": "billing", "value": {}}',
      '{"topic": "overlay-flows", "value": 42}',
      '{"topic": "overlay-flows", "value": [null, 1, "x", [], {}]}',
      `{"topic": "overlay-flows", "value": {"__proto__": {"admin": true}, "ts": 1793491300000, "src_vm": "evil", "src_ip": "10.9.9.9", "dst_ip": "10.9.9.8", "protocol": 1, "bytes": 1, "packets": 1}}`,
      `{"topic": "overlay-flows", "value": {"ts": 1793491300000, "src_vm": "evil", "src_ip": "10.9.9.9", "dst_ip": "10.9.9.8", "protocol": "tcp", "src_port": 1, "dst_port": 99999, "bytes": 1, "packets": 1}}`,
      `{"topic": "overlay-flows", "value": {"ts": 1793491300000, "src_vm": "evil", "src_ip": "10.9.9.9", "dst_ip": "10.9.9.8", "protocol": 1, "bytes": -1, "packets": 1}}`,
      `{"topic": "overlay-flows", "value": {"ts": 1793491300000, "src_vm": "${'v'.repeat(10_000)}", "src_ip": "10.9.9.9", "dst_ip": "10.9.9.8", "protocol": 1, "bytes": 1, "packets": 1}}`,
      `{"topic": "overlay-flows", "value": {"ts": 1793491300000, "src_vm": "evil", "src_ip": "10.9.9.9", "dst_ip": "10.9.9.8", "protocol": 1, "bytes": 1e300, "packets": 1}}`,
      `{"topic": "vm-attributes", "value": {"ts": 1793491300000, "vm_id": "evil", "tenant_id": "t", "labels": {"constructor": "x"}}}`,
      `{"topic": "vm-attributes", "value": {"ts": 1793491300000, "vm_id": "evil", "tenant_id": null}}`,
      `{"topic": "tenant-attributes", "value": {"ts": "yesterday", "tenant_id": "t"}}`,
      `{"topic": "overlay-flows", "value": ${'['.repeat(5000)}${']'.repeat(5000)}}`,
    ];
    const perLine = [1, 1, 1, 1, 1, 1, 1, 5, 1, 1, 1, 1, 1, 1, 1, 1, 1];
    const lines = gunzipSync(readFileSync('fixtures/small.jsonl.gz')).toString('utf8').split('\n');
    const mixed: string[] = [];
    lines.forEach((line, i) => {
      mixed.push(line);
      if (i % 200 === 17) mixed.push(hostile[(i / 200) % hostile.length | 0]!);
    });
    const dir = mkdtempSync(join(tmpdir(), 'replay-hostile-'));
    const path = join(dir, 'mixed.jsonl');
    writeFileSync(path, mixed.join('\n'));
    const insertedIdx = lines.map((_, i) => i).filter((i) => i % 200 === 17 && i < lines.length);
    const expectedExtra = insertedIdx.reduce((n, i) => n + perLine[((i / 200) % hostile.length) | 0]!, 0);
    const dirty = await replayTrace(path, options);
    expect(dirty.result.vm_clusters).toEqual(clean.result.vm_clusters);
    expect(dirty.result.tenant_clusters).toEqual(clean.result.tenant_clusters);
    expect(dirty.result.rejected.count).toBe(clean.result.rejected.count + expectedExtra);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  }, 120_000);

  it('runs from the command line: writes the result and the rejects file and prints a summary', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'replay-cli-'));
    const out = join(dir, 'result.json');
    const rejects = join(dir, 'rejects.jsonl');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [await compiled('src/cli/replay.ts'), 'fixtures/small.jsonl.gz', '--out', out, '--rejects', rejects, '--recluster-minutes', '0'],
      { maxBuffer: 1 << 24 },
    );
    expect(stdout).toMatch(/^replayed 4,323 lines, 73,856 records \(70,578 flows\)/);
    expect(stdout).toMatch(/rejected 69: /);
    expect(stdout).toMatch(/VM clusters: \d+ \(kmeans, silhouette 0\.\d{3}\)/);
    const result = JSON.parse(readFileSync(out, 'utf8')) as { vm_clusters: Record<string, string>; rejected: { count: number } };
    expect(Object.keys(result.vm_clusters)).toHaveLength(485);
    const rejectLines = readFileSync(rejects, 'utf8').trim().split('\n');
    expect(rejectLines).toHaveLength(result.rejected.count);
    expect(JSON.parse(rejectLines[0]!)).toHaveProperty('reason');
  }, 120_000);

  it('rejects bad options with a clear message', async () => {
    const run = promisify(execFile)(process.execPath, [await compiled('src/cli/replay.ts'), 'fixtures/small.jsonl.gz', '--k-min', '9', '--k-max', '3']);
    await expect(run).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--k-min: kMin must not exceed kMax') });
  });
});
