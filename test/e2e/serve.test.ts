/** `alcor-clusters serve` starts the same service as `npm start`, its flags feeding HOST and PORT. */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { getFreePort } from '../../tools/kafka-broker/index.ts';
import { compiled } from '../helpers/build.ts';

it('serves the bundled trace on the port given by --port and stops on SIGTERM', async () => {
  const port = await getFreePort();
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn', MODELS_DIR: mkdtempSync(join(tmpdir(), 'models-')), STATE_DIR: mkdtempSync(join(tmpdir(), 'state-')) };
  delete env.KAFKA_BROKERS;
  const child = spawn(process.execPath, [await compiled('src/cli/main.ts'), 'serve', '--host', '127.0.0.1', '--port', String(port)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  try {
    const deadline = Date.now() + 90_000;
    let stats: { messages?: number } = {};
    while (Date.now() < deadline && child.exitCode === null) {
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null);
      if (ready?.ok) {
        stats = (await (await fetch(`http://127.0.0.1:${port}/v1/stats`)).json()) as { messages?: number };
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(stats.messages, out).toBe(4323);
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
}, 120_000);
