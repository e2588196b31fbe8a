/** One process per STATE_DIR: the lock file and its stale detection (the service refusing a second start: test/e2e/state-dir-lock.test.ts). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireStateLock, LOCK_FILE, type StateLock, StateDirLockedError } from '../../src/storage/state-lock.ts';

const held: StateLock[] = [];
afterEach(() => {
  for (const l of held.splice(0)) l.release();
});
const take = (dir: string, options: Parameters<typeof acquireStateLock>[1] = {}): StateLock => {
  const l = acquireStateLock(dir, options);
  held.push(l);
  return l;
};
const freshDir = (): string => mkdtempSync(join(tmpdir(), 'state-lock-'));
/** A pid that belonged to a process which has exited. */
const deadPid = (): number => {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
};

describe('STATE_DIR lock', () => {
  it('refuses a second holder, naming the first; the first release frees it', async () => {
    const dir = freshDir();
    const first = take(dir, { pid: 1, host: 'box-a' });
    expect(JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: 1, host: 'box-a' });
    // Both pid 1 in their containers: another host name, a fresh lock.
    let refused: unknown;
    try {
      acquireStateLock(dir, { pid: 1, host: 'box-b' });
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(StateDirLockedError);
    expect((refused as Error).message).toMatch(new RegExp(`^STATE_DIR is in use: ${join(dir, LOCK_FILE)} is held by pid 1 on host box-a \\(since .+\\)\\. One service per STATE_DIR`));
    // Our own pid on our own host is no proof of death either (two containers sharing a host name).
    expect(() => acquireStateLock(dir, { pid: 1, host: 'box-a' })).toThrow(StateDirLockedError);
    first.release();
    expect(take(dir, { pid: 1, host: 'box-b' }).owner.host).toBe('box-b');
  });

  it('takes over at once a lock whose holder died on this host', () => {
    const dir = freshDir();
    const pid = deadPid();
    take(dir, { pid, host: 'here' });
    held.pop(); // left behind as by kill -9: never released
    const next = take(dir, { pid: process.pid, host: 'here' });
    expect(next.tookOverFrom?.pid).toBe(pid);
    // A live holder on this host is respected.
    expect(() => acquireStateLock(dir, { pid: process.pid + 1, host: 'here', isAlive: () => true })).toThrow(StateDirLockedError);
  });

  it('takes over a lock from another host once it has not been refreshed for the stale time; a live holder keeps it fresh', async () => {
    const dir = freshDir();
    // Refreshed every 20 ms, judged stale after 1 s: well past the stale time, a live holder still holds it.
    const live = take(dir, { pid: 7, host: 'box-a', staleAfterMs: 1000, refreshMs: 20 });
    await new Promise((r) => setTimeout(r, 1500));
    expect(() => acquireStateLock(dir, { pid: 8, host: 'box-b', staleAfterMs: 1000 })).toThrow(StateDirLockedError);
    live.release();
    // A dead container's lock: never refreshed again.
    await writeFile(join(dir, LOCK_FILE), JSON.stringify({ pid: 1, host: 'gone', startedAt: 'x', token: 't' }));
    const old = new Date(Date.now() - 5000);
    await utimes(join(dir, LOCK_FILE), old, old);
    expect(take(dir, { pid: 1, host: 'box-b', staleAfterMs: 1000 }).tookOverFrom).toEqual({ pid: 1, host: 'gone', startedAt: 'x', token: 't' });
  });

  it('tells the holder when its lock was taken from it', async () => {
    const dir = freshDir();
    const lost: string[] = [];
    take(dir, { pid: 7, host: 'box-a', refreshMs: 20, onLost: (why) => lost.push(why) });
    await rm(join(dir, LOCK_FILE));
    await writeFile(join(dir, LOCK_FILE), JSON.stringify({ pid: 9, host: 'box-b', startedAt: 'x', token: 'other' }));
    for (let waited = 0; lost.length === 0 && waited < 5000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    expect(lost).toEqual(['taken over by pid 9 on host box-b']);
  });
});
