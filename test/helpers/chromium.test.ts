/** The test set-up brings the dashboard tests' Chromium when it is missing, or says clearly why it cannot. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureChromium } from './chromium.ts';

describe('ensureChromium', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chromium-setup-'));
  const lock = join(dir, 'install.lock');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('uses a browser already there without installing anything', async () => {
    const path = join(dir, 'present');
    writeFileSync(path, '');
    let installs = 0;
    const install = async () => {
      installs += 1;
    };
    expect(await ensureChromium({ path, install, lock })).toBe(path);
    expect(installs).toBe(0);
  });

  it('installs a missing browser once, however many test files ask at the same time', async () => {
    const path = join(dir, 'installed');
    let installs = 0;
    const install = async () => {
      installs += 1;
      await new Promise((r) => setTimeout(r, 50));
      writeFileSync(path, '');
    };
    expect(await Promise.all([1, 2, 3].map(() => ensureChromium({ path, install, lock })))).toEqual([path, path, path]);
    expect(installs).toBe(1);
  });

  it('says what failed and what to do when the install fails', async () => {
    const path = join(dir, 'never');
    const install = async () => {
      throw Object.assign(new Error('Command failed: apt-get install -y -qq chromium'), { stderr: 'E: Unable to locate package chromium\n' });
    };
    await expect(ensureChromium({ path, install, lock })).rejects.toThrow(
      `Chromium is missing at ${path} and apt-get could not install it (Command failed: apt-get install -y -qq chromium: E: Unable to locate package chromium): the dashboard's browser tests need Debian's Chromium: apt-get install -y chromium (as root), or set CHROMIUM_PATH to a Chromium binary`,
    );
  });

  it('installs nothing for a path of your own (CHROMIUM_PATH) that is missing', async () => {
    const path = join(dir, 'custom');
    await expect(ensureChromium({ path, install: null, lock })).rejects.toThrow(`Chromium is missing at ${path}: the dashboard's browser tests need`);
  });
});
