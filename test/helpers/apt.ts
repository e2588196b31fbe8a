/**
 * Debian packages the test set-up installs when a test needs them and they are missing (Chromium for the
 * dashboard's browser tests, python3-venv for Schemathesis): apt-get as root, or through passwordless sudo.
 * One install at a time across the test files running in parallel (apt holds a lock of its own and fails
 * the second caller instead of waiting).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { withFileLock } from './lock.ts';

const run = promisify(execFile);

export async function aptInstall(packages: string[]): Promise<void> {
  await withFileLock('.cache/apt-install.lock', async () => {
    const sudo = process.getuid?.() === 0 ? [] : ['sudo', '-n'];
    const apt = async (...args: string[]) => {
      const [command, ...rest] = [...sudo, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args];
      await run(command!, rest, { maxBuffer: 64 * 1024 * 1024 });
    };
    await apt('update', '-qq');
    await apt('install', '-y', '-qq', ...packages);
  });
}
