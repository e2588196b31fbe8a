/**
 * A subcommand of `alcor-clusters`. The same module serves the npm script (`npm run replay -- ...`) and the
 * bin (`alcor-clusters replay ...`); only the usage line's prefix differs.
 */
export interface Command {
  /** The full `--help` text; `prog` is how the user invoked it ("alcor-clusters replay"). */
  help(prog: string): string;
  /** Exit code: 0 done, 1 failed, 2 bad usage. */
  run(argv: readonly string[], prog: string): Promise<number>;
}

/** A command as the list knows it: loaded only when run, so that `--help` does not load every module. */
export interface CommandEntry {
  name: string;
  /** One line for the list of commands. */
  summary: string;
  load(): Promise<Command>;
}

export const BIN = 'alcor-clusters';
