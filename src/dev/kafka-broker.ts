/**
 * A real single-node KRaft Kafka broker for development, tests, CI and benchmarks, run straight from the
 * Maven Central jars (no Docker, no Kafka download): see scripts/kafka/pom.xml and docs/kafka.md.
 *
 * - ensureKafkaJars(): fetch the broker + tools jars once into `<cacheDir>/lib` (safe for concurrent callers).
 * - startKafkaBroker(): write server.properties, format storage, spawn `kafka.Kafka`, wait until ready.
 * - stopProcess(): SIGTERM, wait, SIGKILL after a timeout.
 * - runProducerPerformance() / runConsumerPerformance(): Kafka's own perf tools, parsed into records/s.
 *
 * Relative paths (cacheDir, dataDir, logDir) are resolved against the project root, not process.cwd().
 * Development tooling only: nothing in the service imports this module.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, Socket } from 'node:net';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const KAFKA_VERSION = '3.9.1';

/** Project root (this file is src/dev/kafka-broker.ts). */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const POM_PATH = join(PROJECT_ROOT, 'scripts', 'kafka', 'pom.xml');
const LOG4J_PATH = join(PROJECT_ROOT, 'scripts', 'kafka', 'log4j.properties');
const JAVA = process.env.JAVA ?? 'java';
const MVN = process.env.MVN ?? 'mvn';
const DEFAULT_HEAP = ['-Xms256m', '-Xmx768m'];
/** Line logged by KafkaRaftServer once the broker is up and unfenced. */
const STARTED_MARKER = 'Kafka Server started';
const COMPLETE_MARKER = '.complete';

export function resolveFromRoot(path: string): string {
  return isAbsolute(path) ? path : resolve(PROJECT_ROOT, path);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------
// Jars
// ---------------------------------------------------------------------------------------------------

function pomDigest(): string {
  return createHash('sha256').update(readFileSync(POM_PATH)).digest('hex');
}

async function libIsComplete(libDir: string, digest: string): Promise<boolean> {
  try {
    return (await readFile(join(libDir, COMPLETE_MARKER), 'utf8')).trim() === digest;
  } catch {
    return false;
  }
}

function run(
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

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Makes sure the Kafka jars are in `<cacheDir>/lib` and returns that directory's absolute path.
 * The first call runs `mvn dependency:copy-dependencies` (a few seconds with a warm ~/.m2, ~5 s cold).
 * Concurrency: a lock directory keeps two processes from fetching at once, and the jars are copied into a
 * temporary directory that is renamed into place, so `<cacheDir>/lib` is never seen half-filled.
 * A changed pom.xml (e.g. a version bump) triggers a re-fetch.
 */
export async function ensureKafkaJars(cacheDir = '.cache/kafka'): Promise<string> {
  const root = resolveFromRoot(cacheDir);
  const libDir = join(root, 'lib');
  const digest = pomDigest();
  if (await libIsComplete(libDir, digest)) return libDir;

  await mkdir(root, { recursive: true });
  const lockDir = join(root, 'lib.lock');
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      await mkdir(lockDir);
      await writeFile(join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    // Someone else is fetching: wait for them, or take over a stale lock.
    if (await libIsComplete(libDir, digest)) return libDir;
    let stale = false;
    try {
      const owner = Number((await readFile(join(lockDir, 'pid'), 'utf8')).trim());
      stale = Number.isInteger(owner) && owner > 0 && !pidAlive(owner);
    } catch {
      // pid not written yet, or lock just removed: judge by age below.
    }
    try {
      const age = Date.now() - (await stat(lockDir)).mtimeMs;
      if (age > 5 * 60_000) stale = true;
    } catch {
      continue; // lock vanished: retry mkdir at once
    }
    if (stale) {
      await rm(lockDir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for the Kafka jar fetch lock ${lockDir}`);
    await sleep(250);
  }

  try {
    if (await libIsComplete(libDir, digest)) return libDir;
    const tmp = join(root, `lib.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      await run(
        MVN,
        [
          '-q',
          '-B',
          '-f',
          POM_PATH,
          'dependency:copy-dependencies',
          '-DincludeScope=runtime',
          `-DoutputDirectory=${tmp}`,
        ],
        { cwd: dirname(POM_PATH), timeoutMs: 10 * 60_000 },
      );
      if (!existsSync(join(tmp, `kafka_2.13-${KAFKA_VERSION}.jar`))) {
        throw new Error(`mvn finished but kafka_2.13-${KAFKA_VERSION}.jar is missing from ${tmp}`);
      }
      await writeFile(join(tmp, COMPLETE_MARKER), `${digest}\n`);
      if (existsSync(libDir)) {
        const old = join(root, `lib.old-${process.pid}-${randomBytes(4).toString('hex')}`);
        await rename(libDir, old);
        await rm(old, { recursive: true, force: true });
      }
      await rename(tmp, libDir);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    return libDir;
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

function javaBaseArgs(libDir: string, logLevel: 'INFO' | 'WARN' | 'ERROR'): string[] {
  return [
    '-XX:+UseG1GC',
    '-Djava.awt.headless=true',
    `-Dlog4j.configuration=file:${LOG4J_PATH}`,
    `-Dkafka.root.log.level=${logLevel}`,
    '-cp',
    `${libDir}/*`,
  ];
}

// ---------------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------------

export type SaslMechanismName = 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
export const SASL_MECHANISMS: readonly SaslMechanismName[] = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'];

export interface SaslUser {
  username: string;
  password: string;
}

/**
 * Authentication on the SASL listeners (SASL_PLAINTEXT, and SASL_SSL when `ssl.sasl` is set). PLAIN users
 * go into the listener's JAAS configuration; SCRAM credentials into the cluster metadata when the storage
 * is formatted (`--add-scram`), so they exist only in a data directory formatted with them.
 */
export interface SaslOptions {
  /** Port of the SASL_PLAINTEXT listener. */
  port: number;
  /** Default: all of SASL_MECHANISMS. */
  mechanisms?: readonly SaslMechanismName[];
  users: readonly SaslUser[];
  /**
   * ACLs on: the StandardAuthorizer lets SASL users do only what an ACL grants them (create ACLs through the
   * PLAINTEXT listener, e.g. kafkajs `admin.createAcls`), while PLAINTEXT clients and the controller
   * (User:ANONYMOUS) stay super users. Default false: every authenticated user may do everything.
   */
  acls?: boolean;
}

/** A TLS listener with the broker's key and certificate in a PKCS12 keystore (see makeSelfSignedKeystore). */
export interface SslOptions {
  port: number;
  keystorePath: string;
  keystorePassword: string;
  /** SASL_SSL (authentication by the `sasl` options over TLS) instead of SSL; needs `sasl`. */
  sasl?: boolean;
}

/**
 * The listeners. Clients always get PLAINTEXT on `port` (also the inter-broker listener, so that tools and
 * tests can administer the broker without credentials); `sasl` and `ssl` add listeners on their own ports.
 */
export interface ListenerOptions {
  host?: string;
  port: number;
  controllerPort: number;
  sasl?: SaslOptions;
  ssl?: SslOptions;
  /** The PLAINTEXT listener is always there; kept for callers that name it. */
  securityProtocol?: 'PLAINTEXT';
}

/** Names and passwords go unquoted into JAAS, properties and `--add-scram` syntax: keep them to safe characters. */
const SAFE_CREDENTIAL = /^[A-Za-z0-9._@%+-]{1,128}$/;

function checkSasl(sasl: SaslOptions): readonly SaslMechanismName[] {
  const mechanisms = sasl.mechanisms ?? SASL_MECHANISMS;
  if (mechanisms.length === 0) throw new Error('sasl.mechanisms is empty');
  for (const u of sasl.users) {
    if (!SAFE_CREDENTIAL.test(u.username) || !SAFE_CREDENTIAL.test(u.password)) {
      throw new Error(`SASL user "${u.username.slice(0, 40)}": names and passwords must be 1..128 of [A-Za-z0-9._@%+-]`);
    }
  }
  return mechanisms;
}

/** Broker properties of the SASL and TLS listeners: listener entries and settings, keyed by property. */
function securedListeners(opts: ListenerOptions, host: string): { listeners: string[]; protocols: string[]; props: Record<string, string> } {
  const listeners: string[] = [];
  const protocols: string[] = [];
  const props: Record<string, string> = {};
  const saslListeners: string[] = [];
  if (opts.sasl) {
    listeners.push(`SASL_PLAINTEXT://${host}:${opts.sasl.port}`);
    protocols.push('SASL_PLAINTEXT:SASL_PLAINTEXT');
    saslListeners.push('sasl_plaintext');
  }
  if (opts.ssl) {
    const name = opts.ssl.sasl ? 'SASL_SSL' : 'SSL';
    if (opts.ssl.sasl && !opts.sasl) throw new Error('ssl.sasl needs the sasl options (users and mechanisms)');
    listeners.push(`${name}://${host}:${opts.ssl.port}`);
    protocols.push(`${name}:${name}`);
    if (opts.ssl.sasl) saslListeners.push('sasl_ssl');
    const prefix = `listener.name.${name.toLowerCase()}`;
    props[`${prefix}.ssl.keystore.type`] = 'PKCS12';
    props[`${prefix}.ssl.keystore.location`] = opts.ssl.keystorePath;
    props[`${prefix}.ssl.keystore.password`] = opts.ssl.keystorePassword;
    props[`${prefix}.ssl.key.password`] = opts.ssl.keystorePassword;
    props[`${prefix}.ssl.client.auth`] = 'none';
  }
  if (opts.sasl) {
    const mechanisms = checkSasl(opts.sasl);
    props['sasl.enabled.mechanisms'] = mechanisms.join(',');
    const plainUsers = opts.sasl.users.map((u) => `user_${u.username}="${u.password}"`).join(' ');
    for (const listener of saslListeners) {
      for (const m of mechanisms) {
        props[`listener.name.${listener}.${m.toLowerCase()}.sasl.jaas.config`] =
          m === 'PLAIN'
            ? `org.apache.kafka.common.security.plain.PlainLoginModule required ${plainUsers};`
            : 'org.apache.kafka.common.security.scram.ScramLoginModule required;';
      }
    }
    if (opts.sasl.acls) {
      props['authorizer.class.name'] = 'org.apache.kafka.metadata.authorizer.StandardAuthorizer';
      props['super.users'] = 'User:ANONYMOUS';
    }
  }
  return { listeners, protocols, props };
}

/** `--add-scram` arguments of the storage format: one credential per user and SCRAM mechanism. */
export function scramFormatArgs(sasl: SaslOptions | undefined): string[] {
  if (!sasl) return [];
  const scram = checkSasl(sasl).filter((m) => m !== 'PLAIN');
  return scram.flatMap((m) => sasl.users.flatMap((u) => ['--add-scram', `${m}=[name=${u.username},password=${u.password}]`]));
}

export interface ServerPropertiesOptions extends ListenerOptions {
  nodeId?: number;
  /** KRaft metadata + partition data (`log.dirs`). */
  logDirs: string;
  /** Overrides / additions, e.g. `{ 'num.partitions': 3 }`. */
  extraProperties?: Record<string, string | number | boolean>;
}

/** The single place where a broker's server.properties is generated. */
export function buildServerProperties(opts: ServerPropertiesOptions): string {
  const host = opts.host ?? '127.0.0.1';
  const nodeId = opts.nodeId ?? 1;
  // Listener names are their protocols' names.
  const secured = securedListeners(opts, host);
  const clientListeners = [`PLAINTEXT://${host}:${opts.port}`, ...secured.listeners];
  const props: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': nodeId,
    'controller.quorum.voters': `${nodeId}@${host}:${opts.controllerPort}`,
    listeners: [...clientListeners, `CONTROLLER://${host}:${opts.controllerPort}`].join(','),
    'advertised.listeners': clientListeners.join(','),
    'inter.broker.listener.name': 'PLAINTEXT',
    'controller.listener.names': 'CONTROLLER',
    'listener.security.protocol.map': ['CONTROLLER:PLAINTEXT', 'PLAINTEXT:PLAINTEXT', ...secured.protocols].join(','),
    ...secured.props,
    'log.dirs': opts.logDirs,
    // One node: every internal topic must have replication factor 1 or groups hang.
    'offsets.topic.replication.factor': 1,
    'offsets.topic.num.partitions': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'transaction.state.log.num.partitions': 1,
    'default.replication.factor': 1,
    'min.insync.replicas': 1,
    'num.partitions': 1,
    'group.initial.rebalance.delay.ms': 0,
    'auto.create.topics.enable': true,
    'delete.topic.enable': true,
    // Small footprint on a 2-core machine.
    'num.network.threads': 2,
    'num.io.threads': 4,
    'num.recovery.threads.per.data.dir': 1,
    'log.cleaner.threads': 1,
    'log.cleaner.dedupe.buffer.size': 8 * 1024 * 1024,
    'log.segment.bytes': 64 * 1024 * 1024,
    'log.retention.hours': 24,
    'log.retention.check.interval.ms': 300_000,
    'socket.request.max.bytes': 104_857_600,
    ...opts.extraProperties,
  };
  return `${Object.entries(props)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join('\n')}\n`;
}

/** A Kafka Uuid (16 random bytes, URL-safe base64 without padding), like `StorageTool random-uuid`. */
export function randomClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

// ---------------------------------------------------------------------------------------------------
// Ports and processes
// ---------------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------------
// Broker
// ---------------------------------------------------------------------------------------------------

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
  const dataDir = resolveFromRoot(opts.dataDir);
  const logDir = resolveFromRoot(opts.logDir);
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

// ---------------------------------------------------------------------------------------------------
// TLS material for tests
// ---------------------------------------------------------------------------------------------------

export interface SelfSignedKeystore {
  /** PKCS12 keystore with the broker's key and its self-signed certificate (for SslOptions). */
  keystorePath: string;
  keystorePassword: string;
  /** The certificate in PEM: what clients trust (KAFKA_TLS_CA_FILE). */
  certificatePath: string;
}

/**
 * A key pair and a self-signed certificate for `host` (as IP and DNS subject alternative names), made with
 * the JDK's keytool into `dir`: enough for a TLS listener that clients verify against the certificate.
 */
export async function makeSelfSignedKeystore(dir: string, host = '127.0.0.1', validityDays = 2): Promise<SelfSignedKeystore> {
  const root = resolveFromRoot(dir);
  await mkdir(root, { recursive: true });
  const keystorePath = join(root, 'broker.p12');
  const certificatePath = join(root, 'broker-cert.pem');
  const keystorePassword = randomBytes(12).toString('hex');
  const keytool = process.env.KEYTOOL ?? 'keytool';
  const san = /^[\d.]+$/.test(host) ? `IP:${host},DNS:localhost` : `DNS:${host}`;
  const store = ['-keystore', keystorePath, '-storetype', 'PKCS12', '-storepass', keystorePassword];
  await rm(keystorePath, { force: true });
  await run(keytool, ['-genkeypair', '-alias', 'broker', '-keyalg', 'RSA', '-keysize', '2048', '-validity', String(validityDays), '-dname', `CN=${host}`, '-ext', `SAN=${san}`, '-keypass', keystorePassword, ...store], { timeoutMs: 60_000 });
  await run(keytool, ['-exportcert', '-rfc', '-alias', 'broker', '-file', certificatePath, ...store], { timeoutMs: 60_000 });
  return { keystorePath, keystorePassword, certificatePath };
}

// ---------------------------------------------------------------------------------------------------
// Kafka's own performance tools (for benchmarks)
// ---------------------------------------------------------------------------------------------------

export interface ProducerPerfOptions {
  brokers: string;
  topic: string;
  numRecords: number;
  recordSize: number;
  /** Records/s cap; -1 (default) = as fast as possible. */
  throughput?: number;
  /** Extra producer configs, e.g. `{ acks: 1, 'linger.ms': 5, 'compression.type': 'lz4' }`. */
  producerProps?: Record<string, string | number>;
  cacheDir?: string;
  timeoutMs?: number;
}

export interface ProducerPerfResult {
  records: number;
  recordsPerSec: number;
  mbPerSec: number;
  avgLatencyMs: number;
  maxLatencyMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  p999Ms: number;
  raw: string;
}

/** Parses ProducerPerformance's final summary line. Exported for tests. */
export function parseProducerPerfOutput(stdout: string): ProducerPerfResult {
  const re =
    /(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th/;
  const lines = stdout.trim().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = re.exec(lines[i] ?? '');
    if (m) {
      const n = (k: number): number => Number(m[k]);
      return {
        records: n(1),
        recordsPerSec: n(2),
        mbPerSec: n(3),
        avgLatencyMs: n(4),
        maxLatencyMs: n(5),
        p50Ms: n(6),
        p95Ms: n(7),
        p99Ms: n(8),
        p999Ms: n(9),
        raw: lines[i] ?? '',
      };
    }
  }
  throw new Error(`no ProducerPerformance summary in output:\n${stdout.slice(-2000)}`);
}

/** Runs `org.apache.kafka.tools.ProducerPerformance` (kafka-producer-perf-test) against `brokers`. */
export async function runProducerPerformance(opts: ProducerPerfOptions): Promise<ProducerPerfResult> {
  const libDir = await ensureKafkaJars(opts.cacheDir);
  const props = { acks: 1, ...opts.producerProps, 'bootstrap.servers': opts.brokers };
  const { stdout } = await run(
    JAVA,
    [
      '-Xmx512m',
      ...javaBaseArgs(libDir, 'WARN'),
      'org.apache.kafka.tools.ProducerPerformance',
      '--topic',
      opts.topic,
      '--num-records',
      String(opts.numRecords),
      '--record-size',
      String(opts.recordSize),
      '--throughput',
      String(opts.throughput ?? -1),
      '--producer-props',
      ...Object.entries(props).map(([k, v]) => `${k}=${String(v)}`),
    ],
    { timeoutMs: opts.timeoutMs ?? 300_000 },
  );
  return parseProducerPerfOutput(stdout);
}

export interface ConsumerPerfOptions {
  brokers: string;
  topic: string;
  /** Records to consume before stopping. */
  messages: number;
  group?: string;
  /** Max ms without new records before the tool gives up (default 30 s). */
  idleTimeoutMs?: number;
  fetchSize?: number;
  cacheDir?: string;
  timeoutMs?: number;
}

export interface ConsumerPerfResult {
  records: number;
  mb: number;
  /** Over the whole run, including the group join/rebalance. */
  recordsPerSec: number;
  mbPerSec: number;
  rebalanceMs: number;
  fetchMs: number;
  /** Over the fetch time only (excludes the rebalance) — the broker's delivery rate. */
  fetchRecordsPerSec: number;
  fetchMbPerSec: number;
  raw: string;
}

/**
 * Parses ConsumerPerformance's CSV output (`start.time, end.time, data.consumed.in.MB, MB.sec,
 * data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec`).
 */
export function parseConsumerPerfOutput(stdout: string): ConsumerPerfResult {
  const lines = stdout
    .trim()
    .split('\n')
    .map((l) => l.trim());
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] ?? '';
    const cols = line.split(',').map((c) => c.trim());
    if (cols.length < 10 || cols[2] === 'data.consumed.in.MB') continue;
    const nums = cols.slice(2, 10).map(Number);
    if (nums.some((x) => !Number.isFinite(x))) continue;
    const [mb, mbPerSec, records, recordsPerSec, rebalanceMs, fetchMs, fetchMbPerSec, fetchRecordsPerSec] =
      nums as [number, number, number, number, number, number, number, number];
    return { records, mb, recordsPerSec, mbPerSec, rebalanceMs, fetchMs, fetchRecordsPerSec, fetchMbPerSec, raw: line };
  }
  throw new Error(`no ConsumerPerformance result in output:\n${stdout.slice(-2000)}`);
}

/** Runs `org.apache.kafka.tools.ConsumerPerformance` (kafka-consumer-perf-test) against `brokers`. */
export async function runConsumerPerformance(opts: ConsumerPerfOptions): Promise<ConsumerPerfResult> {
  const libDir = await ensureKafkaJars(opts.cacheDir);
  const args = [
    '-Xmx512m',
    ...javaBaseArgs(libDir, 'WARN'),
    'org.apache.kafka.tools.ConsumerPerformance',
    '--bootstrap-server',
    opts.brokers,
    '--topic',
    opts.topic,
    '--messages',
    String(opts.messages),
    '--timeout',
    String(opts.idleTimeoutMs ?? 30_000),
    '--group',
    opts.group ?? `perf-consumer-${randomBytes(4).toString('hex')}`,
  ];
  if (opts.fetchSize !== undefined) args.push('--fetch-size', String(opts.fetchSize));
  const { stdout } = await run(JAVA, args, { timeoutMs: opts.timeoutMs ?? 300_000 });
  return parseConsumerPerfOutput(stdout);
}
