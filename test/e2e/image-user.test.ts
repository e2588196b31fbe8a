/**
 * The service as the image runs it, without a Docker engine: the Dockerfile's CMD, as the Dockerfile's USER
 * (uid and gid by number, through setpriv), with the image's environment, against a fresh folder standing
 * for the image's volume (owned by that user, as the Dockerfile's RUN makes it) and the working tree
 * standing for WORKDIR (root's, as /app is). It must write its snapshots, rejected records, models and run
 * history there, and refuse to start with HOST=0.0.0.0 and no keys.
 *
 * Switching user needs root (tests run as root here); as anyone else the test is skipped, and so it is when
 * the working tree is out of that user's reach (a clone under /root), which is said in the test's name.
 * Not covered without an engine: the image build itself (npm ci, COPY), Docker's copying of the image's
 * volume content into a fresh named volume, and compose's networking.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getFreePort } from '../../tools/kafka-broker/index.ts';
import { produceTrace } from '../../src/kafka/produce-trace.ts';
import { defaultTopics } from '../../src/contract/topics.ts';
import { ensureBuilt } from '../helpers/build.ts';
import { isRootUser, isUnder, readImage } from '../helpers/dockerfile.ts';
import { createTopics, sharedTestKafka, testKafkaClient, uniqueGroup, uniqueTopic } from '../helpers/kafka.ts';
import { waitFor } from '../helpers/service-process.ts';

const ADMIN_KEY = 'image-test-admin-key-0123456789abcdef';

const image = readImage();
const [uid, gid] = (image.user ?? '0:0').split(':').map(Number) as [number, number];

/** Why the service cannot be run here as the image's user; null: it can. */
function cannotRunAsImageUser(): string | null {
  if (process.getuid?.() !== 0) return 'not root: cannot switch to the image\'s user';
  const reads = (path: string) => spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', 'test', '-r', path]).status === 0;
  if (!reads(join(process.cwd(), 'package.json')) || !reads(join(process.cwd(), 'node_modules/fastify/package.json'))) {
    return `the working tree is not readable by uid ${uid} (a clone under /root?)`;
  }
  return null;
}
const skipReason = Number.isInteger(uid) && uid > 0 ? cannotRunAsImageUser() : null;
const volumes: string[] = [];

/** The image's paths on this machine: the volume in a fresh folder owned by the image's user, WORKDIR at the working tree. */
function imagePaths(volumeRoot: string): (path: string) => string {
  const volume = image.volumes[0];
  return (path) => {
    if (volume !== undefined && isUnder(path, volume)) return join(volumeRoot, relative(volume, path));
    if (isUnder(path, image.workdir)) return join(process.cwd(), relative(image.workdir, path));
    throw new Error(`${path} is neither in the image's volume nor in its WORKDIR`);
  };
}

interface Started {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

/** The Dockerfile's CMD as its USER, with the image's environment (paths mapped) and `extra`. */
function runAsImageUser(volumeRoot: string, extra: Record<string, string>): Started {
  const cmd = JSON.parse(image.instructions.findLast((i) => i.keyword === 'CMD')!.args) as string[];
  expect(cmd[0]).toBe('node');
  const toHere = imagePaths(volumeRoot);
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...image.env, ...extra };
  for (const name of ['STATE_DIR', 'MODELS_DIR']) env[name] = toHere(env[name]!);
  const child = spawn('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', process.execPath, ...cmd.slice(1)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  return { child, output: () => out, exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
}

/** A fresh folder for the volume, owned by the image's user as the Dockerfile's chown leaves it. */
function freshVolume(): string {
  const dir = mkdtempSync(join(tmpdir(), 'image-volume-'));
  volumes.push(dir);
  chownSync(dir, uid, gid);
  return dir;
}

const filesIn = (dir: string): string[] => {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
};

describe.skipIf(skipReason !== null)(`the service as the image runs it, as its non-root USER${skipReason === null ? '' : ` (skipped: ${skipReason})`}`, () => {
  let kafka: { brokers: string };
  let service: Started | null = null;

  beforeAll(async () => {
    // The CMD runs the compiled output.
    await ensureBuilt();
    kafka = await sharedTestKafka();
  }, 180_000);

  afterAll(async () => {
    if (service?.child.exitCode === null) service.child.kill('SIGKILL');
    for (const dir of volumes) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('is a non-root user given by number', () => {
    expect(isRootUser(image.user)).toBe(false);
    expect([Number.isInteger(uid), uid > 0, Number.isInteger(gid), gid > 0]).toEqual([true, true, true, true]);
  });

  it('refuses to start with the image\'s HOST=0.0.0.0 and no API keys, saying what to set', async () => {
    const refused = runAsImageUser(freshVolume(), { PORT: String(await getFreePort()) });
    expect(await refused.exited).toBe(2);
    expect(refused.output()).toContain('HOST: 0.0.0.0 is not a loopback address and API_KEYS is unset');
    expect(refused.output()).toContain('ALLOW_OPEN_API=true');
  });

  it('writes snapshots, models and the run history to a fresh volume, commits, and stops cleanly', async () => {
    const prefix = uniqueTopic('image');
    const topics = { flows: `${prefix}.flows`, vm: `${prefix}.vms`, tenant: `${prefix}.tenants` };
    await createTopics(kafka.brokers, Object.values(topics), 1);
    const volumeRoot = freshVolume();
    const toHere = imagePaths(volumeRoot);
    const stateDir = toHere(image.env.STATE_DIR!);
    const modelsDir = toHere(image.env.MODELS_DIR!);
    const port = await getFreePort();
    const url = `http://127.0.0.1:${port}`;
    const group = uniqueGroup('image');
    service = runAsImageUser(volumeRoot, {
      PORT: String(port),
      API_KEYS: `${createHash('sha256').update(ADMIN_KEY).digest('hex')}:admin`,
      KAFKA_BROKERS: kafka.brokers,
      KAFKA_GROUP_ID: group,
      KAFKA_TOPIC_FLOWS: topics.flows,
      KAFKA_TOPIC_VM_ATTRIBUTES: topics.vm,
      KAFKA_TOPIC_TENANT_ATTRIBUTES: topics.tenant,
      SNAPSHOT_INTERVAL_SECONDS: '0.5',
      RECLUSTER_WALLCLOCK_SECONDS: '0',
      LOG_LEVEL: 'info',
    });
    const running = service;
    await waitFor(async () => (await fetch(`${url}/healthz`).then((r) => r.ok, () => false)) || running.child.exitCode !== null || undefined, 60_000, 'the service to listen');
    expect(running.child.exitCode, running.output()).toBeNull();

    await produceTrace(
      'fixtures/small.jsonl.gz',
      { topicMap: { [defaultTopics.flows]: topics.flows, [defaultTopics.vmAttributes]: topics.vm, [defaultTopics.tenantAttributes]: topics.tenant } },
      testKafkaClient(kafka.brokers, 'image-producer'),
    );
    const admin = { authorization: `Bearer ${ADMIN_KEY}` };
    await waitFor(
      async () => {
        const stats = (await (await fetch(`${url}/v1/stats`, { headers: admin })).json()) as { records: { flows: number } };
        return stats.records.flows > 0 && filesIn(join(stateDir, 'snapshots')).some((f) => f.endsWith('.bin')) ? true : undefined;
      },
      60_000,
      'records applied and a snapshot written',
    );
    expect((await fetch(`${url}/v1/recluster`, { method: 'POST', headers: admin })).status).toBe(202);
    await waitFor(async () => (filesIn(modelsDir).some((f) => /^model-\d+\.json$/.test(f)) && filesIn(modelsDir).includes('run-history.json') ? true : undefined), 60_000, 'a model and the run history');

    expect(await fetch(`${url}/readyz`).then((r) => r.status)).toBe(200);
    running.child.kill('SIGTERM');
    expect(await running.exited, running.output()).toBe(0);
    // Everything the service wrote is its user's, inside the volume; nothing failed on the way.
    for (const dir of [stateDir, join(stateDir, 'snapshots'), modelsDir]) {
      for (const f of filesIn(dir)) expect([f, statSync(join(dir, f)).uid]).toEqual([f, uid]);
    }
    expect(running.output()).not.toMatch(/snapshot (write|commit|capture)\w* failed|could not write the (model|run history)|EACCES/);
    // Offsets are committed only after a snapshot holding them is on disk.
    const kafkaAdmin = testKafkaClient(kafka.brokers, 'image-admin').admin();
    await kafkaAdmin.connect();
    try {
      const [committed] = await kafkaAdmin.fetchOffsets({ groupId: group, topics: [topics.flows] });
      expect(Number(committed!.partitions[0]!.offset)).toBeGreaterThan(0);
    } finally {
      await kafkaAdmin.disconnect();
    }
  }, 240_000);
});
