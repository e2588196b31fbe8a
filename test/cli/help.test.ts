/** `alcor-clusters` as a user meets it: the bin's help, each subcommand's help, bad commands. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const bin = (...args: string[]) => run(process.execPath, ['bin/alcor-clusters', ...args]);

const MAIN_HELP = `Usage: alcor-clusters <command> [options]

Clusters cloud VMs and tenants by their network traffic (README.md).

Commands:
  serve     run the service: Kafka (or the bundled trace) in, clusters over REST out
  replay    replay a trace file offline through the pipeline and write the clustering
  produce   stream a trace file into Kafka, one message per line, optionally paced
  fixtures  generate a synthetic trace and its ground truth (seeded, byte-identical)
  evaluate  score a replay result against a fixture's ground truth (ARI, NMI), optionally with a plot
  bench     run the benchmarks and write bench/results/latest.json and a chart

Run \`alcor-clusters <command> --help\` for a command's options. --version prints the version.
`;

describe('alcor-clusters --help', () => {
  it('lists every command with one line each', async () => {
    const { stdout, stderr } = await bin('--help');
    expect(stdout).toBe(MAIN_HELP);
    expect(stderr).toBe('');
  });

  it('prints the list on stderr and exits 2 without a command, and names an unknown one', async () => {
    await expect(bin()).rejects.toMatchObject({ code: 2, stdout: '', stderr: MAIN_HELP });
    await expect(bin('cluster')).rejects.toMatchObject({ code: 2, stderr: `alcor-clusters: unknown command "cluster"\n\n${MAIN_HELP}` });
  });

  it('prints the package version', async () => {
    expect((await bin('--version')).stdout).toBe('0.1.0\n');
  });
});

// Per command: its usage line (first line) and lines of its option list, exactly.
const EXPECTED: Record<string, { usage: string; lines: string[] }> = {
  serve: {
    usage: 'Usage: alcor-clusters serve [--host H] [--port N] [--brokers HOST:PORT[,...]]',
    lines: ['  --port N                   listen port (PORT, default 8080)'],
  },
  replay: {
    usage: 'Usage: alcor-clusters replay <trace.jsonl|trace.jsonl.gz> --out <result.json> [options]',
    lines: [
      '  --json                     print the summary as one JSON document on stdout instead of tables',
      '  --progress                 draw the progress bar even when stderr is not a terminal',
      '  --no-progress              no progress output at all',
      '  --plot FILE.svg|FILE.png   chart of records/s over the replay, clustering runs marked',
      '  --recluster-minutes N      event time between periodic runs; 0 = only the final run (default 5)',
    ],
  },
  produce: {
    usage: 'Usage: alcor-clusters produce <trace.jsonl|trace.jsonl.gz> [options]',
    lines: [
      '  --rate N                   at most N records/s (elements of an array value count one each); default no limit',
      '  --progress                 draw the progress bar even when stderr is not a terminal',
      '  --json                     print the final counts as one JSON document on stdout',
    ],
  },
  fixtures: {
    usage: 'Usage: alcor-clusters fixtures --preset NAME | --name N --seed N --vms N --tenants N [options]',
    lines: ['Presets: small, medium, bench-10k, bench-100k, bench-1m; explicit options override a preset\'s values.', '  --json               print the summary as JSON'],
  },
  evaluate: {
    usage: 'Usage: alcor-clusters evaluate <result.json> <truth.json> [--json] [--confusion] [--plot FILE]',
    lines: ['  --plot FILE   scatter of the VMs on two principal components, coloured by truth and by cluster'],
  },
  bench: {
    usage: 'Usage: alcor-clusters bench [replay] [attribution] [replay-hour] [kafka] [api] [scale] [memory] [placement] [security-groups] [scale-out] [scale-out-one] [scale-out-ingest] [scale-out-failover] [scale-out-reads] [read-slices] [quality] [--plot FILE.svg|FILE.png] [--json]',
    lines: ['  scale     the stages of a clustering run at 10k, 50k and 100k VMs', '  --plot FILE   write the chart there instead (.svg or .png)'],
  },
};

describe.each(Object.entries(EXPECTED))('alcor-clusters %s --help', (name, expected) => {
  it('prints its usage and options on stdout and exits 0', async () => {
    const { stdout, stderr } = await bin(name, '--help');
    const lines = stdout.split('\n');
    expect(lines[0]).toBe(expected.usage);
    for (const line of expected.lines) expect(lines).toContain(line);
    expect(stderr).toBe('');
  });
});

it('`alcor-clusters help <command>` is `<command> --help`', async () => {
  const [a, b] = await Promise.all([bin('help', 'replay'), bin('replay', '--help')]);
  expect(a.stdout).toBe(b.stdout);
  expect(a.stdout.split('\n')[0]).toBe(EXPECTED.replay!.usage);
});

describe('the npm scripts', () => {
  it('keep their own usage line', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli/evaluate.ts', '--help']);
    expect(stdout.split('\n')[0]).toBe('Usage: npm run evaluate -- <result.json> <truth.json> [--json] [--confusion] [--plot FILE]');
  });
});
