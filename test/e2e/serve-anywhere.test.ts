/**
 * `alcor-clusters serve` started from a folder that is not the checkout: it reads that folder's .env, finds
 * its bundled trace in the package, and writes nothing into the current folder.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { getFreePort } from '../../tools/kafka-broker/index.ts';
import { compiled } from '../helpers/build.ts';

const KEY = 'operator-test-key-0123456789';

it('reads PORT, API_KEYS and the state folders from ./.env, the environment winning, and serves the bundled trace from any folder', async () => {
  const port = await getFreePort();
  const cwd = mkdtempSync(join(tmpdir(), 'elsewhere-'));
  const state = mkdtempSync(join(tmpdir(), 'state-'));
  const models = mkdtempSync(join(tmpdir(), 'models-'));
  // LOG_LEVEL is in both: the environment's warn must win over the file's debug.
  // API_KEYS from .env closes the API: the open API with keys "configured" there.
  const entry = `${createHash('sha256').update(KEY).digest('hex')}:admin`;
  writeFileSync(join(cwd, '.env'), `PORT=${port}\nSTATE_DIR=${state}\nMODELS_DIR=${models}\nAPI_KEYS=${entry}\nLOG_LEVEL=debug\nRECLUSTER_WALLCLOCK_SECONDS=0\n`);
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn' };
  for (const name of ['KAFKA_BROKERS', 'PORT', 'STATE_DIR', 'MODELS_DIR', 'EMBEDDED_TRACE', 'API_KEYS']) delete env[name];
  const child = spawn(process.execPath, [await compiled('src/cli/main.ts'), 'serve'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((done) => child.once('exit', done));
  let stats: { messages?: number } = {};
  let anonymous = 0;
  try {
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline && child.exitCode === null) {
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null);
      if (ready?.ok) {
        anonymous = (await fetch(`http://127.0.0.1:${port}/v1/stats`)).status;
        stats = (await (await fetch(`http://127.0.0.1:${port}/v1/stats`, { headers: { authorization: `Bearer ${KEY}` } })).json()) as { messages?: number };
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exited, out).toBe(0);
  expect(anonymous, out).toBe(401);
  expect(stats.messages, out).toBe(4323);
  // warn from the environment, not debug from the file: no info or debug lines.
  expect(out).not.toMatch(/"level":(20|30)\b/);
  expect(readdirSync(cwd)).toEqual(['.env']);
  // The lock is released at exit; the demo's models go to their own subfolder.
  expect(readdirSync(state)).toEqual(['rejected.jsonl']);
  expect(readdirSync(join(models, 'embedded')).some((f) => f.endsWith('.json'))).toBe(true);
}, 120_000);

it('stops before listening, with one line, when EMBEDDED_TRACE cannot be read', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'elsewhere-'));
  const env: NodeJS.ProcessEnv = { ...process.env, EMBEDDED_TRACE: 'no-such-trace.jsonl.gz', PORT: '0' };
  delete env.KAFKA_BROKERS;
  const child = spawn(process.execPath, [await compiled('src/cli/main.ts'), 'serve'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  const code = await new Promise<number | null>((done) => child.once('exit', done));
  expect(code).toBe(2);
  expect(stdout).toBe('');
  expect(err).toBe('invalid configuration:\n  EMBEDDED_TRACE: cannot read no-such-trace.jsonl.gz\n');
}, 30_000);
