/**
 * bench [replay attribution replay-hour kafka api scale memory] [--plot FILE]: the benchmarks of bench/run.ts (run from the repository,
 * which holds bench/ and the generated traces).
 */
import { fileURLToPath } from 'node:url';
import type { Command } from '../command.ts';

/** The benchmarks bench/run.ts runs, in its order, each with one line for --help. */
const BENCH_SECTIONS: ReadonlyArray<readonly [string, string]> = [
  ['replay', 'read + parse bare, pipeline ingest, replay end to end, the stages of one clustering run'],
  ['attribution', 'attribution of addresses to VMs (issue 14): its share of ingest time, ARI of address-only vs named flows'],
  ['replay-hour', 'the replay section on a generated hour of 300 tenants (issue 11): warm runs and searches'],
  ['kafka', 'ingest from a real broker: single-record messages and arrays of 100'],
  ['api', 'GET /v1/vms/{id} latency under load, idle and during a recluster'],
  ['scale', 'the stages of a clustering run at 10k, 50k and 100k VMs'],
  ['memory', 'what the live state costs per VM at 10k, 50k and 100k VMs, and the snapshot codec at 10k'],
  ['placement', 'placement advice at 10k and 100k VMs: its cost, and what it saves over the plain greedy baseline'],
  ['security-groups', 'security groups: the goal over five generated traces, rules per cluster and port, cost against a run at 10k and 100k VMs'],
  ['scale-out', 'members as processes on one broker: records/s with 1-3 members, balance, kill -9 and leader failover, reads during a run'],
  ['scale-out-one', 'only when named: one member against one process on the small fixture, alternated; CPU by thread, profiles by stage, the hop alone'],
  ['scale-out-ingest', "only when named: one member's ingest of 200k single-record messages beside a bare kafkajs consumer and Kafka's tool"],
  ['scale-out-failover', 'only when named: 3 members, kill -9 of a member and of the leader, each cut into session timeout, rejoin, restore'],
  ['scale-out-reads', 'reads on a member that does not lead during a run, 3 members on the 11,642-VM trace of read-slices'],
  ['read-slices', "the longest event-loop slices of a member's run and features work at 485, 11.6k and 29k VMs (in one process)"],
  ['quality', 'only when named: clustering quality over 15 hard generated traces, tuning and unseen seeds'],
];

/** Why the section names are wrong, or null: an unknown name would otherwise run nothing and say nothing. */
export function unknownSections(names: readonly string[]): string | null {
  const unknown = names.filter((n) => !n.startsWith('--') && !BENCH_SECTIONS.some(([s]) => s === n));
  return unknown.length === 0 ? null : `unknown benchmark ${unknown.join(', ')} (${BENCH_SECTIONS.map(([s]) => s).join(', ')})`;
}

const help = (prog: string): string => `Usage: ${prog} [${BENCH_SECTIONS.map(([s]) => s).join('] [')}] [--plot FILE.svg|FILE.png] [--json]

Runs the benchmarks (all, or those named) from the repository's root and writes their figures to
bench/results/latest.json (a partial run keeps the other sections' last figures) and a chart of them to
bench/results/latest.svg. The 1M-record trace is generated into fixtures/generated/ on first use; the Kafka
benchmark starts its own broker (Java 17 and Maven).

${BENCH_SECTIONS.map(([s, what]) => `  ${s.padEnd(8)}  ${what}`).join('\n')}
  --plot FILE   write the chart there instead (.svg or .png)
  --json        stdout holds only the figures' JSON document
`;

async function run(argv: readonly string[], prog: string): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write(help(prog));
    return 0;
  }
  // Names only: a --plot value is not a section.
  const problem = unknownSections(argv.filter((_arg, i) => argv[i - 1] !== '--plot'));
  if (problem !== null) {
    process.stderr.write(`bench: ${problem}\n`);
    return 2;
  }
  const script = fileURLToPath(new URL('../../../bench/run.ts', import.meta.url));
  // bench/run.ts is a script that reads its own argv when loaded.
  process.argv = [process.argv[0]!, script, ...argv];
  await import(script);
  return 0;
}

export const benchCommand: Command = {
  help,
  run,
};
