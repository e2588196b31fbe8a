/**
 * How many vitest workers a run gets (vitest.config.ts). Two on two cores, where most of a run waits on
 * brokers, processes and worker threads; one when other work already keeps the cores busy twice over (the
 * 1-minute load average), since two then made timing-bound end-to-end files miss their deadlines
 * (docs/testing.md). The threshold is high because `npm test` has just type-checked and linted, which alone
 * lifts an idle machine's load average to about 1.
 */

/**
 * `--maxWorkers N` or `--maxWorkers=N` (also `--max-workers`) from vitest's command line. vitest applies it to
 * the root configuration only, not to the projects that extend it (vitest.config.ts has two), so without
 * this a busy machine's fallback to one worker silently beat the command line.
 */
export function askedWorkers(argv: readonly string[]): number | undefined {
  for (let i = 0; i < argv.length; i++) {
    const m = /^--max-?[wW]orkers(?:=(.*))?$/.exec(argv[i]!);
    if (m === null) continue;
    const n = Number(m[1] ?? argv[i + 1]);
    if (Number.isInteger(n) && n > 0) return n;
  }
  return undefined;
}

export function workerCount(argv: readonly string[], load1: number, cores: number): number {
  const asked = askedWorkers(argv);
  if (asked !== undefined) return asked;
  if (load1 >= 2 * cores) return 1;
  return Math.max(Math.min(2, cores), cores - 1);
}
