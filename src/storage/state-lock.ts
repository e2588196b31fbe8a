/**
 * One process per STATE_DIR. Two services writing one folder (both pid 1 in their containers, sharing a
 * volume) would overwrite each other's snapshots and commit each other's offsets, so the first takes a lock
 * file and the second is refused with an error naming the holder.
 *
 * The lock is `STATE_DIR/alcor.lock`, created with O_EXCL (atomic on local and NFSv3+ file systems), holding
 * the holder's pid, host name, start time and a random token. The holder touches it every `refreshMs`; it
 * is stale, and taken over, when it was not touched for `staleAfterMs` (a holder that died on any host, pid
 * namespaces included), or at once when its host is this one and its pid is not alive (a crash on a plain
 * host). A pid equal to our own on our host is not taken as proof of death: two containers can share a host
 * name and both run as pid 1. The holder re-reads the file at every touch: if another process took it over
 * (after a stall longer than `staleAfterMs`), `onLost` is called and the caller must stop writing.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ServiceError } from '../errors/catalogue.ts';

export const LOCK_FILE = 'alcor.lock';
const DEFAULT_LOCK_STALE_AFTER_MS = 30_000;

export interface LockOwner {
  pid: number;
  host: string;
  startedAt: string;
  token: string;
}

export class StateDirLockedError extends ServiceError {
  constructor(
    readonly path: string,
    readonly owner: LockOwner | null,
    staleAfterMs: number = DEFAULT_LOCK_STALE_AFTER_MS,
  ) {
    const who = owner ? `pid ${owner.pid} on host ${owner.host} (since ${owner.startedAt})` : 'another process (the lock file is being written)';
    super(
      'state_dir_locked',
      `STATE_DIR is in use: ${path} is held by ${who}. One service per STATE_DIR: give this one its own STATE_DIR, or stop the other. ` +
        `A lock left by a process that died is taken over at once on the same host, and after ${staleAfterMs / 1000} s without a refresh from another host.`,
    );
    this.name = 'StateDirLockedError';
  }
}

export interface StateLockOptions {
  /** Defaults: this process's pid and os.hostname(). */
  pid?: number;
  host?: string;
  staleAfterMs?: number;
  /** How often the holder touches the file; default a third of staleAfterMs. */
  refreshMs?: number;
  /** Whether a pid on this host is alive; default signal 0. */
  isAlive?: (pid: number) => boolean;
  onLost?: (reason: string) => void;
}

export interface StateLock {
  readonly path: string;
  readonly owner: LockOwner;
  /** Whether a stale lock of a dead holder was taken over (reported by the caller). */
  readonly tookOverFrom: LockOwner | null;
  /** Removes the lock if it is still ours and stops refreshing; synchronous, so it also works in an exit handler. */
  release(): void;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: alive, but another user's.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(path: string): LockOwner | null {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockOwner>;
    if (typeof o.pid === 'number' && typeof o.host === 'string' && typeof o.token === 'string' && typeof o.startedAt === 'string') {
      return { pid: o.pid, host: o.host, startedAt: o.startedAt, token: o.token };
    }
  } catch {
    // unreadable or half written: judged by its age below
  }
  return null;
}

/** Takes the lock on `dir` (created if missing) or throws StateDirLockedError. */
export function acquireStateLock(dir: string, options: StateLockOptions = {}): StateLock {
  const pid = options.pid ?? process.pid;
  const host = options.host ?? hostname();
  const staleAfterMs = options.staleAfterMs ?? DEFAULT_LOCK_STALE_AFTER_MS;
  const isAlive = options.isAlive ?? processAlive;
  mkdirSync(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  const owner: LockOwner = { pid, host, startedAt: new Date().toISOString(), token: randomBytes(12).toString('hex') };
  let tookOverFrom: LockOwner | null = null;

  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(path, `${JSON.stringify(owner)}\n`, { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const held = readOwner(path);
    let ageMs: number;
    try {
      ageMs = Date.now() - statSync(path).mtimeMs;
    } catch {
      continue; // removed meanwhile: try again
    }
    const deadHere = held !== null && held.host === host && held.pid !== pid && !isAlive(held.pid);
    const stale = ageMs > staleAfterMs || deadHere;
    if (!stale || attempt >= 3) throw new StateDirLockedError(path, held, staleAfterMs);
    rmSync(path, { force: true });
    tookOverFrom = held;
  }
  // Two processes taking over the same stale lock at once: only the last writer's token survives.
  if (readOwner(path)?.token !== owner.token) throw new StateDirLockedError(path, readOwner(path), staleAfterMs);

  let released = false;
  const refresh = (): void => {
    const now = readOwner(path);
    if (now?.token !== owner.token) {
      clearInterval(timer);
      released = true;
      options.onLost?.(now ? `taken over by pid ${now.pid} on host ${now.host}` : 'the lock file was removed');
      return;
    }
    try {
      const t = new Date();
      utimesSync(path, t, t);
    } catch {
      // a missed touch is retried at the next interval
    }
  };
  const timer = setInterval(refresh, options.refreshMs ?? Math.max(10, Math.floor(staleAfterMs / 3)));
  timer.unref();

  return {
    path,
    owner,
    tookOverFrom,
    release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      if (readOwner(path)?.token === owner.token) {
        try {
          unlinkSync(path);
        } catch {
          // already gone
        }
      }
    },
  };
}
