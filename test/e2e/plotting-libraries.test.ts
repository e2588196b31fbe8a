/**
 * The plotting libraries (vega, vega-lite, resvg) are for the commands that plot: a service started by the
 * CLI (`alcor-clusters serve`, the CLI's entry, whose imports differ from `node dist/main.js`'s) loads none
 * of them, the bundled trace read and a first run done. test/e2e/dist.test.ts checks the same of the service's
 * own entry. Both run the build, whose module graph is the sources' (test/helpers/build.ts).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { getFreePort } from '../../tools/kafka-broker/index.ts';
import { loadedPackages, PLOTTING_PACKAGES } from '../helpers/loaded-packages.ts';
import { waitFor } from '../helpers/service-process.ts';
import { compiled } from '../helpers/build.ts';

it('a started service has loaded no plotting library', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'no-plots-'));
  const moduleLog = join(dir, 'modules.log');
  const port = await getFreePort();
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn', MODELS_DIR: join(dir, 'models'), STATE_DIR: join(dir, 'state'), MODULE_LOG: moduleLog };
  delete env.KAFKA_BROKERS;
  delete env.NODE_OPTIONS;
  const child = spawn(process.execPath, ['--import', './test/helpers/module-log.mjs', await compiled('src/cli/main.ts'), 'serve', '--port', String(port)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  try {
    const ready = async (): Promise<true | undefined> =>
      (await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false)) || child.exitCode !== null ? true : undefined;
    await waitFor(ready, 90_000, 'the service to be ready');
    expect(child.exitCode, out).toBeNull();
    const packages = loadedPackages(moduleLog);
    // The log does see packages (the check can fail): the web framework and the Kafka client are among them.
    expect([packages.has('fastify'), packages.has('kafkajs')]).toEqual([true, true]);
    expect(PLOTTING_PACKAGES.filter((p) => packages.has(p))).toEqual([]);
  } finally {
    child.kill('SIGTERM');
    expect(await exited, out).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
