/**
 * Starting a broker: server.properties written, storage formatted once, `kafka.Kafka` spawned, ready when
 * its log says it started and its port accepts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { packagePath } from '../../src/config/package-root.ts';
import { ensureKafkaJars, JAVA, javaBaseArgs } from './jars.ts';
import { type SaslOptions, type SslOptions, scramFormatArgs } from './listeners.ts';
import { portAccepts, run, stopProcess } from './processes.ts';
import { buildServerProperties, randomClusterId } from './properties.ts';

const DEFAULT_HEAP = ['-Xms256m', '-Xmx768m'];
/** Line logged by KafkaRaftServer once the broker is up and unfenced. */
const STARTED_MARKER = 'Kafka Server started';

export interface StartKafkaBrokerOptions {
  /** Client port (PLAINTEXT). */
  port: number;
  /** KRaft controller port; clients never use it. */
  controllerPort: number;
  /** Holds server.properties, cluster id and `kraft/` (log.dirs). Reused (not re-formatted) on restart. */
  dataDir: string;
  /** Receives server.log (the JVM's stdout+stderr, appended). */
  logDir: string;
  /** Detached: the broker outlives this Node process (for `npm run kafka:start`). Default false. */
  detached?: boolean;
  host?: string;
  cacheDir?: string;
  readyTimeoutMs?: number;
  /** JVM heap flags; default -Xms256m -Xmx768m. */
  heap?: string[];
  extraProperties?: Record<string, string | number | boolean>;
  /** A SASL_PLAINTEXT listener besides PLAINTEXT (SCRAM users need a freshly formatted dataDir). */
  sasl?: SaslOptions;
  /** A TLS listener (SSL, or SASL_SSL) besides PLAINTEXT. */
  ssl?: SslOptions;
}

export interface KafkaBroker {
  /** Bootstrap address for clients, e.g. '127.0.0.1:9092'. */
  brokers: string;
  /** Bootstrap address of the SASL_PLAINTEXT listener, when started with `sasl`. */
  saslBrokers?: string;
  /** Bootstrap address of the SSL or SASL_SSL listener, when started with `ssl`. */
  sslBrokers?: string;
  pid: number;
  port: number;
  controllerPort: number;
  logFile: string;
  dataDir: string;
  /** SIGTERM, wait, SIGKILL after `timeoutMs` (default 20 s). */
  stop(timeoutMs?: number): Promise<void>;
}

const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A non-detached broker must not outlive a crashed test run.
  process.on('exit', () => {
    for (const c of liveChildren) {
      try {
        c.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

export async function startKafkaBroker(opts: StartKafkaBrokerOptions): Promise<KafkaBroker> {
  const host = opts.host ?? '127.0.0.1';
  const dataDir = packagePath(opts.dataDir);
  const logDir = packagePath(opts.logDir);
  const kraftDir = join(dataDir, 'kraft');
  const libDir = await ensureKafkaJars(opts.cacheDir);

  if (await portAccepts(opts.port, host, 300)) {
    throw new Error(`port ${host}:${opts.port} is already in use (another broker running?)`);
  }

  await mkdir(dataDir, { recursive: true });
  await mkdir(logDir, { recursive: true });
  const configFile = join(dataDir, 'server.properties');
  await writeFile(
    configFile,
    buildServerProperties({
      host,
      port: opts.port,
      controllerPort: opts.controllerPort,
      logDirs: kraftDir,
      ...(opts.extraProperties ? { extraProperties: opts.extraProperties } : {}),
      ...(opts.sasl ? { sasl: opts.sasl } : {}),
      ...(opts.ssl ? { ssl: opts.ssl } : {}),
    }),
  );

  // Format once; a formatted directory keeps its cluster id (and its topics) across restarts.
  if (!existsSync(join(kraftDir, 'meta.properties'))) {
    const idFile = join(dataDir, 'cluster-id');
    let clusterId: string;
    try {
      clusterId = (await readFile(idFile, 'utf8')).trim();
    } catch {
      clusterId = randomClusterId();
      await writeFile(idFile, `${clusterId}\n`);
    }
    await run(
      JAVA,
      [
        '-Xmx256m',
        '-XX:TieredStopAtLevel=1', // short-lived: skip C2 for a faster start
        ...javaBaseArgs(libDir, 'WARN'),
        'kafka.tools.StorageTool',
        'format',
        '-t',
        clusterId,
        '-c',
        configFile,
        '-g',
        ...scramFormatArgs(opts.sasl),
      ],
      { timeoutMs: 120_000 },
    );
  }

  const logFile = join(logDir, 'server.log');
  const logStart = existsSync(logFile) ? (await stat(logFile)).size : 0;
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(
      JAVA,
      [
        ...(opts.heap ?? DEFAULT_HEAP),
        ...javaBaseArgs(libDir, 'INFO'),
        `-Dkafka.logs.dir=${logDir}`,
        'kafka.Kafka',
        configFile,
      ],
      { cwd: dataDir, detached: opts.detached ?? false, stdio: ['ignore', fd, fd] },
    );
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not spawn ${JAVA}; is Java 17 installed?`);
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  if (opts.detached) {
    child.unref();
  } else {
    liveChildren.add(child);
    child.once('exit', () => liveChildren.delete(child));
    installExitHook();
  }
  const ownChild = opts.detached ? undefined : child;

  const broker: KafkaBroker = {
    brokers: `${host}:${opts.port}`,
    ...(opts.sasl ? { saslBrokers: `${host}:${opts.sasl.port}` } : {}),
    ...(opts.ssl ? { sslBrokers: `${host}:${opts.ssl.port}` } : {}),
    pid,
    port: opts.port,
    controllerPort: opts.controllerPort,
    logFile,
    dataDir,
    stop: (timeoutMs = 20_000) => stopProcess(pid, timeoutMs, ownChild),
  };

  const timeoutMs = opts.readyTimeoutMs ?? 90_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const exited = child.exitCode !== null || child.signalCode !== null || spawnError !== undefined;
    if (exited) {
      const how = spawnError?.message ?? `exit code ${child.exitCode ?? child.signalCode}`;
      throw new Error(`Kafka broker exited during start-up (${how}). Log tail (${logFile}):\n${await readTail(logFile, logStart)}`);
    }
    if (await isReady(logFile, logStart, opts.port, host)) return broker;
    if (Date.now() > deadline) {
      const tail = await readTail(logFile, logStart);
      await broker.stop(5000).catch(() => undefined);
      throw new Error(`Kafka broker not ready after ${timeoutMs} ms. Log tail (${logFile}):\n${tail}`);
    }
    await sleep(200);
  }
}

async function isReady(logFile: string, fromOffset: number, port: number, host: string): Promise<boolean> {
  const fh = await open(logFile, 'r');
  try {
    const { size } = await fh.stat();
    if (size <= fromOffset) return false;
    const buf = Buffer.alloc(size - fromOffset);
    await fh.read(buf, 0, buf.length, fromOffset);
    if (!buf.includes(STARTED_MARKER)) return false;
  } finally {
    await fh.close();
  }
  return portAccepts(port, host);
}

async function readTail(file: string, fromOffset = 0, lines = 60): Promise<string> {
  try {
    const buf = await readFile(file);
    const all = buf.subarray(Math.min(fromOffset, buf.length)).toString('utf8').split('\n');
    const tail = all.slice(-lines);
    // The cause is often an ERROR line far above a long stack trace: keep the first few.
    const errors = all.slice(0, -lines).filter((l) => /\] (ERROR|FATAL) /.test(l)).slice(0, 5);
    return [...(errors.length ? [...errors, '...'] : []), ...tail].join('\n');
  } catch {
    return '(no log)';
  }
}
