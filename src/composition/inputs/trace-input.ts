/**
 * The embedded default: with no Kafka configured, the bundled trace (EMBEDDED_TRACE) is read into the service
 * once, as fast as it reads, through the offline replay's own reader and limits (src/trace/trace-feed.ts):
 * a line replay rejects is rejected here with the same reason and counted the same way. Its rejects go to
 * STATE_DIR/rejected.jsonl.
 */
import { accessSync, constants, createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { ServiceEnv } from '../../config/service-config.ts';
import { ConfigError } from '../../config/service-config.ts';
import type { RejectedRecord } from '../../contract/rejections.ts';
import { EMBEDDED_MODELS_SUBDIR } from '../../model-store/history-store.ts';
import { feedTrace } from '../../trace/trace-feed.ts';
import type { InputContext, InputPreparation, ServiceInput } from './service-input.ts';

export class TraceInput implements ServiceInput {
  readonly live = false;
  readonly models: { dir: string; loadEarlier: boolean };
  private rejects: WriteStream | null = null;
  private stopped = false;

  /** Throws a ConfigError when the trace cannot be read: before listening, a server that then dies helps nobody. */
  constructor(private readonly env: ServiceEnv) {
    try {
      accessSync(env.EMBEDDED_TRACE, constants.R_OK);
    } catch {
      throw new ConfigError([`EMBEDDED_TRACE: cannot read ${env.EMBEDDED_TRACE}`]);
    }
    // The demo replays the same trace from its start on every start: an earlier demo's history and model
    // describe a later event time (loading them appended the same replay again), and a Kafka service over the
    // same MODELS_DIR must not take the demo's runs for its own. So it keeps its files apart and starts clean.
    this.models = { dir: join(env.MODELS_DIR, EMBEDDED_MODELS_SUBDIR), loadEarlier: false };
  }

  async prepare(): Promise<InputPreparation> {
    return { restored: null, report: () => undefined };
  }

  reject(record: RejectedRecord): void {
    if (!this.stopped) this.rejects?.write(`${JSON.stringify(record)}\n`);
  }

  async start({ service, log, pipeline, reportRecords }: InputContext): Promise<void> {
    const { STATE_DIR, EMBEDDED_TRACE } = this.env;
    mkdirSync(STATE_DIR, { recursive: true });
    const rejectsPath = join(STATE_DIR, 'rejected.jsonl');
    this.rejects = createWriteStream(rejectsPath);
    log.info(
      { trace: EMBEDDED_TRACE, rejects: rejectsPath, models: this.models.dir },
      'KAFKA_BROKERS is unset: replaying the bundled trace, with a fresh run history (the demo never loads its saved models or history)',
    );
    await feedTrace(EMBEDDED_TRACE, service, { maxLineBytes: pipeline.limits.maxMessageBytes, sourceOf: (n) => `${EMBEDDED_TRACE}:${n}` });
    if (this.stopped) return;
    await service.whenIdle();
    service.startRun('final');
    await service.whenIdle();
    reportRecords();
    service.markInputsReady();
    const stats = service.ingestStats();
    log.info({ records: stats.records, rejected: stats.rejected.count, vms: service.latestRun()?.vms.ids.length ?? 0 }, 'bundled trace loaded');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.rejects?.end();
  }
}
