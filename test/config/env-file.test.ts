/** `.env` is read before the configuration (the environment winning over it) and kept out of git. */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EnvFileError, loadEnvFile } from '../../src/config/env-file.ts';
import { PACKAGE_ROOT } from '../../src/config/package-root.ts';
import { loadServiceConfig } from '../../src/config/service-config.ts';

const folder = (): string => mkdtempSync(join(tmpdir(), 'env-file-'));

describe('loadEnvFile', () => {
  it('sets what the environment leaves unset and keeps what the environment sets, even to the empty string', () => {
    const dir = folder();
    writeFileSync(join(dir, '.env'), '# settings\nPORT=18306\nexport API_KEYS="abc:admin"\nHOST=0.0.0.0\nLOG_LEVEL=debug\n\n');
    const env: NodeJS.ProcessEnv = { HOST: '127.0.0.2', LOG_LEVEL: '' };
    const load = loadEnvFile(join(dir, '.env'), env);
    expect(load).toEqual({ path: join(dir, '.env'), applied: ['API_KEYS', 'PORT'], overridden: ['HOST', 'LOG_LEVEL'] });
    expect(env).toEqual({ HOST: '127.0.0.2', LOG_LEVEL: '', PORT: '18306', API_KEYS: 'abc:admin' });
  });

  it('is nothing when there is no file', () => {
    const env: NodeJS.ProcessEnv = {};
    expect(loadEnvFile(join(folder(), '.env'), env)).toBeNull();
    expect(env).toEqual({});
  });

  it('refuses a line that is not NAME=value instead of letting it swallow the next line', () => {
    const dir = folder();
    writeFileSync(join(dir, '.env'), 'PORT=1\nAPI KEYS\nHOST=0.0.0.0\n');
    const env: NodeJS.ProcessEnv = {};
    expect(() => loadEnvFile(join(dir, '.env'), env)).toThrow(new EnvFileError(`${join(dir, '.env')}: "API KEYS" is not a NAME=value line (a # starts a comment)`));
    expect(env).toEqual({});
  });

  it('reads .env from the current folder by default', () => {
    const dir = folder();
    writeFileSync(join(dir, '.env'), 'PORT=18307\n');
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const env: NodeJS.ProcessEnv = {};
      expect(loadEnvFile(undefined, env)?.applied).toEqual(['PORT']);
      expect(env.PORT).toBe('18307');
    } finally {
      process.chdir(cwd);
    }
  });
});

describe('.env and .env.example', () => {
  it('.env is ignored by git', () => {
    expect(execFileSync('git', ['check-ignore', '.env'], { encoding: 'utf8' }).trim()).toBe('.env');
  });

  it('.env.example copied to .env configures the defaults: no path in it is relative to the current folder', () => {
    const dir = folder();
    copyFileSync('.env.example', join(dir, '.env'));
    const env: NodeJS.ProcessEnv = {};
    loadEnvFile(join(dir, '.env'), env);
    expect(loadServiceConfig(env)).toEqual(loadServiceConfig({}));
  });

  it('state, models and the bundled trace default to the package folder, not the current folder', () => {
    const { env } = loadServiceConfig({});
    expect(env.STATE_DIR).toBe(join(PACKAGE_ROOT, 'state'));
    expect(env.MODELS_DIR).toBe(join(PACKAGE_ROOT, 'models'));
    expect(env.EMBEDDED_TRACE).toBe(join(PACKAGE_ROOT, 'fixtures', 'small.jsonl.gz'));
    expect(existsSync(env.EMBEDDED_TRACE)).toBe(true);
    expect(existsSync(join(PACKAGE_ROOT, 'package.json'))).toBe(true);
  });
});
