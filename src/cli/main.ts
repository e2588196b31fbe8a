/**
 * alcor-clusters <command> [options]: one entry point for every command (bin/alcor-clusters runs this
 * file with tsx). Each command is the same module as its npm script; this only picks it by name.
 */
import { readFileSync } from 'node:fs';
import { runCli } from './args.ts';
import { BIN, type Command } from './command.ts';
import { benchCommand } from './commands/bench.ts';
import { evaluateCommand } from './commands/evaluate.ts';
import { fixturesCommand } from './commands/fixtures.ts';
import { produceCommand } from './commands/produce.ts';
import { replayCommand } from './commands/replay.ts';
import { serveCommand } from './commands/serve.ts';

export const COMMANDS: readonly Command[] = [serveCommand, replayCommand, produceCommand, fixturesCommand, evaluateCommand, benchCommand];

export function mainHelp(): string {
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

export async function dispatch(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const target = name === 'help' && rest[0] !== undefined ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    if (target) {
      process.stdout.write(target.help(`${BIN} ${target.name}`));
      return 0;
    }
    (name === undefined ? process.stderr : process.stdout).write(mainHelp());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`${BIN}: unknown command "${name}"\n\n${mainHelp()}`);
    return 2;
  }
  return command.run(rest, `${BIN} ${command.name}`);
}

// An error line names the subcommand that failed ("alcor-clusters replay: no such file: x.gz").
const named = COMMANDS.find((c) => c.name === process.argv[2]);
runCli(named ? `${BIN} ${named.name}` : BIN, () => dispatch(process.argv.slice(2)));
