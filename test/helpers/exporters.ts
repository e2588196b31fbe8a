/**
 * Real flow exporters and collectors for the end-to-end tests, brought by the test set-up as it brings
 * Chromium: softflowd (reads a packet capture, exports NetFlow v9) and pmacct's nfacctd from Debian's
 * packages through apt-get when missing; goflow2 built once from the Go module proxy into .cache/goflow2/.
 * Each runs as a child process that the caller stops.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { promisify } from 'node:util';
import { aptInstall } from './apt.ts';
import { withFileLock } from './lock.ts';

const run = promisify(execFile);

/** The goflow2 the tests run: the version docs/exporters.md describes. */
export const GOFLOW2_MODULE = 'github.com/netsampler/goflow2/v2/cmd/goflow2';
export const GOFLOW2_VERSION = 'v2.2.6';
const GOFLOW2_DIR = resolve('.cache/goflow2', GOFLOW2_VERSION);
export const GOFLOW2_BIN = resolve(GOFLOW2_DIR, 'goflow2');

export const SOFTFLOWD = '/usr/sbin/softflowd';
export const SOFTFLOWCTL = '/usr/sbin/softflowctl';
export const NFACCTD = '/usr/sbin/nfacctd';

/** softflowd and nfacctd from Debian's packages, installed when missing. */
export async function ensureDebianExporters(): Promise<void> {
  const missing = () => [SOFTFLOWD, NFACCTD].filter((p) => !existsSync(p));
  if (missing().length === 0) return;
  await withFileLock('.cache/exporters-install.lock', async () => {
    if (missing().length > 0) await aptInstall(['softflowd', 'pmacct']);
  });
  if (missing().length > 0) throw new Error(`apt-get did not bring ${missing().join(', ')} (packages softflowd, pmacct)`);
}

/** The go command: on the PATH, else where the machine image puts it. */
function goCommand(): string {
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && existsSync(`${dir}/go`)) return `${dir}/go`;
  if (existsSync('/usr/local/go/bin/go')) return '/usr/local/go/bin/go';
  throw new Error('the goflow2 end-to-end test builds goflow2 with Go (1.22 or newer), which is not installed');
}

/** goflow2 built from the Go module proxy (a minute the first time, then reused from .cache/goflow2/). */
export async function ensureGoflow2(): Promise<string> {
  if (existsSync(GOFLOW2_BIN)) return GOFLOW2_BIN;
  await withFileLock('.cache/goflow2-build.lock', async () => {
    if (existsSync(GOFLOW2_BIN)) return;
    mkdirSync(GOFLOW2_DIR, { recursive: true });
    await run(goCommand(), ['install', `${GOFLOW2_MODULE}@${GOFLOW2_VERSION}`], {
      env: { ...process.env, GOBIN: GOFLOW2_DIR, CGO_ENABLED: '0' },
      maxBuffer: 64 * 1024 * 1024,
      timeout: 9 * 60_000,
    });
  });
  return GOFLOW2_BIN;
}

/** A UDP port free on loopback now (the collector binds it right after). */
export async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((ok) => socket.bind(0, '127.0.0.1', () => ok()));
  const { port } = socket.address();
  await new Promise<void>((ok) => socket.close(() => ok()));
  return port;
}

/** A child process with its output kept, for the test's diagnostics. */
export interface Daemon {
  process: ChildProcess;
  output(): string;
  /** Resolves once `pattern` appears in the output; rejects after `timeoutMs` or when the process exits. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

export function startDaemon(command: string, args: string[], cwd?: string): Daemon {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const listeners = new Set<() => void>();
  const append = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    if (text.length > 256 * 1024) text = text.slice(-128 * 1024);
    for (const l of listeners) l();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  return {
    process: child,
    output: () => text,
    waitFor: (pattern, timeoutMs) =>
      new Promise<void>((ok, fail) => {
        const check = () => {
          if (pattern.test(text)) {
            cleanup();
            ok();
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          fail(new Error(`${command} did not print ${pattern} within ${timeoutMs} ms:\n${text.slice(-2000)}`));
        }, timeoutMs);
        const onExit = () => {
          cleanup();
          if (pattern.test(text)) ok();
          else fail(new Error(`${command} exited (${child.exitCode}) before printing ${pattern}:\n${text.slice(-2000)}`));
        };
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off('exit', onExit);
        };
        listeners.add(check);
        child.once('exit', onExit);
        check();
      }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/**
 * softflowd reads the capture and exports its flows as NetFlow v9 to the collector. `-a` takes the
 * exporter's clock from the capture, so the flows carry the capture's own times. It keeps only the first 15 characters of the file's name (an interface name's buffer),
 * so it reads the capture by a short name from the capture's folder.
 */
export async function exportCapture(pcap: string, collectorPort: number, name: string): Promise<string> {
  const dir = dirname(pcap);
  const file = basename(pcap);
  if (file.length > 15) throw new Error(`softflowd reads at most 15 characters of a file name: ${file}`);
  const ctl = resolve(dir, `${name}.ctl`);
  const daemon = startDaemon(SOFTFLOWD, ['-r', file, '-n', `127.0.0.1:${collectorPort}`, '-v', '9', '-d', '-a', '-p', resolve(dir, `${name}.pid`), '-c', ctl], dir);
  try {
    await daemon.waitFor(/Exporting flows from/, 15_000);
    // At the end of the file it exports every flow and exits, but this build reads the file only when its
    // main loop wakes, which a control command does: poke it until it has, then ask it to shut down.
    for (let i = 0; i < 60 && daemon.process.exitCode === null; i++) {
      if (existsSync(ctl)) await run(SOFTFLOWCTL, ['-c', ctl, 'statistics'], { timeout: 15_000 }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 250));
    }
    if (daemon.process.exitCode === null) await run(SOFTFLOWCTL, ['-c', ctl, 'shutdown'], { timeout: 15_000 });
    await daemon.waitFor(/Flows exported/, 15_000);
    return daemon.output();
  } catch (err) {
    throw new Error(`softflowd: ${(err as Error).message}\n${daemon.output()}`);
  } finally {
    await daemon.stop();
  }
}

/** The IPFIX encoder library (PyPI `ipfix`, python-ipfix) that test/helpers/ipfix-export.py sends with. */
export const IPFIX_LIBRARY_VERSION = '0.9.7';
const IPFIX_VENV = resolve('.cache/ipfix-venv');
const IPFIX_PYTHON = resolve(IPFIX_VENV, 'bin', 'python');
const IPFIX_EXPORT = resolve('test/helpers/ipfix-export.py');

/** A venv under .cache/ with the pinned `ipfix` library, created on first use (as the Schemathesis one is). */
export async function ensureIpfixEncoder(): Promise<void> {
  const installed = () =>
    run(IPFIX_PYTHON, ['-c', 'import importlib.metadata as m; print(m.version("ipfix"))']).then(
      ({ stdout }) => stdout.trim() === IPFIX_LIBRARY_VERSION,
      () => false,
    );
  if (await installed()) return;
  await withFileLock('.cache/ipfix-venv.lock', async () => {
    if (await installed()) return;
    if (!existsSync(IPFIX_PYTHON)) {
      // Debian's python3 comes without venv (and ensurepip) unless python3-venv is installed.
      const hasVenv = await run('python3', ['-c', 'import venv, ensurepip']).then(() => true, () => false);
      if (!hasVenv) await aptInstall(['python3', 'python3-venv']);
      await run('python3', ['-m', 'venv', IPFIX_VENV]);
    }
    await run(IPFIX_PYTHON, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', `ipfix==${IPFIX_LIBRARY_VERSION}`], { maxBuffer: 16 * 1024 * 1024 });
  });
}

/** One flow as Open vSwitch exports it over IPFIX, with its tunnel key (the VXLAN VNI). */
export interface IpfixFlow {
  start_ms: number;
  end_ms: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: number;
  bytes: number;
  packets: number;
  vni: number;
}

/** Sends the flows, after their template, in one IPFIX message over UDP to the collector on loopback. */
export async function sendIpfix(flows: readonly IpfixFlow[], port: number): Promise<void> {
  const child = execFile(IPFIX_PYTHON, [IPFIX_EXPORT, '127.0.0.1', String(port)]);
  const done = new Promise<void>((ok, fail) => {
    let err = '';
    child.stderr?.on('data', (c: Buffer) => {
      err += c.toString('utf8');
    });
    child.once('exit', (code) => (code === 0 ? ok() : fail(new Error(`ipfix-export.py exited ${code}: ${err}`))));
  });
  child.stdin?.end(JSON.stringify(flows));
  await done;
}
