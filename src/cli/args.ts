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
