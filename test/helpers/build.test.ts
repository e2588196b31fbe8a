/** The build the spawning tests run: rebuilt whenever a source changed, and the only way they start the service. */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { builtFrom, NEEDS_BUILD } from './build.ts';

describe('builtFrom', () => {
  const dir = mkdtempSync(join(tmpdir(), 'built-from-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const at = (path: string, seconds: number) => utimesSync(path, seconds, seconds);

  it('holds a build stale when a source, or the folder of a deleted one, is newer than its stamp', () => {
    const src = join(dir, 'src');
    mkdirSync(join(src, 'windows'), { recursive: true });
    writeFileSync(join(src, 'windows/a.ts'), '');
    writeFileSync(join(src, 'windows/b.ts'), '');
    const stamp = join(dir, '.built');
    expect(builtFrom(stamp, [src])).toBe(false);
    writeFileSync(stamp, '');
    for (const path of [join(src, 'windows/a.ts'), join(src, 'windows/b.ts'), join(src, 'windows'), src]) at(path, 1_000);
    at(stamp, 2_000);
    expect(builtFrom(stamp, [src])).toBe(true);
    at(join(src, 'windows/a.ts'), 3_000);
    expect(builtFrom(stamp, [src])).toBe(false);
    at(join(src, 'windows/a.ts'), 1_000);
    rmSync(join(src, 'windows/b.ts'));
    expect(builtFrom(stamp, [src])).toBe(false);
  });
});

describe('the tests that spawn the service or the CLI', () => {
  const files = readdirSync('test', { recursive: true, encoding: 'utf8' })
    .filter((path) => path.endsWith('.test.ts'))
    .map((path) => join('test', path));

  it('run the build, except the one test of the development path and the scripts that are not built', () => {
    // tsx's transform costs 2.1 to 2.4 s of CPU per start (docs/testing.md); the build runs the same code.
    const throughTsx = /'--import', 't[s]x'|'bin\/alcor-clusters'|'bin', 'alcor-cluster[s]'|, 'sources'\)/;
    const offenders = files.filter((file) => throughTsx.test(readFileSync(file, 'utf8')));
    expect(offenders.sort()).toEqual(['test/cli/wrong-inputs.test.ts', 'test/e2e/dev-sources.test.ts', 'test/e2e/dist.test.ts']);
  });

  it('are the files the sequencer builds for', () => {
    const spawning = /\bcompiled\(|\bstartServiceProcess\(|\bserviceArgs\(/;
    const found = files.filter((file) => spawning.test(readFileSync(file, 'utf8')));
    expect(found.length).toBeGreaterThan(20);
    expect(found.filter((file) => !NEEDS_BUILD.test(readFileSync(file, 'utf8')))).toEqual([]);
  });
});
