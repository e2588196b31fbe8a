/**
 * Wrong inputs an operator makes, each answered with one clear line and the exit code the command's contract
 * gives (1 failed, 2 bad usage), never a raw zod dump, never after the long part of the work.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { PipelineOptions } from '../../src/config/pipeline-options.ts';
import { type ConfigError, loadServiceConfig } from '../../src/config/service-config.ts';

const run = promisify(execFile);
const bin = (...args: string[]) => run(process.execPath, ['bin/alcor-clusters', ...args]);
const failure = (p: Promise<unknown>) => p.then(() => ({ code: 0, stdout: '', stderr: '' }), (e: { code: number; stdout: string; stderr: string }) => e);

const truth = JSON.parse(readFileSync('fixtures/small.truth.json', 'utf8')) as { vms: Record<string, unknown>; tenants: Record<string, unknown> };
const dir = mkdtempSync(join(tmpdir(), 'wrong-inputs-'));
/** A result over the truth's own ids (all in one cluster), and one over ids the truth does not know. */
const result = (vms: string[], tenants: string[]) => ({
  vm_clusters: Object.fromEntries(vms.map((id) => [id, 'vm-0'])),
  tenant_clusters: Object.fromEntries(tenants.map((id) => [id, 'tenant-0'])),
});
writeFileSync(join(dir, 'matching.json'), JSON.stringify(result(Object.keys(truth.vms), Object.keys(truth.tenants))));
writeFileSync(join(dir, 'other.json'), JSON.stringify(result(['x-1', 'x-2', 'x-3', Object.keys(truth.vms)[0]!], ['t-x'])));

describe('evaluate', () => {
  it('says the arguments are swapped instead of dumping zod issues', async () => {
    const f = await failure(bin('evaluate', 'fixtures/small.truth.json', join(dir, 'matching.json')));
    expect(f).toMatchObject({
      code: 2,
      stdout: '',
      stderr: `evaluate: the arguments are the wrong way round: the result first, then the truth (alcor-clusters evaluate ${join(dir, 'matching.json')} fixtures/small.truth.json)\n`,
    });
  });

  it('names the file that is not a result, in one line', async () => {
    const f = await failure(bin('evaluate', 'package.json', 'fixtures/small.truth.json'));
    expect(f).toMatchObject({ code: 2, stderr: 'evaluate: package.json is not a replay result (replay --out writes one): vm_clusters: Invalid input: expected record, received undefined (and 1 more problems)\n' });
  });

  it('fails after the scores when most of the result is not in the truth, and passes with the right truth', async () => {
    const f = await failure(bin('evaluate', join(dir, 'other.json'), 'fixtures/small.truth.json'));
    expect(f.code).toBe(1);
    expect(f.stdout).toMatch(/^VMs {6}ARI /);
    expect(f.stderr).toBe(
      `evaluate: most VMs of ${join(dir, 'other.json')} are not in fixtures/small.truth.json (1 in both, 3 only in the result, 484 only in the truth): is it the truth of the trace replayed?\n`,
    );
    await expect(bin('evaluate', join(dir, 'matching.json'), 'fixtures/small.truth.json')).resolves.toMatchObject({ stderr: '' });
  });
});

describe('replay', () => {
  it('fails when every line of the file is rejected (a truth file is no trace)', async () => {
    const f = await failure(bin('replay', 'fixtures/small.truth.json', '--no-progress'));
    expect(f.code).toBe(1);
    expect(f.stdout.split('\n')[1]).toBe('rejected 2,781: invalid_json 2,781');
    expect(f.stderr).toBe(
      'replay: no line of fixtures/small.truth.json holds a record: all 2781 were rejected; a trace has one {"topic", "value"} object per line (CONTRACT.md "Trace files")\n',
    );
  });

  it('checks the output paths before replaying', async () => {
    for (const [flag, path, problem] of [
      ['--out', '/nonexistent-dir/x.json', 'no folder /nonexistent-dir'],
      ['--rejects', '/nonexistent-dir/r.jsonl', 'no folder /nonexistent-dir'],
      ['--out', dir, `${dir} is a folder`],
      ['--plot', '/nonexistent-dir/p.svg', 'no folder /nonexistent-dir'],
    ] as const) {
      // The medium trace takes seconds to replay: the answer must come without it (nothing on stdout).
      const f = await failure(bin('replay', 'fixtures/medium.jsonl.gz', flag, path, '--no-progress'));
      expect(f).toMatchObject({ code: 2, stdout: '', stderr: `replay: ${flag} ${path}: ${problem}\n` });
    }
  });

  it('names an unknown flag as typed, with the flag meant', async () => {
    const f = await failure(bin('replay', 'fixtures/small.jsonl.gz', '--windw-minutes', '5'));
    expect(f).toMatchObject({ code: 2, stderr: 'replay: unknown option --windw-minutes (did you mean --window-minutes?)\n' });
    const g = await failure(bin('replay', 'fixtures/small.jsonl.gz', '--frobnicate', '1'));
    expect(g).toMatchObject({ code: 2, stderr: 'replay: unknown option --frobnicate\n' });
  });

  it('refuses one cluster', async () => {
    const f = await failure(bin('replay', 'fixtures/small.jsonl.gz', '--k', '1'));
    expect(f).toMatchObject({ code: 2, stderr: 'replay: invalid options\n  --k: at least 2: one cluster would say nothing\n' });
  });

  it('--help lists every option it takes, the limits included', async () => {
    const { stdout } = await bin('replay', '--help');
    const flags = Object.keys(PipelineOptions.shape).map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
    expect(flags.filter((f) => !new RegExp(`${f}\\b(?!-)`).test(stdout))).toEqual([]);
  });
});

describe('the service configuration', () => {
  const problems = (env: Record<string, string>): string[] => {
    try {
      loadServiceConfig(env);
      return [];
    } catch (err) {
      return (err as ConfigError).problems;
    }
  };

  it('reports WINDOW_MINUTES=0 once, without a spurious lateness error', () => {
    expect(problems({ WINDOW_MINUTES: '0' })).toEqual(['WINDOW_MINUTES: Too small: expected number to be >0']);
  });

  it('refuses K=1 and TENANT_K=1 instead of accepting them silently', () => {
    expect(problems({ K: '1', TENANT_K: '1', K_MIN: '1' })).toEqual([
      'K: at least 2: one cluster would say nothing',
      'K_MIN: at least 2: one cluster would say nothing',
      'TENANT_K: at least 2: one cluster would say nothing',
    ]);
  });

  it('still checks across fields when both are valid', () => {
    expect(problems({ WINDOW_MINUTES: '5', LATENESS_SECONDS: '600' })).toEqual(['LATENESS_SECONDS: allowed lateness cannot exceed the window']);
  });
});

describe('help of the other tools', () => {
  it('npm run hash-key -- --help prints its usage and exits 0', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'scripts/hash-key.ts', '--help']);
    expect(stdout.split('\n')[0]).toBe('Usage: npm run hash-key -- [--scrypt] [--scope admin|tenant:<tenant_id>] [<key> | --generate]');
  });

  it('bench --help names every benchmark bench/run.ts runs, and an unknown name is refused', async () => {
    const sections = [...readFileSync('bench/run.ts', 'utf8').matchAll(/(?:wanted|only\.includes)\('([\w-]+)'\)/g)].map((m) => m[1]!);
    expect(sections).toContain('memory');
    const { stdout } = await bin('bench', '--help');
    for (const s of sections) expect(stdout).toMatch(new RegExp(`^  ${s} +\\S`, 'm'));
    await expect(bin('bench', 'memroy')).rejects.toMatchObject({ code: 2, stderr: 'bench: unknown benchmark memroy (replay, attribution, replay-hour, kafka, api, scale, memory, placement, security-groups, scale-out, scale-out-one, scale-out-ingest, scale-out-failover, scale-out-reads, read-slices, quality)\n' });
  });
});
