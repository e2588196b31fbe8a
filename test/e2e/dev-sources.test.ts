/**
 * The development path, which every other test that spawns the service or the CLI leaves for the build
 * (test/helpers/build.ts): `npm start` runs the TypeScript sources through tsx, and so does the
 * `alcor-clusters` bin in a clone with dev dependencies. Both must still start and answer.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { packageOf } from '../helpers/loaded-packages.ts';
import { startServiceProcess } from '../helpers/service-process.ts';

const dir = mkdtempSync(join(tmpdir(), 'dev-sources-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const source = (path: string): string => pathToFileURL(join(process.cwd(), path)).href;
/** What a process loaded, from module-log.mjs's file: its own modules, and whether tsx was among them. */
const loaded = (log: string) => {
  const urls = readFileSync(log, 'utf8').split('\n');
  return { tsx: urls.some((u) => packageOf(u) === 'tsx'), dist: urls.some((u) => u.startsWith(source('dist/'))) };
};

it("npm start's entry, tsx over src/main.ts, starts from the sources and answers", async () => {
  const scripts = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts;
  expect(scripts.start).toBe('tsx src/main.ts');
  const moduleLog = join(dir, 'service-modules.log');
  // The module log goes first, so that it sees what tsx resolves.
  const svc = await startServiceProcess({ MODULE_LOG: moduleLog, NODE_OPTIONS: '--import ./test/helpers/module-log.mjs' }, [], 'sources');
  try {
    expect((await fetch(`${svc.url}/healthz`)).status).toBe(200);
    const stats = (await (await fetch(`${svc.url}/v1/stats`)).json()) as { records?: unknown };
    expect(stats.records, svc.output()).toBeDefined();
    const urls = readFileSync(moduleLog, 'utf8').split('\n');
    expect(urls).toContain(source('src/main.ts'));
    expect(loaded(moduleLog)).toEqual({ tsx: true, dist: false });
  } finally {
    expect(await svc.stop(), svc.output()).toBe(0);
  }
}, 120_000);

it('alcor-clusters in a clone runs the CLI from the sources through tsx', async () => {
  const moduleLog = join(dir, 'cli-modules.log');
  const env: NodeJS.ProcessEnv = { ...process.env, MODULE_LOG: moduleLog };
  delete env.NODE_OPTIONS;
  const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', './test/helpers/module-log.mjs', 'bin/alcor-clusters', 'replay', '--help'], { env });
  expect(stderr).toBe('');
  expect(stdout).toMatch(/^Usage: alcor-clusters replay /);
  expect(readFileSync(moduleLog, 'utf8').split('\n')).toContain(source('src/cli/main.ts'));
  expect(loaded(moduleLog)).toEqual({ tsx: true, dist: false });
}, 60_000);
