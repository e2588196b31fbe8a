/**
 * The embedded default (npm start without Kafka) reads its trace through replay's reader: a line replay
 * rejects, it rejects with the same reason and counts the same way. Before, its own loop dropped a line over
 * 64 MiB without a word and measured the limit in characters where replay measures bytes.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createService, type ServiceHandle } from '../../src/composition/create-service.ts';
import { toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import { loadServiceConfig, type ServiceConfig } from '../../src/config/service-config.ts';
import { replayTrace } from '../../src/replay/replay.ts';

const dir = mkdtempSync(join(tmpdir(), 'trace-input-'));
const trace = join(dir, 'trace.jsonl');
const stateDir = join(dir, 'state');
const MAX_MESSAGE_BYTES = 1024;

/** Under the limit in characters, over it in bytes: 'é' is 2 bytes of UTF-8. */
const multibyte = JSON.stringify({ topic: 'tenant-attributes', value: { ts: 1793491200000, tenant_id: 't-x', name: 'é'.repeat(700) } });
/** Over the 64 MiB the embedded loop used to read at most: it vanished, uncounted. */
const huge = `{"topic":"overlay-flows","value":"${'x'.repeat(65 * 1024 * 1024)}"}`;

describe('the embedded trace input', () => {
  let config: ServiceConfig;
  let service: ServiceHandle;

  beforeAll(async () => {
    // Short lines of the bundled trace (records of every topic), then the lines to reject.
    const lines = gunzipSync(readFileSync('fixtures/small.jsonl.gz')).toString('utf8').split('\n');
    const head = lines.filter((l) => l !== '' && Buffer.byteLength(l) < MAX_MESSAGE_BYTES).slice(0, 400).join('\n');
    writeFileSync(trace, `${head}\n${multibyte}\n{"topic": oops\n${huge}\n`);
    config = loadServiceConfig({
      EMBEDDED_TRACE: trace,
      STATE_DIR: stateDir,
      MODELS_DIR: join(dir, 'models'),
      PORT: '0',
      LOG_LEVEL: 'silent',
      MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES),
      RECLUSTER_WALLCLOCK_SECONDS: '0',
    });
    service = await createService(config);
    await service.start();
  }, 120_000);

  afterAll(async () => {
    await service?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('rejects every line replay rejects, with the same reasons and counts', async () => {
    const replayed = await replayTrace(trace, { pipeline: toPipelineConfig(config.pipeline), run: toRunOptions(config.pipeline) });
    const stats = (await service.app.inject('/v1/stats')).json() as { messages: number; rejected: { count: number; by_reason: Record<string, number> } };
    expect(replayed.result.rejected.by_reason).toMatchObject({ too_large: 2, invalid_json: 1 });
    expect(stats.rejected).toEqual(replayed.result.rejected);
    expect(stats.messages).toBe(replayed.result.stats.messages);
  }, 120_000);

  it('keeps the over-long lines in the rejects file and counts them in /metrics', async () => {
    const rejects = readFileSync(join(stateDir, 'rejected.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { reason: string; source: string });
    expect(rejects.filter((r) => r.reason === 'too_large').map((r) => r.source)).toEqual([`${trace}:401`, `${trace}:403`]);
    const metrics = (await service.app.inject('/metrics')).body;
    expect(metrics).toMatch(/^alcor_records_rejected_total\{reason="too_large"\} 2$/m);
  });
});
