/**
 * The route stage in a worker thread of its own (route-thread.ts starts it): a member's route then decodes,
 * validates and writes on the second core while the main thread applies the by-VM records to the windows
 * and serves. A thin adapter around RouteStage: its own kafkajs client, dead-letter producer and readers of
 * the global tables it needs, its status, rejects and log lines posted to the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Kafka } from 'kafkajs';
import { DEFAULT_MAX_CLAIMS } from '../attribution/address-map.ts';
import type { RejectedRecord } from '../contract/rejections.ts';
import { FleetState } from '../fleet/fleet-state.ts';
import { deadLetterProducerFor } from '../kafka/dead-letter.ts';
import { type KafkaLogger, toKafkaConfig } from '../kafka/options.ts';
import { AddressTable } from './address-table.ts';
import { topologyTopics } from './config.ts';
import { RouteStage } from './route-stage.ts';
import type { PipelineConfig } from '../pipeline/pipeline.ts';
// Types only: route-thread.ts is the main thread's side.
import type { RoutePipelineData, RouteWorkerData, RouteWorkerEvent, RouteWorkerLevel } from './route-thread.ts';
import { addressTableReader, tenantTableReader } from './table-readers.ts';

/** Status and rejects go to the main thread at least this often (and after every route transaction). */
const REPORT_EVERY_MS = 250;

const port = parentPort;
if (port === null) throw new Error('route-worker.ts runs in a worker thread (route-thread.ts)');
const data = workerData as RouteWorkerData;

function post(event: RouteWorkerEvent): void {
  port?.postMessage(event);
}

/** Log fields cross the thread boundary as JSON: an error object or a socket would not clone. */
function cloneable(fields: Record<string, unknown>): Record<string, unknown> {
  try {
    return JSON.parse(JSON.stringify(fields)) as Record<string, unknown>;
  } catch {
    return { fields: String(fields) };
  }
}

const logAt =
  (level: RouteWorkerLevel) =>
  (fields: Record<string, unknown>, msg: string): void =>
    post({ type: 'log', level, fields: cloneable(fields), msg });
const log: KafkaLogger = { debug: logAt('debug'), info: logAt('info'), warn: logAt('warn'), error: logAt('error') };

/** The member's pipeline configuration, with this thread's own wall clock when the member has one. */
function routePipelineOf(d: RoutePipelineData): PipelineConfig {
  const { future, ...rest } = d;
  return future === undefined ? rest : { ...rest, future: { ...future, wallClock: future.wallClock ? Date.now : null } };
}

const pipeline = routePipelineOf(data.pipeline);
const kafka = new Kafka(toKafkaConfig(data.kafka, { logger: log, clientIdSuffix: 'route' }));
const deadLetter = deadLetterProducerFor(kafka, data.kafka, log);
const topics = topologyTopics(data.topology.appId);
const addressTable = new AddressTable({ horizonMs: pipeline.window.windowMs + pipeline.window.allowedLatenessMs, maxClaims: pipeline.maxAddressClaims ?? DEFAULT_MAX_CLAIMS });
const tenantTable = new FleetState(pipeline.window);
const tenants = tenantTableReader(kafka, topics.tenants, data.topology, tenantTable, log);
const addresses = addressTableReader(kafka, topics.addresses, data.topology, addressTable, log);
let rejects: RejectedRecord[] = [];
const stage = new RouteStage({
  kafka,
  topology: data.topology,
  pipeline,
  deadLetter,
  log,
  // The dead letter written here keeps the raw text: the main thread counts the reject by its reason.
  onReject: (r) => void rejects.push({ ...r, raw: '' }),
  ...(data.hostAttributesTopic === undefined ? {} : { hostAttributesTopic: data.hostAttributesTopic }),
  addressTable,
  tenantTable,
  readTenantsToEnd: () => tenants.readToEnd(),
  onCommitted: () => report(),
});

function report(): void {
  const taken = rejects;
  rejects = [];
  post({ type: 'status', status: stage.status(), attribution: { ...addressTable.map.counters, claims: addressTable.map.size }, rejects: taken, deadLetters: deadLetter.blocked });
}

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await stage.stop();
  await Promise.all([tenants.stop(), addresses.stop()]);
  await deadLetter.disconnect().catch(() => undefined);
  report();
  post({ type: 'stopped' });
  process.exit(0);
}

port.on('message', (m: unknown) => {
  if (typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'stop') void stop();
});

// A stop can come at any point of the start (the member stopped while the worker loads or joins, longer
// under load): each step after it is skipped, and what stop() disconnected under a step is not a failure.
async function start(): Promise<void> {
  await deadLetter.connect();
  if (stopping) return;
  await Promise.all([tenants.start(), addresses.start()]);
  if (stopping) return;
  // A flow is attributed by the claims read so far: the whole table first, as one process restores its map.
  await addresses.caughtUp;
  if (stopping) return;
  await stage.start();
  setInterval(report, REPORT_EVERY_MS).unref();
  report();
}

// A start that fails (the broker unreachable) ends the worker: the member is not ready, and starts it again.
start().catch((err: unknown) => {
  if (stopping) return;
  log.error({ err: String(err) }, 'the route worker could not start');
  process.exit(1);
});
