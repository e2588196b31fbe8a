/**
 * Flag parsing for the command-line tools: node's parseArgs for the syntax, the zod schema of the options
 * for the meaning. Flags are kebab-case (--window-minutes); the schema's keys are camelCase.
 */
import { parseArgs } from 'node:util';

export interface ParsedArgs {
  positionals: string[];
  /** Flag values keyed by camelCase name. */
  values: Record<string, string | boolean>;
}

const camel = (s: string): string => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export function parseFlags(argv: string[], booleanFlags: readonly string[] = []): ParsedArgs {
  const { values, positionals, tokens } = parseArgs({ args: argv, strict: false, allowPositionals: true, tokens: true });
  const out: Record<string, string | boolean> = {};
  for (const t of tokens ?? []) {
    if (t.kind !== 'option') continue;
    const v = values[t.name];
    if (typeof v === 'string' && booleanFlags.includes(t.name)) out[camel(t.name)] = v;
    else if (typeof v === 'boolean' && !booleanFlags.includes(t.name))
      throw new Error(`--${t.name} needs a value (--${t.name} VALUE or --${t.name}=VALUE)`);
    else out[camel(t.name)] = v as string | boolean;
  }
  return { positionals, values: out };
}
