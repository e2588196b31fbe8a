/**
 * The running service's core: the pipeline's state, the schedule of clustering runs (event time, on
 * request, optionally wall clock), at most one run in flight, and the read model the edges serve.
 */
import { afterNextPoll, inSlices } from '../core/slices.ts';
import { membershipOf } from '../runs/membership.ts';
import type { ConnectionLog } from '../security-groups/connection-log.ts';
import { recommendInSlices, recommendSecurityGroups, type SecurityGroupsOutcome } from '../security-groups/recommend.ts';
import type { SecurityGroupsDocument } from '../security-groups/types.ts';
import { EventEmitter } from 'node:events';
import type { TenantAttributes } from '../contract/records.ts';
import { vmFeatureView } from '../features/vm-features.ts';
import type { FleetCap, FleetCounters, FleetState } from '../fleet/fleet-state.ts';
import { trackedTenantCount } from '../fleet/tracked-tenants.ts';
import type { TopicNames } from '../contract/topics.ts';
import type { Pipeline, PipelineState } from '../pipeline/pipeline.ts';
import { type ClusteringRun, previousRunOf, type RunOptions } from '../runs/clustering-run.ts';
import { DEFAULT_RUN_HISTORY, type HistoryDocument, historyDocument, RunHistory, type RunRecord, runNumber, runRecord } from '../runs/history.ts';
import {
  assignIdentities,
  assignIdentitiesSteps,
  IDENTITY_ENTITIES_PER_STEP,
  type IdentityState,
  initialIdentity,
  type RunChanges,
  seedFrom,
} from '../runs/identity.ts';
import { buildModelDocument, type ModelDocument, provisionalRun } from '../runs/model-document.ts';
import type { RunInput } from '../runs/run-input.ts';
import type { WindowConfig } from '../windows/window-config.ts';
import type { ConnectionLogState } from '../security-groups/connection-log.ts';
import type { Clusterer } from './clusterer.ts';
import type { HistorySink, IngestStats, ModelSink, ReclusterRequestOutcome, ReclusterOptions, RunStatus, ServiceView, VmView } from './types.ts';

export interface ClusterServiceEvents {
  /** A completed run, with what changed since the previous one. */
  run: [ClusteringRun, RunChanges];
  runFailed: [RunStatus, Error];
  /** A run placed by a loaded model, before the first real one. */
  provisional: [ClusteringRun];
  modelSaved: [unknown];
  modelFailed: [Error];
  historyFailed: [Error];
  /** A bounded resource's limit was reached, on its 1st, 10th, 100th... hit (the fleet's own thinning). */
  capHit: [FleetCap, number];
}

/** What a snapshot keeps of the service: its latest run, run numbering, cluster identities and history. */
export interface ClusterServiceState {
  runCount: number;
  identity: IdentityState;
  latest: ClusteringRun | null;
  history: RunRecord[];
}

export interface ClusterServiceOptions {
  /** Runs kept for GET /v1/runs; default 50. */
  historySize?: number;
  /** Receives each run's model; none: models are not kept. */
  models?: ModelSink | null;
  /** A model loaded at start: it places VMs before the first run and seeds the ids. */
  model?: ModelDocument | null;
  /** The run history of an earlier process: served at once, and run numbers continue after it. */
  history?: HistoryDocument | null;
  /** Receives the history after each run; none: it is not kept. */
  historySink?: HistorySink | null;
  /**
   * Start the security groups of each run as it completes (in slices, docs/security-groups.md), rather
   * than on the first request after it. The service does; replay computes them once, at its end.
   */
  securityGroupsEveryRun?: boolean;
  /**
   * Match a completed run's stable ids in slices of IDENTITY_SLICE_MS, the event loop given back between
   * them (the service, which serves reads meanwhile); at once when false (replay, tests of the service).
   */
  identitiesInSlices?: boolean;
  /**
   * Take a run's input from the fleet in slices of RUN_INPUT_SLICE_MS (the service, which serves reads
   * meanwhile: at 11.6k VMs it is a quarter of a second of CPU), the input that arrives meanwhile held and
   * applied in its order right after; at once when false (replay, tests of the service).
   */
  runInputInSlices?: boolean;
}

/** What a durable snapshot needs of the service besides its fleet state, read at one moment. */
export interface ServiceStateHead {
  window: WindowConfig;
  topics: TopicNames;
  pipeline: PipelineState;
  service: ClusterServiceState;
  connections: ConnectionLogState;
}

/** A provisional placement is redone at most this often (wall clock) while data comes in before the first run. */
const PROVISIONAL_REFRESH_MS = 5000;

/** What a run sees of the input: a later run with the same would find exactly the same clusters. */
interface InputProgress {
  watermark: number;
  /** Records applied so far (flows, VM and tenant attributes), rejected ones not counted. */
  records: number;
}

export class ClusterService extends EventEmitter<ClusterServiceEvents> implements ServiceView {
  private latest: ClusteringRun | null = null;
  /** The latest run's security groups: the rules as numbers, then the document once someone asks for it. */
  private securityGroupsJob: { run: ClusteringRun; learned: Promise<SecurityGroupsOutcome>; document: Promise<SecurityGroupsDocument> | null } | null = null;
  private readonly securityGroupsEveryRun: boolean;
  private readonly identitiesInSlices: boolean;
  private readonly runInputInSlices: boolean;
  /** While a run's input is taken in slices: the input that arrived meanwhile, to apply in its order after. */
  private taking: { held: Array<() => void>; done: Promise<void> } | null = null;
  private inFlight: { status: RunStatus; done: Promise<void> } | null = null;
  private runCount = 0;
  private ready = false;
  private held: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private identity: IdentityState = initialIdentity;
  private readonly history: RunHistory;
  private readonly models: ModelSink | null;
  private readonly historySink: HistorySink | null;
  /** The loaded model until the first real run completes. */
  private seedModel: ModelDocument | null;
  private provisionalAt = Number.NEGATIVE_INFINITY;
  private saving: Promise<void> = Promise.resolve();
  /** The input of the latest completed run; null before the first one. */
  private lastInput: InputProgress | null = null;

  constructor(
    private readonly pipeline: Pipeline,
    private readonly clusterer: Clusterer,
    private readonly runOptions: RunOptions,
    private readonly now: () => number = Date.now,
    options: ClusterServiceOptions = {},
  ) {
    super();
    this.history = new RunHistory(options.historySize ?? DEFAULT_RUN_HISTORY);
    this.securityGroupsEveryRun = options.securityGroupsEveryRun ?? false;
    this.identitiesInSlices = options.identitiesInSlices ?? false;
    this.runInputInSlices = options.runInputInSlices ?? false;
    this.models = options.models ?? null;
    this.historySink = options.historySink ?? null;
    this.seedModel = options.model ?? null;
    if (this.seedModel) this.identity = { nextVm: this.seedModel.identity.next_vm, nextTenant: this.seedModel.identity.next_tenant, previous: null };
    for (const record of options.history?.runs ?? []) this.history.add(record);
    // Run ids continue the earlier process's sequence, so that /v1/runs never names two runs alike.
    this.runCount = Math.max(options.history?.last_run_number ?? 0, runNumber(this.seedModel?.run_id ?? '') ?? 0);
    pipeline.fleet.onCapHit = (cap, count) => void this.emit('capHit', cap, count);
  }

  /**
   * Applies one message (a Kafka value or a trace line's value) and starts a run when one is due;
   * `partition`: its input partition, when the reader keeps a watermark per partition (Pipeline.inputPartitions).
   */
  ingestMessage(topic: string, text: string | null, source: string, partition: string | null = null): void {
    if (this.taking !== null) return void this.taking.held.push(() => this.ingestMessage(topic, text, source, partition));
    this.pipeline.ingestMessage(topic, text, source, partition);
    if (this.pipeline.runDue()) this.startRun('schedule');
  }

  /** The watermark per input partition of the Kafka input (src/pipeline/partition-watermarks.ts). */
  get inputPartitions(): Pipeline['inputPartitions'] {
    return this.pipeline.inputPartitions;
  }

  /** Whether the next message of an input partition may be read now, or it waits for the others (Pipeline.mayRead). */
  mayRead(partition: string, now: number): boolean {
    // Not while a run's input is taken: a flow held now would move its partition's watermark only once
    // applied, so the pacing would judge it by a stale one and let the partition run ahead of the others.
    if (this.taking !== null) return false;
    return this.pipeline.mayRead(partition, now);
  }

  ingestTraceLine(line: string, source: string): void {
    if (this.taking !== null) return void this.taking.held.push(() => this.ingestTraceLine(line, source));
    this.pipeline.ingestTraceLine(line, source);
    if (this.pipeline.runDue()) this.startRun('schedule');
  }

  /** A trace line too long to read whole (the trace reader kept only its head): rejected as too_large. */
  ingestOversize(bytes: number, head: string, source: string): void {
    if (this.taking !== null) return void this.taking.held.push(() => this.ingestOversize(bytes, head, source));
    this.pipeline.ingestOversize(bytes, head, source);
  }

  /**
   * Null, or while a run's input is taken in slices (runInputInSlices), a promise that resolves once the
   * input handed over meanwhile is applied: an input whose offsets count as applied once its batch
   * resolves (a snapshot's) waits for it.
   */
  inputHeld(): Promise<void> | null {
    return this.taking?.done ?? null;
  }

  /** Also runs every `intervalMs` of wall-clock time, for quiet periods in which event time stands still. */
  startWallClockSchedule(intervalMs: number): void {
    this.stopWallClockSchedule();
    if (intervalMs > 0) {
      this.timer = setInterval(() => this.startRun('schedule'), intervalMs);
      this.timer.unref();
    }
  }

  stopWallClockSchedule(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Starts a run unless one is in flight, in which case that run's id is returned. A scheduled or final
   * run on the very input of the latest run is not started (it would repeat that run, write another model
   * and push a real run out of the history): the latest run's id is returned. A request always runs.
   */
  startRun(reason: RunStatus['reason'], request: ReclusterOptions = {}, given?: RunInput): ReclusterRequestOutcome {
    if (this.inFlight) return { runId: this.inFlight.status.runId, started: false };
    // A snapshot gathered elsewhere (scale-out: the leader's, from every partition) is always a new input.
    const input = given === undefined ? this.currentInput() : { watermark: given.watermark, records: Number.NaN };
    // A trace's final run must search (its result is the product): it repeats a warm run on the same input.
    const repeatsSearch = reason !== 'final' || this.latest?.vms.outcome.search?.searched !== false;
    if (reason !== 'request' && this.latest !== null && this.seedModel === null && sameInput(this.lastInput, input) && repeatsSearch) {
      return { runId: this.latest.runId, started: false };
    }
    this.runCount++;
    const status: RunStatus = { runId: `run-${String(this.runCount).padStart(6, '0')}`, startedAt: this.now(), reason };
    // The previous real run (not a loaded model's placement) is the warm start; a search is forced on request.
    const previous = previousRunOf(
      this.seedModel === null ? this.latest : null,
      request.search === true ? 'requested' : reason === 'final' ? 'final-run' : null,
    );
    const cluster = (runInput: RunInput): Promise<ClusteringRun> => {
      // Before the worker takes the run input's buffers: the run will be matched against this placement.
      if (this.seedModel) this.placeByModel(runInput);
      return this.clusterer.run(runInput, status.runId, this.runOptions, previous);
    };
    const raw = given !== undefined ? cluster(given) : this.runInputInSlices ? this.takeRunInputInSlices().then(cluster) : cluster(this.pipeline.runInput());
    const done = raw.then(
      async (raw) => {
        // Identities are the service's memory, not the worker's: matched here, on the main thread (in
        // slices where it serves reads meanwhile; at once in replay, whose trace feeding must not interleave).
        // The slices start after a poll for I/O: their first one ran in the block that assembled the run from
        // the workers' replies (one hold of 10-12 ms of CPU at 11.6k VMs, bench/run-holds.ts).
        if (this.identitiesInSlices) await afterNextPoll();
        const { run, changes, state } = this.identitiesInSlices
          ? await inSlices(assignIdentitiesSteps(raw, this.identity, IDENTITY_ENTITIES_PER_STEP), IDENTITY_SLICE_MS)
          : assignIdentities(raw, this.identity);
        this.identity = state;
        this.seedModel = null;
        this.latest = run;
        this.history.add(runRecord(run, changes, status.reason));
        this.lastInput = input;
        this.inFlight = null;
        this.saveModel(run);
        this.saveHistory();
        this.emit('run', run, changes);
        // A failure is the request's to report (GET /v1/security-groups answers 500); here it must not escape.
        if (this.securityGroupsEveryRun) this.securityGroupsOutcome()?.catch(() => {});
        this.catchUp(input.watermark);
      },
      (err: unknown) => {
        this.inFlight = null;
        this.emit('runFailed', status, err instanceof Error ? err : new Error(String(err)));
      },
    );
    this.inFlight = { status, done };
    return { runId: status.runId, started: true };
  }

  /**
   * The run input in slices; what is ingested meanwhile is held and applied, in its order, once the last
   * slice has run (the input is a copy: the fleet may change from then on).
   */
  private takeRunInputInSlices(): Promise<RunInput> {
    const held: Array<() => void> = [];
    const taken = inSlices(this.pipeline.runInputSteps(RUN_INPUT_VMS_PER_STEP), RUN_INPUT_SLICE_MS).finally(() => {
      this.taking = null;
      for (const apply of held) apply();
    });
    this.taking = { held, done: taken.then(() => undefined, () => undefined) };
    return taken;
  }

  private currentInput(): InputProgress {
    const { recordsIn, fleet } = this.pipeline;
    return { watermark: fleet.watermark, records: recordsIn.flows + recordsIn.vmAttributes + recordsIn.tenantAttributes };
  }

  /**
   * The event-time schedule fires on ingestion, and a tick passed while a run was in flight is turned
   * away: after a backlog the latest run would describe its first tick until the wall clock came round.
   * So when the watermark has passed a later tick than the finished run's, the latest one is run at once.
   */
  private catchUp(runWatermark: number): void {
    const every = this.pipeline.config.reclusterEveryMs;
    const now = this.pipeline.fleet.watermark;
    if (!(every > 0) || !Number.isFinite(now)) return;
    if (Number.isFinite(runWatermark) && Math.floor(now / every) <= Math.floor(runWatermark / every)) return;
    this.startRun('schedule');
  }

  /** Resolves once no run is in flight and every model is written. */
  async whenIdle(): Promise<void> {
    while (this.inFlight) await this.inFlight.done;
    await this.saving;
  }

  private saveModel(run: ClusteringRun): void {
    const sink = this.models;
    if (sink === null) return;
    const model = buildModelDocument(run, this.identity);
    // One write at a time, in run order, so the newest file is the newest run.
    this.saving = this.saving.then(
      () => sink.save(model).then((where) => void this.emit('modelSaved', where)),
    ).catch((err: unknown) => void this.emit('modelFailed', err instanceof Error ? err : new Error(String(err))));
  }

  private saveHistory(): void {
    const sink = this.historySink;
    if (sink === null) return;
    const document = historyDocument(this.history.list(), this.runCount);
    this.saving = this.saving
      .then(async () => {
        await sink.save(document);
      })
      .catch((err: unknown) => void this.emit('historyFailed', err instanceof Error ? err : new Error(String(err))));
  }

  /** Places the run input's VMs by the loaded model; the placement is served until the first real run. */
  private placeByModel(input: RunInput): void {
    const model = this.seedModel;
    if (model === null || input.vmIds.length === 0) return;
    const run = provisionalRun(model, input, `provisional-${model.run_id}`);
    this.latest = run;
    this.identity = { ...this.identity, previous: seedFrom(run) };
    this.provisionalAt = this.now();
    this.emit('provisional', run);
  }

  /** Before the first run, a model's placement of the data so far, redone now and then as data comes in. */
  private refreshProvisional(): void {
    if (this.seedModel === null || this.inFlight !== null) return;
    if (this.now() - this.provisionalAt < PROVISIONAL_REFRESH_MS || this.pipeline.fleet.vms.size === 0) return;
    this.placeByModel(this.pipeline.runInput());
  }

  /** A consistent copy for a snapshot; call between messages (the main thread), never during ingestion. */
  exportState(): ClusterServiceState {
    // A run in flight is not in the snapshot: after a restore it is simply due again or redone on request.
    return { runCount: this.runCount, identity: this.identity, latest: this.latest, history: [...this.history.list()] };
  }

  /** Everything a durable snapshot keeps but the fleet state; call between messages, like exportState. */
  stateHead(): ServiceStateHead {
    const { config } = this.pipeline;
    return {
      window: { ...config.window },
      topics: { ...config.topics },
      pipeline: this.pipeline.exportState(),
      service: this.exportState(),
      connections: this.pipeline.connections.exportState(),
    };
  }

  /** The fleet state encoded by `encode` (a snapshot's codec); the caller applies no input meanwhile. */
  encodeFleet<T>(encode: (fleet: FleetState) => T): T {
    return encode(this.pipeline.fleet);
  }

  /**
   * Continues from a snapshot's pipeline counters and schedule, connection log and service state (the fleet
   * was given to the pipeline); returns why the connection log was not restored (the rest was), or null.
   */
  restoreSnapshot(head: { pipeline: PipelineState; service: ClusterServiceState; connections: ConnectionLogState | null }): string | null {
    this.pipeline.restoreState(head.pipeline);
    const problem = this.pipeline.restoreConnections(head.connections);
    this.restoreState(head.service);
    return problem;
  }

  /** Continues from a snapshot: the latest run is served at once and ids carry on (a loaded model is dropped). */
  restoreState(state: ClusterServiceState): void {
    // Never back: the persisted run history may already hold runs numbered after the snapshot was taken.
    this.runCount = Math.max(this.runCount, state.runCount);
    this.identity = state.identity;
    this.latest = state.latest;
    this.seedModel = null;
    for (const record of state.history) this.history.add(record);
  }

  /**
   * Gives back the runs after `published` (the newest state every member has; null: none yet): their
   * numbers, cluster ids and history records, as if they had never been started. A scale-out leader whose
   * run could not be published calls it, so that run ids and cluster ids continue from the last published
   * run without a gap (docs/scale-out.md, "Exactly once"). Never while a run is in flight: its number would
   * be given out twice.
   */
  withdrawRunsAfter(published: ClusterServiceState | null): void {
    if (this.inFlight) throw new Error(`cannot give back run numbers while ${this.inFlight.status.runId} is in flight`);
    const last = published?.runCount ?? 0;
    this.runCount = last;
    this.identity = published?.identity ?? initialIdentity;
    this.latest = published?.latest ?? null;
    this.lastInput = null;
    this.history.dropAfter(last);
    for (const record of published?.history ?? []) this.history.add(record);
  }

  markInputsReady(ready = true): void {
    this.ready = ready;
  }

  /** The input is held (the reason, for /readyz) or no longer (null): see ServiceView.inputsHeld. */
  markInputsHeld(reason: string | null): void {
    this.held = reason;
  }

  async close(): Promise<void> {
    this.stopWallClockSchedule();
    await this.whenIdle();
    await this.clusterer.close();
  }

  // ServiceView

  latestRun(): ClusteringRun | null {
    this.refreshProvisional();
    return this.latest;
  }

  /**
   * The latest run's security groups, computed once per run: the rules as the run completes
   * (securityGroupsEveryRun) or on the first request after it, their document on the first request. Both in
   * slices of about SECURITY_GROUPS_SLICE_MS with the event loop given back between them (at 100k VMs the
   * whole takes seconds); the connection log is seen as it is at the first slice (ConnectionLog.split), and
   * the check window ends at the run's watermark.
   */
  securityGroups(): Promise<SecurityGroupsDocument | null> {
    const learned = this.securityGroupsOutcome();
    if (learned === null) return Promise.resolve(null);
    const job = this.securityGroupsJob!;
    job.document ??= learned.then((outcome) => inSlices(outcome.documentInSlices(), SECURITY_GROUPS_SLICE_MS));
    return job.document;
  }

  /** The latest run's rules, learned in slices once per run (null: no run yet). */
  private securityGroupsOutcome(): Promise<SecurityGroupsOutcome> | null {
    const run = this.latestRun();
    if (run === null) return null;
    if (this.securityGroupsJob?.run !== run) {
      const previous = this.securityGroupsJob;
      // The replaced run's columns go to a later computation once nothing reads them: its rules done and
      // its document, if one was asked for, built (no one asks for the replaced run's again).
      if (previous !== null)
        void Promise.allSettled([previous.learned, previous.document]).then(([learned]) => {
          if (learned.status === 'fulfilled') learned.value.release();
        });
      const steps = recommendInSlices(membershipOf(run), this.pipeline.connections);
      this.securityGroupsJob = { run, learned: inSlices(steps, SECURITY_GROUPS_SLICE_MS), document: null };
    }
    return this.securityGroupsJob.learned;
  }

  /**
   * The connection log security groups are learned from: a scale-out leader feeds it from the routed flows
   * (`<app>-connections`) since its pipeline applies none itself.
   */
  get connections(): ConnectionLog {
    return this.pipeline.connections;
  }

  forgetConnections(): void {
    this.pipeline.forgetConnections();
  }

  /** Security groups learned from `run` and the connection log as it is now, with the time it took. */
  learnSecurityGroups(run: ClusteringRun): SecurityGroupsOutcome {
    const started = performance.now();
    const outcome = recommendSecurityGroups(membershipOf(run), this.pipeline.connections);
    // The document too (replay writes it at once): its time is part of the figure.
    void outcome.document;
    outcome.durationMs = performance.now() - started;
    return outcome;
  }

  runHistory(): readonly RunRecord[] {
    return this.history.list();
  }

  runInProgress(): RunStatus | null {
    return this.inFlight?.status ?? null;
  }

  requestRecluster(options: ReclusterOptions = {}): ReclusterRequestOutcome {
    return this.startRun('request', options);
  }

  vm(vmId: string): VmView | null {
    const fleet = this.pipeline.fleet;
    const e = fleet.vms.get(vmId);
    if (!e) return null;
    return { vmId, tenantId: e.tenantId, attributes: e.attributes, features: vmFeatureView(fleet, e), lastSeen: e.lastSeen };
  }

  tenant(tenantId: string): TenantAttributes | null {
    return this.pipeline.fleet.tenants.get(tenantId) ?? null;
  }

  /** Records applied so far by topic: ingestStats' first figures, cheap enough to poll while reading a trace. */
  recordsIn(): Readonly<IngestStats['records']> {
    return this.pipeline.recordsIn;
  }

  ingestStats(): IngestStats & { fleet: FleetCounters } {
    const p = this.pipeline;
    return {
      messages: p.messagesIn,
      records: { ...p.recordsIn },
      rejected: p.rejections.summary(),
      watermark: Number.isFinite(p.fleet.watermark) ? p.fleet.watermark : null,
      vmsTracked: p.fleet.vms.size,
      tenantsTracked: trackedTenantCount(p.fleet),
      fleet: { ...p.fleet.counters, securityGroupConnectionsRefused: p.connections.counters.refused },
      connections: { held: p.connections.size, max: p.connections.maxConnections, refused: p.connections.counters.refused },
      attribution: { ...p.addresses.counters, unattributed: { ...p.addresses.counters.unattributed }, claims: p.addresses.size },
      heldFlows: { ...p.held.counters, flows: p.held.size, bytes: p.held.bytes },
    };
  }

  inputsReady(): boolean {
    return this.ready;
  }

  inputsHeld(): string | null {
    return this.held;
  }

  firstRunCompleted(): boolean {
    // Until the first real run, the latest run is either absent or the loaded model's placement; a
    // restored state drops the model and brings its own latest run.
    return this.latest !== null && this.seedModel === null;
  }
}

function sameInput(a: InputProgress | null, b: InputProgress): boolean {
  return a !== null && a.records === b.records && a.watermark === b.watermark;
}

/** Longest a run's input holds the event loop at once (runInputInSlices), and the VMs of one of its steps (about 2 ms). */
const RUN_INPUT_SLICE_MS = 4;
const RUN_INPUT_VMS_PER_STEP = 64;

/** Longest the stable ids' matching holds the event loop at once (identitiesInSlices). */
const IDENTITY_SLICE_MS = 4;

/**
 * Longest the security groups hold the event loop at once (a single step may run over it): 20 ms made the
 * leader's reads wait up to 0.1 s at load 22, and reads beside them keep their p99 under 10 ms only with
 * slices of a few ms.
 */
const SECURITY_GROUPS_SLICE_MS = 4;
