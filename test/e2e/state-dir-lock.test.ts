/** The service refuses a second process on its STATE_DIR, and the lock goes with the first (the lock itself: test/storage/state-lock.test.ts). */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ServiceProcess, startServiceProcess } from '../helpers/service-process.ts';

describe('the service with a shared STATE_DIR', () => {
  const services: ServiceProcess[] = [];
  afterEach(async () => {
    for (const s of services.splice(0)) await s.stop('SIGKILL');
  });

  it('refuses to start a second process on the same STATE_DIR with a clear error and exit code 3', async () => {
    const STATE_DIR = mkdtempSync(join(tmpdir(), 'state-lock-'));
    const first = await startServiceProcess({ STATE_DIR, RECLUSTER_WALLCLOCK_SECONDS: '0' });
    services.push(first);
    // Should it start after all, it is stopped with the others.
    const second = startServiceProcess({ STATE_DIR, RECLUSTER_WALLCLOCK_SECONDS: '0' }).then((s) => {
      services.push(s);
      return s;
    });
    await expect(second).rejects.toThrow(/^service exited with 3:\nalcor-traffic-clusters: STATE_DIR is in use: .*alcor\.lock is held by pid \d+ on host/);
    // The first is unaffected, and its lock goes with it.
    expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
    expect(await first.stop('SIGTERM')).toBe(0);
    const third = await startServiceProcess({ STATE_DIR, RECLUSTER_WALLCLOCK_SECONDS: '0' });
    services.push(third);
    expect((await fetch(`${third.url}/healthz`)).status).toBe(200);
  }, 120_000);
});
