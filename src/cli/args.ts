/**
 * Flag parsing for the command-line tools. Syntax only: `--name value`, `--name=value`, boolean flags
 * named by the caller, `--` ends the flags. Meaning and validation belong to each tool's zod schema.
 * Flags are kebab-case (--window-minutes); values are returned under camelCase keys (windowMinutes).
 */
export interface ParsedArgs {
  positionals: string[];
  values: Record<string, string | boolean>;
}

const camel = (s: string): string => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** A flag as the user typed it, from its camelCase key: windwMinutes is --windw-minutes. */
export const flagName = (key: string): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** Edit distance, for "did you mean": a typo is a letter or two away from the flag meant. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next.push(Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    row = next;
  }
  return row[b.length]!;
}

/**
 * The complaint about flags a command does not know (null when there are none), named as typed, each with
 * the nearest known flag when one is close: "unknown option --windw-minutes (did you mean --window-minutes?)".
 */
export function unknownFlags(keys: readonly string[], known: readonly string[]): string | null {
  const unknown = keys.filter((k) => !known.includes(k));
  if (unknown.length === 0) return null;
  const described = unknown.map((k) => {
    const near = known.map((n) => ({ n, d: distance(k.toLowerCase(), n.toLowerCase()) })).sort((x, y) => x.d - y.d)[0];
    return near !== undefined && near.d <= Math.max(2, Math.floor(k.length / 4)) ? `${flagName(k)} (did you mean ${flagName(near.n)}?)` : flagName(k);
  });
  return `unknown option${unknown.length > 1 ? 's' : ''} ${described.join(', ')}`;
}

export function parseFlags(argv: readonly string[], booleanFlags: readonly string[] = []): ParsedArgs {
  const positionals: string[] = [];
  const values: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--') || arg.length === 2) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    if (eq !== -1) values[camel(name)] = arg.slice(eq + 1);
    else if (booleanFlags.includes(name)) values[camel(name)] = true;
    else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new Error(`--${name} needs a value (--${name} VALUE)`);
      values[camel(name)] = next;
      i++;
    }
  }
  return { positionals, values };
}

/**
 * Runs a command's main function: its return value is the exit code; an error is printed as one line
 * (a missing file by name), never as a stack trace.
 */
export function runCli(name: string, main: () => Promise<number>): void {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const e = err as NodeJS.ErrnoException;
      process.stderr.write(`${name}: ${e.code === 'ENOENT' ? `no such file: ${e.path}` : e.message}\n`);
      process.exitCode = 1;
    },
  );
}
