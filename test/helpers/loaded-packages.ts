/** Reading the file that module-log.mjs writes: which packages a process loaded. */
import { readFileSync } from 'node:fs';

/** Packages only the plotting commands may load (bench charts, evaluation plots). */
export const PLOTTING_PACKAGES = ['vega', 'vega-lite', '@resvg/resvg-js'];

/** The npm package a module URL belongs to; null outside node_modules. */
export const packageOf = (url: string): string | null => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1] ?? null;

/** The packages named in a module log (MODULE_LOG of module-log.mjs). */
export function loadedPackages(moduleLog: string): Set<string | null> {
  return new Set(readFileSync(moduleLog, 'utf8').split('\n').map(packageOf));
}
