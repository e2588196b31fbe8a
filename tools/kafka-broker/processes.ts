/**
 * Child processes of the broker launcher: commands run to completion, free loopback ports, and stopping a
 * process (the broker, or one left over from `npm run kafka:start`).
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Runs a command to completion; a failure carries the last 40 lines of its output, where Java says why. */
export function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; timeoutMs?: number } = {},
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      cmd,
      args,
      { cwd: opts.cwd, timeout: opts.timeoutMs ?? 0, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          const detail = `${stdout}\n${stderr}`.trim().split('\n').slice(-40).join('\n');
          const how = err.killed ? 'timed out' : `exit code ${String(err.code ?? err.signal)}`;
          reject(new Error(`${cmd} ${args.join(' ')} failed (${how}):\n${detail}`));
        } else {
          resolvePromise({ stdout, stderr });
        }
      },
    );
  });
}

/** EPERM: the process exists but belongs to another user, so it is alive. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `count` distinct free TCP ports on `host`, found by binding port 0 (all held open at once). */
export async function getFreePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((res, rej) => {
          const srv = createServer();
          srv.unref();
          srv.once('error', rej);
          srv.listen(0, host, () => res(srv));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const addr = s.address();
    if (addr === null || typeof addr === 'string') throw new Error('unexpected server address');
    return addr.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((res) => s.close(() => res()))));
  return ports;
}

export async function getFreePort(host = '127.0.0.1'): Promise<number> {
  const [port] = await getFreePorts(1, host);
  if (port === undefined) throw new Error('no free port');
  return port;
}

/** Resolves true when something accepts TCP connections on host:port. */
export function portAccepts(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((res) => {
    const sock = new Socket();
    const done = (ok: boolean): void => {
      sock.destroy();
      res(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('error', () => done(false));
    sock.connect(port, host, () => done(true));
  });
}

/** True when `pid` is alive and its command line is a Kafka broker (guards against recycled pids). */
export function isKafkaBrokerPid(pid: number): boolean {
  if (!pidAlive(pid)) return false;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.split('\0').includes('kafka.Kafka');
  } catch {
    return true; // no /proc (not Linux): trust the liveness check
  }
}

/**
 * SIGTERM, wait up to `timeoutMs` for the process to exit, then SIGKILL (and wait a bit more).
 * Resolves once the process is gone (or immediately if it already is).
 */
export async function stopProcess(pid: number, timeoutMs = 20_000, child?: ChildProcess): Promise<void> {
  const exited = (): boolean => (child ? child.exitCode !== null || child.signalCode !== null : !pidAlive(pid));
  if (exited()) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited()) return;
    await sleep(100);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  const killDeadline = Date.now() + 5000;
  while (Date.now() < killDeadline) {
    if (exited()) return;
    await sleep(50);
  }
  throw new Error(`process ${pid} did not exit after SIGKILL`);
}
