/**
 * The browser the dashboard's tests drive: Debian's Chromium (never a downloaded browser). The test set-up
 * brings it as it brings the Kafka jars: when it is missing at the default path, apt-get installs it
 * (test/helpers/apt.ts), once, however many browser test files run in parallel.
 */
import { existsSync } from 'node:fs';
import { aptInstall } from './apt.ts';
import { withFileLock } from './lock.ts';

/** Where Debian's chromium package puts the browser. */
export const APT_CHROMIUM = '/usr/bin/chromium';

/** Debian's chromium package, as .ci/run used to install it before `npm test`. */
const aptInstallChromium = () => aptInstall(['chromium']);

export interface ChromiumOptions {
  /** Default: CHROMIUM_PATH, else the apt package's path. */
  path?: string;
  /** How to install it; default: apt-get for the apt package's path, nothing for a path of your own. */
  install?: (() => Promise<void>) | null;
  lock?: string;
}

/** The path of a Chromium to launch, installed first when missing and installable; else a clear error. */
export async function ensureChromium(options: ChromiumOptions = {}): Promise<string> {
  const path = options.path ?? process.env.CHROMIUM_PATH ?? APT_CHROMIUM;
  const install = options.install !== undefined ? options.install : path === APT_CHROMIUM ? aptInstallChromium : null;
  if (existsSync(path)) return path;
  const help = "the dashboard's browser tests need Debian's Chromium: apt-get install -y chromium (as root), or set CHROMIUM_PATH to a Chromium binary";
  if (install === null) throw new Error(`Chromium is missing at ${path}: ${help}`);
  let failure = '';
  await withFileLock(options.lock ?? '.cache/chromium-install.lock', async () => {
    if (existsSync(path)) return;
    try {
      await install();
    } catch (err) {
      const stderr = (err as { stderr?: unknown }).stderr;
      const lastLine = typeof stderr === 'string' ? stderr.trim().split('\n').at(-1) : undefined;
      failure = `${err instanceof Error ? err.message.split('\n')[0] : String(err)}${lastLine ? `: ${lastLine}` : ''}`;
    }
  });
  if (!existsSync(path)) throw new Error(`Chromium is missing at ${path} and apt-get could not install it (${failure || 'it put no browser there'}): ${help}`);
  return path;
}
