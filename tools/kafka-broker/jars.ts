/**
 * The broker's jars from Maven Central (scripts/kafka/pom.xml) into a git-ignored cache, fetched once and
 * shared by every process that needs them, and the Java command line that runs a class from them.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { packagePath } from '../../src/config/package-root.ts';
import { pidAlive, run } from './processes.ts';

export const KAFKA_VERSION = '3.9.1';

const POM_PATH = packagePath('scripts/kafka/pom.xml');
const LOG4J_PATH = packagePath('scripts/kafka/log4j.properties');
export const JAVA = process.env.JAVA ?? 'java';
const MVN = process.env.MVN ?? 'mvn';
const COMPLETE_MARKER = '.complete';

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

/**
 * Makes sure the Kafka jars are in `<cacheDir>/lib` and returns that directory's absolute path.
 * The first call runs `mvn dependency:copy-dependencies` (a few seconds with a warm ~/.m2, ~5 s cold).
 * Concurrency: a lock directory keeps two processes from fetching at once, and the jars are copied into a
 * temporary directory that is renamed into place, so `<cacheDir>/lib` is never seen half-filled.
 * A changed pom.xml (e.g. a version bump) triggers a re-fetch.
 */
export async function ensureKafkaJars(cacheDir = '.cache/kafka'): Promise<string> {
  const root = packagePath(cacheDir);
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

export function javaBaseArgs(libDir: string, logLevel: 'INFO' | 'WARN' | 'ERROR'): string[] {
  return [
    '-XX:+UseG1GC',
    '-Djava.awt.headless=true',
    `-Dlog4j.configuration=file:${LOG4J_PATH}`,
    `-Dkafka.root.log.level=${logLevel}`,
    '-cp',
    `${libDir}/*`,
  ];
}

