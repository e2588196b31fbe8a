/**
 * The folder of this package (the checkout, or where npm put it): bundled files and the default state
 * folders are found from here, so that the commands work the same from whatever folder they are started in.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url)).replace(/[/\\]$/, '');

/** A path inside the package, absolute. */
export function packagePath(relative: string): string {
  return resolve(PACKAGE_ROOT, relative);
}
