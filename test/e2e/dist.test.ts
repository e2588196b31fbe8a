/**
 * The production build as the image runs it: `node dist/main.js`, no TypeScript loader, serves the bundled
 * trace (the clustering worker thread and the dashboard's static files found beside the compiled modules),
 * and never loads the plotting libraries, which only the commands that draw plots import. It ships the
 * service's folders only.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getFreePort } from '../../tools/kafka-broker/index.ts';
import { DIST_ENTRY, ensureBuilt } from '../helpers/build.ts';
import { loadedPackages, PLOTTING_PACKAGES, packageOf } from '../helpers/loaded-packages.ts';
import { waitFor } from '../helpers/service-process.ts';


describe('node dist/main.js', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dist-service-'));
  const moduleLog = join(dir, 'modules.log');
  let url = '';
  let out = '';
  let exited: Promise<number | null> = Promise.resolve(null);
  let stop = (): void => undefined;

  beforeAll(async () => {
    await ensureBuilt();
    const port = await getFreePort();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      MODELS_DIR: join(dir, 'models'),
      STATE_DIR: join(dir, 'state'),
      MODULE_LOG: moduleLog,
    };
    delete env.KAFKA_BROKERS;
    delete env.NODE_OPTIONS;
    const child = spawn(process.execPath, ['--import', './test/helpers/module-log.mjs', DIST_ENTRY], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    exited = new Promise((resolve) => child.once('exit', resolve));
    stop = () => {
      if (child.exitCode === null) child.kill('SIGTERM');
    };
    url = `http://127.0.0.1:${port}`;
    // Ready: the bundled trace is in and a first clustering run, in the worker thread, has completed.
    await waitFor(async () => ((await fetch(`${url}/readyz`).then((r) => r.ok, () => false)) || child.exitCode !== null ? true : undefined), 120_000, 'the compiled service to be ready');
    expect(child.exitCode, out).toBeNull();
  }, 300_000);

  afterAll(async () => {
    stop();
    await exited;
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the bundled trace and its first run from the compiled modules alone', async () => {
    const stats = (await (await fetch(`${url}/v1/stats`)).json()) as { messages?: number };
    expect(stats.messages, out).toBe(4323);
    const { runs } = (await (await fetch(`${url}/v1/runs`)).json()) as { runs: unknown[] };
    expect(runs.length).toBeGreaterThan(0);
    const page = await fetch(`${url}/ui/`);
    expect([page.status, (await page.text()).includes('<html')]).toEqual([200, true]);
    expect((await fetch(`${url}/ui/styles.css`)).status).toBe(200);
    const loaded = readFileSync(moduleLog, 'utf8').split('\n');
    // Every module of the service came from dist/: nothing from src/, no TypeScript loader.
    const sources = pathToFileURL(join(process.cwd(), 'src')).href;
    expect(loaded.filter((u) => u.startsWith(sources) || packageOf(u) === 'tsx')).toEqual([]);
    expect(loaded).toContain(pathToFileURL(join(process.cwd(), 'dist/service/clusterer.js')).href);
  });

  it('loads no plotting library', () => {
    const packages = loadedPackages(moduleLog);
    // The log does see packages (the check can fail): the web framework is among them.
    expect(packages.has('fastify')).toBe(true);
    expect(PLOTTING_PACKAGES.filter((p) => packages.has(p))).toEqual([]);
  });

  it('ships the folders of src/ and nothing else: no development tooling (tools/, bench/, test/)', () => {
    const foldersOf = (root: string): string[] => readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
    expect(foldersOf('dist')).toEqual(foldersOf('src'));
  });

  it('stops cleanly on SIGTERM', async () => {
    stop();
    expect(await exited, out).toBe(0);
  });
});

it('alcor-clusters runs the compiled CLI where there are no TypeScript sources (production dependencies only)', async () => {
  await ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'dist-bin-'));
  try {
    mkdirSync(join(dir, 'bin'));
    copyFileSync('bin/alcor-clusters', join(dir, 'bin/alcor-clusters'));
    symlinkSync(join(process.cwd(), 'dist'), join(dir, 'dist'));
    const help = spawnSync(process.execPath, [join(dir, 'bin/alcor-clusters'), 'replay', '--help'], { encoding: 'utf8' });
    expect([help.status, help.stderr]).toEqual([0, '']);
    expect(help.stdout).toMatch(/^Usage: alcor-clusters replay /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 300_000);
