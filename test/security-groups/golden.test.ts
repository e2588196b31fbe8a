/**
 * The outcome of the learner and the check on fixed generated traces, as the implementation before integer
 * ids gave it (test/security-groups/golden.json was written when the two were compared
 * equal, commit "Security groups over integer ids and typed arrays"): the summary in full, the document
 * and the checked connections by SHA-256. A change of rules or verdicts fails here; when it is meant,
 * rewrite the file with UPDATE_GOLDEN=1 and say why in the commit.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import { TraceGenerator } from '../../src/generator/index.ts';
import { replayTrace } from '../../src/replay/replay.ts';

const GOLDEN = 'test/security-groups/golden.json';
const defaults = PipelineOptions.parse({});
const options = { pipeline: toPipelineConfig(defaults), run: toRunOptions(defaults) };
const dir = mkdtempSync(join(tmpdir(), 'sg-golden-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha256 = (x: unknown): string => createHash('sha256').update(JSON.stringify(x)).digest('hex');

interface Golden {
  seed: number;
  vms: number;
  summary: unknown;
  document_sha256: string;
  connections_sha256: string;
}

const WORLDS = [
  { seed: 7, vms: 120 },
  { seed: 31, vms: 240 },
];

describe('security groups: golden outcome on fixed traces', () => {
  it('the same summary, document and verdicts as the reference', async () => {
    const got: Golden[] = [];
    for (const { seed, vms } of WORLDS) {
      const gen = new TraceGenerator({ name: `sg-${seed}`, seed, vms, tenants: Math.round(vms / 12), minutes: 45 });
      const path = join(dir, `sg-${seed}.jsonl`);
      writeFileSync(path, `${[...gen.lines()].join('\n')}\n`);
      const sg = (await replayTrace(path, options)).securityGroups!;
      const { summary, ...rest } = sg.document;
      got.push({ seed, vms, summary, document_sha256: sha256(rest), connections_sha256: sha256(sg.connections) });
    }
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(GOLDEN, `${JSON.stringify(got, null, 2)}\n`);
    const want = JSON.parse(readFileSync(GOLDEN, 'utf8')) as Golden[];
    expect(got).toEqual(want);
    expect((want[0]!.summary as { rules: number }).rules).toBeGreaterThan(100);
  }, 120_000);
});
