/**
 * The `.env` file of the folder a command is started from (`.env.example` lists its variables), read into
 * the environment before the configuration is parsed. The real environment wins: a variable already set,
 * even to the empty string, keeps its value (as with Node's --env-file and dotenv), so `PORT=9000 npm start`
 * overrides the file. Parsed by Node's own parser (util.parseEnv), with its syntax checked: a line that is
 * not NAME=value would otherwise swallow the line after it.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { ServiceError } from '../errors/catalogue.ts';

const ENV_FILE = '.env';

export interface EnvFileLoad {
  /** Absolute path of the file read. */
  path: string;
  /** Variables taken from the file. */
  applied: string[];
  /** Variables of the file that the environment already set: the environment's value was kept. */
  overridden: string[];
}

export class EnvFileError extends ServiceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('env_file_invalid', message, options);
    this.name = 'EnvFileError';
  }
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Reads `path` (default `.env` in the current folder) into `env`; null when there is no such file. */
export function loadEnvFile(path: string = ENV_FILE, env: NodeJS.ProcessEnv = process.env): EnvFileLoad | null {
  const absolute = resolve(path);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') return null;
    throw new EnvFileError(`cannot read ${absolute}: ${e.code ?? e.message}`, { cause: err });
  }
  const parsed = parseEnv(text);
  for (const name of Object.keys(parsed)) {
    if (!NAME.test(name)) {
      const line = name.split('\n')[0]!.slice(0, 80);
      throw new EnvFileError(`${absolute}: "${line}" is not a NAME=value line (a # starts a comment)`);
    }
  }
  const applied: string[] = [];
  const overridden: string[] = [];
  for (const [name, value] of Object.entries(parsed)) {
    if (env[name] !== undefined) overridden.push(name);
    else {
      env[name] = value ?? '';
      applied.push(name);
    }
  }
  return { path: absolute, applied: applied.sort(), overridden: overridden.sort() };
}
