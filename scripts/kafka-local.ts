/**
 * Local development broker: `npm run kafka:start` / `npm run kafka:stop` / `tsx scripts/kafka-local.ts status`.
 *
 *   KAFKA_PORT (default 9092)                 client port, 127.0.0.1 only
 *   KAFKA_CONTROLLER_PORT (default port + 1)  KRaft controller port (never for clients)
 *   KAFKA_SASL_PORT                           adds a SASL_PLAINTEXT listener (PLAIN, SCRAM-SHA-256/512) for
 *                                             the user KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD (the service's
 *                                             own variables); SCRAM users are created when the data is formatted
 *   KAFKA_SSL_PORT                            adds a TLS listener (SASL_SSL with KAFKA_SASL_PORT, else SSL) with a
 *                                             self-signed certificate in .cache/kafka/tls-<port>/ (KAFKA_TLS_CA_FILE)
 *
 * Data: .cache/kafka/data-<port>/ (kept between runs; delete it for a clean broker)
 * Log:  .cache/kafka/logs-<port>/server.log
 * Pid:  .cache/kafka/broker-<port>.pid (JSON)
 *
 * start is idempotent (already running → says so, exit 0); stop too (not running → says so, exit 0).
 * status exits 0 when running, 1 when not.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packagePath } from '../src/config/package-root.ts';
import {
  isKafkaBrokerPid,
  makeSelfSignedKeystore,
  portAccepts,
  type SaslOptions,
  type SslOptions,
  startKafkaBroker,
  stopProcess,
} from '../tools/kafka-broker/index.ts';

const CACHE_DIR = packagePath('.cache/kafka');
const HOST = '127.0.0.1';

interface PidFile {
  pid: number;
  brokers: string;
  port: number;
  controllerPort: number;
  dataDir: string;
  logFile: string;
  startedAt: string;
}

function parsePort(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0 || n > 65535) throw new Error(`${name}=${raw} is not a valid port`);
  return n;
}

function readPidFile(file: string): PidFile | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as Partial<PidFile>;
    if (typeof v.pid !== 'number' || typeof v.brokers !== 'string') return undefined;
    return v as PidFile;
  } catch {
    return undefined;
  }
}

async function main(): Promise<number> {
  const cmd = process.argv[2];
  const port = parsePort('KAFKA_PORT', 9092);
  const controllerPort = parsePort('KAFKA_CONTROLLER_PORT', port + 1);
  const pidFile = join(CACHE_DIR, `broker-${port}.pid`);
  const current = readPidFile(pidFile);
  const running = current !== undefined && isKafkaBrokerPid(current.pid);

  switch (cmd) {
    case 'start': {
      if (running) {
        console.log(`Kafka already running at ${current.brokers} (pid ${current.pid})`);
        return 0;
      }
      if (current) await rm(pidFile, { force: true }); // stale
      if (await portAccepts(port, HOST, 300)) {
        console.error(`Port ${HOST}:${port} is in use by another process; set KAFKA_PORT to pick another port.`);
        return 1;
      }
      const started = Date.now();
      const saslPort = process.env.KAFKA_SASL_PORT ? parsePort('KAFKA_SASL_PORT', 0) : null;
      const sslPort = process.env.KAFKA_SSL_PORT ? parsePort('KAFKA_SSL_PORT', 0) : null;
      let sasl: SaslOptions | undefined;
      if (saslPort !== null) {
        const username = process.env.KAFKA_SASL_USERNAME;
        const password = process.env.KAFKA_SASL_PASSWORD;
        if (!username || !password) {
          console.error('KAFKA_SASL_PORT needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (the user the broker accepts).');
          return 1;
        }
        if (existsSync(join(CACHE_DIR, `data-${port}`, 'kraft', 'meta.properties'))) {
          console.warn(`note: .cache/kafka/data-${port} is already formatted: SCRAM users from an earlier start stay as they were (PLAIN follows the variables)`);
        }
        sasl = { port: saslPort, users: [{ username, password }] };
      }
      let ssl: SslOptions | undefined;
      if (sslPort !== null) {
        const keystore = await makeSelfSignedKeystore(join(CACHE_DIR, `tls-${port}`), HOST);
        ssl = { port: sslPort, keystorePath: keystore.keystorePath, keystorePassword: keystore.keystorePassword, sasl: sasl !== undefined };
        console.log(`TLS certificate for clients (KAFKA_TLS_CA_FILE): ${keystore.certificatePath}`);
      }
      const broker = await startKafkaBroker({
        ...(sasl ? { sasl } : {}),
        ...(ssl ? { ssl } : {}),
        port,
        controllerPort,
        host: HOST,
        dataDir: join(CACHE_DIR, `data-${port}`),
        logDir: join(CACHE_DIR, `logs-${port}`),
        detached: true,
      });
      await mkdir(CACHE_DIR, { recursive: true });
      const info: PidFile = {
        pid: broker.pid,
        brokers: broker.brokers,
        port,
        controllerPort,
        dataDir: broker.dataDir,
        logFile: broker.logFile,
        startedAt: new Date().toISOString(),
      };
      await writeFile(pidFile, `${JSON.stringify(info, null, 2)}\n`);
      console.log(`Kafka ready at ${broker.brokers} (pid ${broker.pid}, ${Date.now() - started} ms; log ${broker.logFile})`);
      if (broker.saslBrokers) console.log(`  SASL_PLAINTEXT (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) at ${broker.saslBrokers}`);
      if (broker.sslBrokers) console.log(`  ${ssl?.sasl ? 'SASL_SSL' : 'SSL'} at ${broker.sslBrokers}`);
      return 0;
    }
    case 'stop': {
      if (!running) {
        if (current) await rm(pidFile, { force: true });
        console.log(`Kafka is not running on port ${port}`);
        return 0;
      }
      await stopProcess(current.pid, 30_000);
      await rm(pidFile, { force: true });
      console.log(`Kafka at ${current.brokers} stopped (pid ${current.pid})`);
      return 0;
    }
    case 'status': {
      if (running) {
        console.log(`Kafka running at ${current.brokers} (pid ${current.pid}, since ${current.startedAt})`);
        return 0;
      }
      console.log(`Kafka is not running on port ${port}`);
      return 1;
    }
    default:
      console.error('usage: tsx scripts/kafka-local.ts start|stop|status   (env: KAFKA_PORT, KAFKA_CONTROLLER_PORT)');
      return 2;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  },
);
