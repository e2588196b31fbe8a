/**
 * The member's side of its route worker (route-worker.ts): starts the thread with the settings it needs,
 * keeps the status it posts for the member's status and /metrics, counts its rejects in the main thread's
 * registry, logs its lines with the member's logger, and starts it again when it dies. While it is not
 * running the member is not ready (its route group is not joined).
 */
import type { Worker } from 'node:worker_threads';
import type { AttributionCounters } from '../attribution/address-map.ts';
import type { KafkaSettings } from '../config/kafka-settings.ts';
import type { RejectedRecord } from '../contract/rejections.ts';
import type { FutureBoundConfig } from '../pipeline/future-bound.ts';
import type { DeadLetterBlocked } from '../kafka/dead-letter.ts';
import type { KafkaLogger } from '../kafka/options.ts';
import type { PipelineConfig } from '../pipeline/pipeline.ts';
import { createWorker } from '../service/clusterer.ts';
import type { TopologyConfig } from './config.ts';
import { emptyRouteSeconds, emptyRouteStatus, ROUTE_PHASES, type RouteSeconds, type RouteStatus } from './route-stage.ts';

/**
 * The pipeline configuration as it crosses to the worker: everything is data but the wall clock of the
 * future bound, which the worker takes as its own Date.now when the member has one.
 */
export type RoutePipelineData = Omit<PipelineConfig, 'future'> & { future?: Omit<FutureBoundConfig, 'wallClock'> & { wallClock: boolean } };

export interface RouteWorkerData {
  kafka: KafkaSettings;
  topology: TopologyConfig;
  pipeline: RoutePipelineData;
  hostAttributesTopic?: string;
}

export type RouteWorkerLevel = 'debug' | 'info' | 'warn' | 'error';

export type Attribution = AttributionCounters & { claims: number };

export type RouteWorkerEvent =
  | {
      type: 'status';
      status: RouteStatus;
      attribution: Attribution;
      rejects: RejectedRecord[];
      /** The worker's dead-letter producer held by a failure no retry cures (null: writable): the route is held with it. */
      deadLetters: DeadLetterBlocked | null;
    }
  | { type: 'log'; level: RouteWorkerLevel; fields: Record<string, unknown>; msg: string }
  | { type: 'stopped' };

export function routePipelineData(p: PipelineConfig): RoutePipelineData {
  const { future, ...rest } = p;
  return future === undefined ? rest : { ...rest, future: { ...future, wallClock: future.wallClock !== null } };
}

/** The entry beside this module: `.ts` run from the sources, `.js` compiled to dist/ (as the clustering worker's). */
const ROUTE_WORKER_ENTRY = new URL(`./route-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/** The first restart waits this long, each further one twice as long up to RESTART_MAX_MS, until one joins the group. */
const RESTART_FIRST_MS = 500;
const RESTART_MAX_MS = 30_000;
/** A stop that the worker does not finish in this time ends it (its transaction is fenced by the next owner). */
const STOP_WITHIN_MS = 10_000;

export interface RouteThreadOptions {
  data: RouteWorkerData;
  log: KafkaLogger;
  onReject?: (r: RejectedRecord) => void;
}

export class RouteThread {
  private worker: Worker | null = null;
  private stopping = false;
  private restartDelayMs = RESTART_FIRST_MS;
  private restartTimer: NodeJS.Timeout | null = null;
  private latest: RouteStatus = emptyRouteStatus();
  private latestAttribution: Attribution | null = null;
  private latestDeadLetters: DeadLetterBlocked | null = null;
  /** What workers that ended had counted: the member's counters run on across a restart. */
  private readonly before = { routedMessages: 0, routedRecords: 0, routeTransactions: 0, pacedCuts: 0, seconds: emptyRouteSeconds() };
  /** Workers started again after one ended without being asked to. */
  restarts = 0;

  constructor(private readonly o: RouteThreadOptions) {}

  start(): void {
    const w = createWorker(ROUTE_WORKER_ENTRY, { workerData: this.o.data });
    this.worker = w;
    w.on('message', (e: RouteWorkerEvent) => this.onEvent(e));
    // An error thrown in the worker ends it ('exit' follows): never the process.
    w.on('error', (err) => this.o.log.error({ err: String(err) }, 'the route worker failed'));
    w.on('exit', (code) => this.onExit(w, code));
  }

  status(): RouteStatus {
    const s = this.latest;
    return {
      joined: this.worker !== null && s.joined,
      routedMessages: this.before.routedMessages + s.routedMessages,
      routedRecords: this.before.routedRecords + s.routedRecords,
      routeTransactions: this.before.routeTransactions + s.routeTransactions,
      pacedCuts: this.before.pacedCuts + s.pacedCuts,
      held: s.held,
      seconds: sumSeconds(this.before.seconds, s.seconds),
      open: s.open,
    };
  }

  /** Why the worker's dead letters cannot be written, as it last reported (null: they can, or no worker runs). */
  deadLetters(): DeadLetterBlocked | null {
    return this.latestDeadLetters;
  }

  /** The attribution counters of the worker's address table (null before its first report). */
  attribution(): Attribution | null {
    return this.latestAttribution;
  }

  /** Ends the worker as a test or an operator's kill would: it is started again as after a crash. */
  async terminate(): Promise<void> {
    await this.worker?.terminate();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    const w = this.worker;
    if (w === null) return;
    const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    w.postMessage({ type: 'stop' });
    const timer = setTimeout(() => void w.terminate(), STOP_WITHIN_MS);
    await exited;
    clearTimeout(timer);
  }

  private onEvent(e: RouteWorkerEvent): void {
    if (e.type === 'log') this.o.log[e.level](e.fields, e.msg);
    else if (e.type === 'status') {
      this.latest = e.status;
      this.latestAttribution = e.attribution;
      this.latestDeadLetters = e.deadLetters;
      if (e.status.joined) this.restartDelayMs = RESTART_FIRST_MS;
      for (const r of e.rejects) this.o.onReject?.(r);
    }
  }

  private onExit(w: Worker, code: number): void {
    if (this.worker !== w) return;
    this.worker = null;
    // Counted on: the worker reports after every route transaction, so at most the last one's counts are lost.
    this.before.routedMessages += this.latest.routedMessages;
    this.before.routedRecords += this.latest.routedRecords;
    this.before.routeTransactions += this.latest.routeTransactions;
    this.before.pacedCuts += this.latest.pacedCuts;
    this.before.seconds = sumSeconds(this.before.seconds, this.latest.seconds);
    this.latest = { ...emptyRouteStatus(), held: this.latest.held };
    // A new worker's producer starts unblocked (and the member is not ready until it joins).
    this.latestDeadLetters = null;
    if (this.stopping) return;
    this.restarts++;
    const delay = this.restartDelayMs;
    this.restartDelayMs = Math.min(RESTART_MAX_MS, delay * 2);
    this.o.log.error({ code, restart_in_ms: delay }, 'the route worker ended: the member is not ready until a new one has joined the route group');
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (!this.stopping) this.start();
    }, delay);
  }
}

function sumSeconds(a: RouteSeconds, b: RouteSeconds): RouteSeconds {
  const sum = emptyRouteSeconds();
  for (const phase of ROUTE_PHASES) sum[phase] = a[phase] + b[phase];
  return sum;
}
