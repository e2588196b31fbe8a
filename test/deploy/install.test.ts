/**
 * A fresh clone installs as committed: `npm ci` / `npm install` neither rewrite package-lock.json (its root
 * entry mirrors package.json) nor warn EBADENGINE on the oldest Node that package.json's engines admit, and
 * the README tells a newcomer one install command.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

interface Manifest {
  name: string;
  version: string;
  bin?: Record<string, string>;
  engines?: { node?: string };
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  license?: string;
}

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as Manifest;
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, Manifest> };

type Version = [number, number, number];

/** The lowest version a bound names: `20` and `20.x` are 20.0.0. */
function lowest(text: string): Version {
  const parts = text.replace(/^v/, '').split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : 0));
  return [parts[0] ?? 0, parts[1] ?? 0, parts[2] ?? 0];
}

const cmp = (a: Version, b: Version): number => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

/** How many leading parts a version text pins: `20` 1, `20.19` 2, `20.19.0` 3; `x` and `*` end it. */
function pinned(text: string): number {
  const parts = text.split('.');
  const i = parts.findIndex((p) => !/^\d+$/.test(p));
  return i === -1 ? parts.length : i;
}

/** The npm engines ranges found in the lock: `||` of space-separated comparators (>=, >, <=, <, ^, ~, bare, x). */
function satisfies(v: Version, range: string): boolean {
  return range.split('||').some((alternative) => {
    const comparators = alternative.trim().replace(/(>=|<=|>|<|=|\^|~)\s+/g, '$1').split(/\s+/).filter((c) => c !== '' && c !== '*');
    return comparators.every((c) => {
      const m = /^(>=|<=|>|<|=|\^|~)?(.+)$/.exec(c)!;
      const op = m[1] ?? '';
      const bound = lowest(m[2]!);
      const d = cmp(v, bound);
      if (op === '>=') return d >= 0;
      if (op === '>') return d > 0;
      if (op === '<=') return d <= 0;
      if (op === '<') return d < 0;
      // ^ keeps the major (every 20.x from the bound on); ~ and a partial version keep what they pin.
      const keep = op === '^' ? 1 : op === '~' ? Math.min(2, pinned(m[2]!)) : pinned(m[2]!);
      return d >= 0 && v.slice(0, keep).every((x, i) => x === bound[i]);
    });
  });
}

describe('package.json and package-lock.json', () => {
  it('the lock root mirrors package.json, bin included, so that npm install leaves the lock as committed', () => {
    const root = lock.packages['']!;
    expect({ name: root.name, version: root.version, bin: root.bin, engines: root.engines, dependencies: root.dependencies, devDependencies: root.devDependencies }).toEqual({
      name: pkg.name,
      version: pkg.version,
      bin: pkg.bin,
      engines: pkg.engines,
      dependencies: pkg.dependencies,
      devDependencies: pkg.devDependencies,
    });
  });

  it('every locked package supports the oldest Node that engines admit (no EBADENGINE on Node 20)', () => {
    const range = pkg.engines?.node ?? '';
    const oldest = lowest(/^>=\s*(\S+)$/.exec(range)?.[1] ?? 'none');
    expect(oldest[0]).toBe(20);
    const refused = Object.entries(lock.packages)
      .filter(([path, p]) => path !== '' && typeof p.engines?.node === 'string' && !satisfies(oldest, p.engines.node))
      .map(([path, p]) => `${path.replace(/^.*node_modules\//, '')}@${p.version} wants node ${p.engines?.node}`);
    expect(refused).toEqual([]);
  });

  it('reads the engines ranges as npm does', () => {
    expect(satisfies([20, 19, 0], '^20.19.0 || >=22.12.0')).toBe(true);
    expect(satisfies([20, 18, 9], '^20.19.0 || >=22.12.0')).toBe(false);
    expect(satisfies([20, 19, 0], '>=22')).toBe(false);
    expect(satisfies([20, 19, 0], '18 || 20 || >=22')).toBe(true);
    expect(satisfies([21, 0, 0], '18 || 20 || >=22')).toBe(false);
    expect(satisfies([20, 19, 0], '10.* || >= 12.*')).toBe(true);
    expect(satisfies([20, 19, 0], '>=16 || 14 >=14.17')).toBe(true);
    expect(satisfies([14, 16, 0], '>=16 || 14 >=14.17')).toBe(false);
    expect(satisfies([20, 19, 0], '^8.16.0 || ^10.6.0 || >=11.0.0')).toBe(true);
    expect(satisfies([20, 19, 0], '~20.18')).toBe(false);
  });
});

describe('README', () => {
  it('installs with one command, npm ci (the lock as committed), as CI and the Dockerfile do', () => {
    const readme = readFileSync('README.md', 'utf8');
    expect(readme).toMatch(/^npm ci\b/m);
    expect(readme.match(/npm install\b/g) ?? []).toEqual([]);
    expect(readFileSync('.ci/run', 'utf8')).toMatch(/^npm ci\b/m);
    expect(readFileSync('Dockerfile', 'utf8')).toMatch(/npm ci\b/);
  });
});
