/**
 * The Dockerfile read as the image it builds (there is no Docker engine here): its instructions in order,
 * the environment, user, working directory and volumes of the final image, and compose's `${VAR:-default}`
 * interpolation, so that deploy tests check what the shipped files really configure.
 */
import { readFileSync } from 'node:fs';

export interface Instruction {
  keyword: string;
  args: string;
}

export interface Image {
  instructions: Instruction[];
  env: Record<string, string>;
  /** The last USER (null: root, Docker's default). */
  user: string | null;
  workdir: string;
  volumes: string[];
}

/** `KEY=value KEY2="a b"` (ENV's form with `=`). */
function envPairs(args: string): Array<[string, string]> {
  return [...args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|\S*)/g)].map((m) => [m[1]!, m[3] ?? m[2]!]);
}

/** VOLUME's JSON array or space-separated paths. */
function volumePaths(args: string): string[] {
  return args.trim().startsWith('[') ? (JSON.parse(args) as string[]) : args.trim().split(/\s+/);
}

export function readImage(path = 'Dockerfile'): Image {
  const lines = readFileSync(path, 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const instructions = lines.map((l) => {
    const space = l.indexOf(' ');
    return { keyword: l.slice(0, space).toUpperCase(), args: l.slice(space + 1).trim() };
  });
  const image: Image = { instructions, env: {}, user: null, workdir: '/', volumes: [] };
  for (const { keyword, args } of instructions) {
    if (keyword === 'ENV') for (const [k, v] of envPairs(args)) image.env[k] = v;
    else if (keyword === 'USER') image.user = args;
    else if (keyword === 'WORKDIR') image.workdir = args;
    else if (keyword === 'VOLUME') image.volumes.push(...volumePaths(args));
  }
  return image;
}

/** Whether a USER value (`name`, `uid`, `name:group`, `uid:gid`) is root. */
export const isRootUser = (user: string | null): boolean => user === null || ['root', '0'].includes(user.split(':')[0]!);

/** Compose's interpolation of `${VAR}`, `${VAR:-default}` and `${VAR-default}` from `env`. */
export function interpolate(value: string, env: Record<string, string | undefined>): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}/g, (_all, name: string, op: string | undefined, fallback: string | undefined) => {
    const v = env[name];
    if (op === ':-') return v === undefined || v === '' ? (fallback ?? '') : v;
    if (op === '-') return v ?? fallback ?? '';
    return v ?? '';
  });
}

/** Whether `path` is `dir` or inside it. */
export const isUnder = (path: string, dir: string): boolean => path === dir || path.startsWith(`${dir.replace(/\/$/, '')}/`);
