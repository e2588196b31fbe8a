/**
 * npm run bench: runs the benchmarks and writes their figures to bench/results/latest.json (and prints
 * them). Traces are generated on demand into fixtures/generated/ (git-ignored).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { benchReplay } from './replay-bench.ts';

const TRACE = 'fixtures/generated/bench-1m.jsonl.gz';

async function main(): Promise<void> {
  if (!existsSync(TRACE)) {
    process.stderr.write(`generating ${TRACE} (once)...\n`);
    execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/fixtures.ts', '--preset', 'bench-1m'], { stdio: 'inherit' });
  }
  const started = new Date().toISOString();
  process.stderr.write('replay benchmark (3 passes)...\n');
  const replay = await benchReplay(TRACE);
  const figures = {
    started,
    machine: { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memory_gb: Math.round(totalmem() / 2 ** 30) },
    replay,
  };
  await mkdir('bench/results', { recursive: true });
  await writeFile('bench/results/latest.json', `${JSON.stringify(figures, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\nwritten to bench/results/latest.json\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
