/**
 * alcor-clusters <command> [options]: one entry point for every command (bin/alcor-clusters runs this
 * file with tsx). Each command is the same module as its npm script; this only picks it by name.
 */
import { readFileSync } from 'node:fs';
import { runCli } from './args.ts';
import { BIN, type CommandEntry } from './command.ts';

const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'serve',
    summary: 'run the service: Kafka (or the bundled trace) in, clusters over REST out',
    load: async () => (await import('./commands/serve.ts')).serveCommand,
  },
  {
    name: 'replay',
    summary: 'replay a trace file offline through the pipeline and write the clustering',
    load: async () => (await import('./commands/replay.ts')).replayCommand,
  },
  {
    name: 'produce',
    summary: 'stream a trace file into Kafka, one message per line, optionally paced',
    load: async () => (await import('./commands/produce.ts')).produceCommand,
  },
  {
    name: 'fixtures',
    summary: 'generate a synthetic trace and its ground truth (seeded, byte-identical)',
    load: async () => (await import('./commands/fixtures.ts')).fixturesCommand,
  },
  {
    name: 'evaluate',
    summary: "score a replay result against a fixture's ground truth (ARI, NMI), optionally with a plot",
    load: async () => (await import('./commands/evaluate.ts')).evaluateCommand,
  },
  {
    name: 'bench',
    summary: 'run the benchmarks and write bench/results/latest.json and a chart',
    load: async () => (await import('./commands/bench.ts')).benchCommand,
  },
];

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `Usage: ${BIN} <command> [options]

Clusters cloud VMs and tenants by their network traffic (README.md).

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run \`${BIN} <command> --help\` for a command's options. --version prints the version.
`;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function dispatch(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const target = name === 'help' && rest[0] !== undefined ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    if (target) {
      process.stdout.write((await target.load()).help(`${BIN} ${target.name}`));
      return 0;
    }
    (name === undefined ? process.stderr : process.stdout).write(mainHelp());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) {
    process.stderr.write(`${BIN}: unknown command "${name}"\n\n${mainHelp()}`);
    return 2;
  }
  return (await entry.load()).run(rest, `${BIN} ${entry.name}`);
}

// An error line names the subcommand that failed ("alcor-clusters replay: no such file: x.gz").
const named = COMMANDS.find((c) => c.name === process.argv[2]);
runCli(named ? `${BIN} ${named.name}` : BIN, () => dispatch(process.argv.slice(2)));
