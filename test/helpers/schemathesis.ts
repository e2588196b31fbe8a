/**
 * Schemathesis (the OpenAPI-driven property-based fuzzer, from PyPI) for the tests: installed on first use
 * into a venv of its own under the git-ignored .cache/, at a pinned version, as bench/crosscheck.ts does for
 * scikit-learn. A test tool only: nothing of the product imports or needs it.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const SCHEMATHESIS_VERSION = '4.32.5';
const VENV = resolve('.cache/schemathesis-venv');
const CLI = join(VENV, 'bin', 'schemathesis');

async function installedVersion(): Promise<string | null> {
  if (!existsSync(CLI)) return null;
  try {
    const { stdout } = await run(CLI, ['--version']);
    return /version (\S+)/.exec(stdout)?.[1] ?? null;
  } catch {
    return null;
  }
}

/** The path of the pinned Schemathesis CLI, creating the venv and installing it when needed. */
export async function ensureSchemathesis(): Promise<string> {
  if ((await installedVersion()) === SCHEMATHESIS_VERSION) return CLI;
  try {
    if (!existsSync(join(VENV, 'bin', 'python'))) await run('python3', ['-m', 'venv', VENV]);
    await run(join(VENV, 'bin', 'python'), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', `schemathesis==${SCHEMATHESIS_VERSION}`], {
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new Error(
      `could not install schemathesis==${SCHEMATHESIS_VERSION} into ${VENV}: it needs python3 with the venv module and pip access to PyPI ` +
        `(.ci/run installs python3-venv); remove the folder to retry.\n${detail}`,
    );
  }
  const version = await installedVersion();
  if (version !== SCHEMATHESIS_VERSION) throw new Error(`${CLI} reports version ${version}, expected ${SCHEMATHESIS_VERSION}`);
  return CLI;
}

export interface FuzzResult {
  exitCode: number;
  output: string;
}

export interface FuzzOptions {
  /** Extra request headers, e.g. `Authorization: Bearer <key>`. */
  headers?: string[];
  /** Test cases per operation and phase: bounds the run's length. */
  maxExamples: number;
  seed: number;
}

/**
 * `schemathesis run <document> --checks all` with a fixed seed and one worker. It runs in a fresh temporary
 * folder, so Hypothesis's example database from an earlier run cannot change what this one tries.
 */
export async function fuzz(cli: string, documentUrl: string, options: FuzzOptions): Promise<FuzzResult> {
  const cwd = await mkdtemp(join(tmpdir(), 'schemathesis-'));
  const args = [
    'run',
    documentUrl,
    '--checks',
    'all',
    '--max-examples',
    String(options.maxExamples),
    '--seed',
    String(options.seed),
    '--workers',
    '1',
    '--request-timeout',
    '20',
    '--no-color',
    ...(options.headers ?? []).flatMap((h) => ['--header', h]),
  ];
  try {
    const { stdout, stderr } = await run(cli, args, { cwd, maxBuffer: 64 * 1024 * 1024, timeout: 170_000, env: { ...process.env, NO_COLOR: '1' } });
    return { exitCode: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string; message: string };
    return { exitCode: typeof e.code === 'number' ? e.code : -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}\n${e.message}` };
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
}
