import { describe, expect, it } from 'vitest';
import { deriveKey } from '../../src/kafka/produce-trace.ts';
import { PartitionWatermarks } from '../../src/pipeline/partition-watermarks.ts';
import { defaultPipelineConfig, Pipeline } from '../../src/pipeline/pipeline.ts';
import { kafkaPartitionOf } from '../../src/topology/by-vm.ts';
import { traceMessages } from '../../src/trace/trace-messages.ts';

const NEG = Number.NEGATIVE_INFINITY;
/** Idle after 1 s of wall time; a partition read at most 60 s of event time ahead of the reader. */
const config = { idleMs: 1000, maxLeadMs: 60_000 };

/** A message of `p` read at wall time `now`, with a flow at `ts`, the partition at `next` of a log ending at `end`. */
function read(w: PartitionWatermarks, p: string, ts: number, next: number, end: number, now: number): void {
  w.observe(p, ts);
  w.read(p, next, end, now);
}

describe('PartitionWatermarks', () => {
  it('with no partition tracked, the reader watermark is the newest time and every read is allowed', () => {
    const w = new PartitionWatermarks(config);
    expect(w.size).toBe(0);
    expect(w.watermark(5000)).toBe(5000);
    expect(w.mayRead('flows/0', 5000, 0)).toBe(true);
  });

  it('a partition assigned but not read yet holds the reader watermark, and may read its first message', () => {
    const w = new PartitionWatermarks(config);
    w.assign(['flows/0', 'flows/1'], 0);
    read(w, 'flows/0', 600_000, 1, 100, 10);
    expect(w.watermark(600_000)).toBe(NEG);
    expect(w.mayRead('flows/0', 600_000, 20)).toBe(false);
    expect(w.mayRead('flows/1', 600_000, 20)).toBe(true);
    read(w, 'flows/1', 100_000, 1, 100, 30);
    // The lowest of the partitions behind their log end: flows/0 waits until flows/1 is within the lead.
    expect(w.watermark(600_000)).toBe(100_000);
    expect(w.mayRead('flows/0', 600_000, 40)).toBe(false);
    expect(w.mayRead('flows/1', 600_000, 40)).toBe(true);
    read(w, 'flows/1', 540_000, 2, 100, 50);
    expect(w.watermark(600_000)).toBe(540_000);
    expect(w.mayRead('flows/0', 600_000, 60)).toBe(true);
  });

  it('a partition caught up with its log end holds nothing, until a fetch finds it behind again', () => {
    const w = new PartitionWatermarks(config);
    w.assign(['flows/0', 'flows/1'], 0);
    read(w, 'flows/0', 600_000, 1, 100, 10);
    read(w, 'flows/1', 100_000, 7, 7, 10);
    expect(w.watermark(600_000)).toBe(600_000);
    expect(w.mayRead('flows/0', 600_000, 20)).toBe(true);
    // New records on flows/1, older than the reader's watermark: it holds again, but the watermark stays.
    read(w, 'flows/1', 200_000, 8, 9, 30);
    expect(w.watermark(600_000)).toBe(600_000);
  });

  it('a partition silent for the idle time stops holding, whether behind or never read, after being woken once', () => {
    const w = new PartitionWatermarks(config);
    w.assign(['flows/0', 'flows/1', 'flows/2'], 0);
    read(w, 'flows/0', 600_000, 1, 100, 100);
    read(w, 'flows/1', 100_000, 1, 100, 100);
    expect(w.watermark(600_000)).toBe(NEG);
    expect(w.mayRead('flows/0', 600_000, 999)).toBe(false);
    // flows/2, never read, is idle at 1000: flows/0 is read beyond its lead, so it is woken, and holds until 2000.
    expect(w.mayRead('flows/0', 600_000, 1000)).toBe(false);
    expect(w.watermark(600_000)).toBe(NEG);
    // flows/1 was last read at 100: idle at 1100, woken, holds until 2100.
    expect(w.mayRead('flows/0', 600_000, 1100)).toBe(false);
    expect(w.mayRead('flows/0', 600_000, 2000)).toBe(false);
    expect(w.watermark(600_000)).toBe(100_000);
    // Not woken twice for one silence.
    expect(w.mayRead('flows/0', 600_000, 2100)).toBe(true);
    expect(w.watermark(600_000)).toBe(600_000);
    expect(w.mayRead('flows/0', 600_000, 5000)).toBe(true);
  });

  it('a backlog reaching partitions read to their end: those behind the one read first hold again, once, until read', () => {
    const w = new PartitionWatermarks(config);
    w.assign(['flows/0', 'flows/1'], 0);
    // Nothing to read at the start: both idle at 1000 (never read).
    expect(w.watermark(NEG)).toBe(NEG);
    // The whole trace arrives at once; kafkajs hands flows/0's batch over first.
    expect(w.mayRead('flows/0', NEG, 5000)).toBe(true);
    read(w, 'flows/0', 100_000, 1, 50, 5000);
    expect(w.mayRead('flows/0', 100_000, 5000)).toBe(false);
    expect(w.mayRead('flows/1', 100_000, 5000)).toBe(true);
    read(w, 'flows/1', 100_000, 1, 50, 5000);
    expect(w.watermark(100_000)).toBe(100_000);
    expect(w.mayRead('flows/0', 100_000, 5000)).toBe(true);
  });

  it('a partition revoked no longer holds; one assigned again is unknown until read', () => {
    const w = new PartitionWatermarks(config);
    w.assign(['flows/0', 'flows/1'], 0);
    read(w, 'flows/0', 600_000, 1, 100, 10);
    read(w, 'flows/1', 100_000, 1, 100, 10);
    expect(w.watermark(600_000)).toBe(100_000);
    w.assign(['flows/0'], 20);
    expect(w.size).toBe(1);
    expect(w.exportState().partitions).toEqual([{ partition: 'flows/0', watermark: 600_000 }]);
    // flows/0 itself, assigned again, holds as unknown: at its own watermark, which is the newest here.
    expect(w.watermark(600_000)).toBe(600_000);
  });

  it('never goes back: a partition assigned later with older records does not lower it', () => {
    const w = new PartitionWatermarks(config);
    w.assign(['flows/0'], 0);
    read(w, 'flows/0', 600_000, 1, 100, 10);
    expect(w.watermark(600_000)).toBe(600_000);
    w.assign(['flows/0', 'flows/1'], 20);
    read(w, 'flows/1', 100_000, 1, 100, 30);
    expect(w.watermark(600_000)).toBe(600_000);
    // Its records hold the reader where it is, not lower; the partition ahead waits for them.
    read(w, 'flows/0', 660_001, 2, 100, 40);
    expect(w.mayRead('flows/0', 660_001, 40)).toBe(false);
    expect(w.watermark(660_001)).toBe(600_000);
  });

  it('a checkpoint round trip keeps each partition\'s watermark and the reader\'s', () => {
    const w = new PartitionWatermarks(config);
    w.assign(['flows/0', 'flows/1', 'flows/2'], 0);
    read(w, 'flows/0', 600_000, 1, 100, 10);
    read(w, 'flows/1', 100_000, 1, 100, 10);
    read(w, 'flows/2', 300_000, 3, 3, 10);
    expect(w.watermark(600_000)).toBe(100_000);
    const state = w.exportState();
    expect(state).toEqual({
      reader: 100_000,
      partitions: [
        { partition: 'flows/0', watermark: 600_000 },
        { partition: 'flows/1', watermark: 100_000 },
        { partition: 'flows/2', watermark: 300_000 },
      ],
    });
    const again = new PartitionWatermarks(config);
    again.restore(JSON.parse(JSON.stringify(state)));
    expect(again.exportState()).toEqual(state);
    // Restored partitions hold nothing until assigned; assigned, each is unknown until read.
    expect(again.watermark(600_000)).toBe(600_000);
    const fresh = new PartitionWatermarks(config);
    fresh.restore(state);
    fresh.assign(['flows/1', 'flows/2'], 100);
    expect(fresh.watermark(600_000)).toBe(100_000);
    expect(fresh.exportState().partitions.map((p) => p.partition)).toEqual(['flows/1', 'flows/2']);
  });

  it('restores a checkpoint of one watermark (an earlier build\'s): the reader starts there', () => {
    const w = new PartitionWatermarks(config);
    w.restore({ reader: 400_000, partitions: [] });
    w.assign(['flows/0'], 0);
    read(w, 'flows/0', 100_000, 1, 100, 10);
    expect(w.watermark(400_000)).toBe(400_000);
    expect(w.exportState()).toEqual({ reader: 400_000, partitions: [{ partition: 'flows/0', watermark: 100_000 }] });
  });
});

/**
 * The small fixture as Kafka carries it on 3 flows partitions (keyed as `npm run produce` keys them), read as
 * kafkajs reads a backlog: each fetch hands over a whole partition's stretch, one partition after another.
 */
describe('PartitionWatermarks.readBound (a reader asking once a batch, the scale-out routers)', () => {
  it('is the lead past the slowest other partition that holds or could be woken, and +Infinity with none', () => {
    const w = new PartitionWatermarks(config);
    w.assign(['flows/0', 'flows/1', 'flows/2'], 0);
    // Two unknown partitions hold at -Infinity: nothing past the first message yet.
    read(w, 'flows/0', 600_000, 1, 100, 10);
    expect(w.readBound('flows/0')).toBe(NEG);
    read(w, 'flows/1', 100_000, 1, 100, 20);
    read(w, 'flows/2', 130_000, 1, 100, 20);
    expect(w.readBound('flows/0')).toBe(160_000);
    expect(w.readBound('flows/1')).toBe(190_000);
    // flows/2 caught up: not holding, but not woken either, so mayRead could wake it: still counted.
    read(w, 'flows/2', 130_000, 100, 100, 30);
    expect(w.readBound('flows/1')).toBe(190_000);
    expect(w.mayRead('flows/0', 600_000, 40)).toBe(false);
    expect(w.readBound('flows/0')).toBe(160_000);
    // Every partition idle (1 s): the reader's watermark is the newest time; flows/2, woken once, counts no more.
    expect(w.mayRead('flows/1', 600_000, 2000)).toBe(true);
    expect(w.readBound('flows/1')).toBe(660_000);
    expect(w.readBound('flows/0')).toBe(660_000);
    const alone = new PartitionWatermarks(config);
    alone.assign(['flows/0'], 0);
    read(alone, 'flows/0', 600_000, 1, 100, 10);
    expect(alone.readBound('flows/0')).toBe(Number.POSITIVE_INFINITY);
  });

  it('never lets a partition past a point mayRead would refuse (seeded walk over 3 partitions)', () => {
    let seed = 12;
    const next = (n: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    const w = new PartitionWatermarks(config);
    const names = ['flows/0', 'flows/1', 'flows/2'];
    w.assign(names, 0);
    const marks = [0, 0, 0];
    const offsets = [0, 0, 0];
    let checked = 0;
    for (let step = 0, now = 0; step < 5000; step++, now += next(40)) {
      const p = next(3);
      const name = names[p]!;
      const bound = w.readBound(name);
      const ts = marks[p]! + next(30_000);
      const newest = Math.max(...marks, ts);
      if (ts <= bound) {
        checked++;
        w.observe(name, ts);
        expect(w.mayRead(name, newest, now)).toBe(true);
      } else if (!w.mayRead(name, newest, now)) continue;
      marks[p] = Math.max(marks[p]!, ts);
      offsets[p]!++;
      read(w, name, ts, offsets[p]!, offsets[p]! + next(3), now);
    }
    expect(checked).toBeGreaterThan(1000);
  });
});

describe('PartitionWatermarks.report (partitions another reader reads: the scale-out members\' routers)', () => {
  it('a reported partition holds while behind or unknown, and for the idle time after its latest report only', () => {
    const w = new PartitionWatermarks(config);
    w.assign(['flows:0'], 0);
    read(w, 'flows:0', 600_000, 1, 100, 10);
    w.report('flows:1', 100_000, true, 10);
    // Another member's router at 100 s, behind: this one waits within the lead of it.
    expect(w.watermark(600_000)).toBe(100_000);
    expect(w.mayRead('flows:0', 600_000, 20)).toBe(false);
    expect(w.readBound('flows:0')).toBe(160_000);
    // Reported again while held back (the same watermark): still holding after the first report's idle time.
    w.report('flows:1', 100_000, true, 900);
    expect(w.mayRead('flows:0', 600_000, 1500)).toBe(false);
    // It moves on, within the lead: reading resumes.
    w.report('flows:1', 550_000, true, 1600);
    expect(w.mayRead('flows:0', 600_000, 1600)).toBe(true);
    expect(w.watermark(600_000)).toBe(550_000);
    // Silent for the idle time (its member dead, its reports lost): it stops holding, is woken once (a
    // backlog may have reached it) and holds for the idle time again, then nothing: never for good.
    read(w, 'flows:0', 700_000, 2, 100, 1700);
    expect(w.mayRead('flows:0', 700_000, 2599)).toBe(false);
    expect(w.mayRead('flows:0', 700_000, 2600)).toBe(false);
    expect(w.mayRead('flows:0', 700_000, 3599)).toBe(false);
    expect(w.mayRead('flows:0', 700_000, 3600)).toBe(true);
    expect(w.watermark(700_000)).toBe(700_000);
  });

  it('a partition reported caught up holds nothing but its wake; one reported with no flow yet holds as unknown', () => {
    const w = new PartitionWatermarks(config);
    w.assign(['flows:0'], 0);
    read(w, 'flows:0', 600_000, 1, 100, 10);
    w.report('flows:1', 100_000, false, 10);
    // Read past its lead, it is woken once, as a partition of this reader's own: held for the idle time.
    expect(w.mayRead('flows:0', 600_000, 20)).toBe(false);
    expect(w.mayRead('flows:0', 600_000, 1020)).toBe(true);
    expect(w.watermark(600_000)).toBe(600_000);
    // Reported with no flow yet (its router's first transaction): unknown, it holds until it has a watermark.
    const fresh = new PartitionWatermarks(config);
    fresh.assign(['flows:0'], 0);
    fresh.report('flows:2', null, null, 5);
    read(fresh, 'flows:0', 600_000, 1, 100, 10);
    expect(fresh.watermark(600_000)).toBe(NEG);
    expect(fresh.mayRead('flows:0', 600_000, 20)).toBe(false);
    fresh.report('flows:2', 580_000, true, 30);
    expect(fresh.mayRead('flows:0', 600_000, 40)).toBe(true);
    expect(fresh.watermark(600_000)).toBe(580_000);
  });

  it('a report of a partition assigned here changes nothing: its own reading judges it', () => {
    const w = new PartitionWatermarks(config);
    w.assign(['flows:0', 'flows:1'], 0);
    read(w, 'flows:0', 600_000, 1, 100, 10);
    read(w, 'flows:1', 590_000, 5, 5, 10);
    w.report('flows:1', 100_000, true, 20);
    expect(w.watermark(600_000)).toBe(600_000);
    expect(w.mayRead('flows:0', 600_000, 20)).toBe(true);
  });

  it('another reader\'s partition never reported (a member that has routed nothing yet) holds as unknown from the assignment for the idle time, then once more when woken', () => {
    const w = new PartitionWatermarks(config);
    w.assign(['flows:0'], 0, ['flows:0', 'flows:1']);
    expect(w.size).toBe(2);
    read(w, 'flows:0', 100_000, 1, 100, 10);
    read(w, 'flows:0', 600_000, 2, 100, 20);
    // flows:1 is unknown since the assignment: held within its idle time.
    expect(w.mayRead('flows:0', 600_000, 999)).toBe(false);
    // Silent past it: not held any more, but woken once (a backlog may just have reached it).
    expect(w.mayRead('flows:0', 600_000, 1000)).toBe(false);
    expect(w.mayRead('flows:0', 600_000, 1999)).toBe(false);
    // Its router's first report in time: within the lead of it, reading goes on; behind it, held.
    w.report('flows:1', 200_000, true, 2000);
    expect(w.mayRead('flows:0', 600_000, 2050)).toBe(false);
    expect(w.readBound('flows:0')).toBe(260_000);
    w.report('flows:1', 590_000, true, 2100);
    expect(w.mayRead('flows:0', 600_000, 2150)).toBe(true);
    // Its member gone: silent for the idle time, woken once more (held for the idle time), then it holds
    // nothing, never for good.
    read(w, 'flows:0', 700_000, 3, 100, 2200);
    expect(w.mayRead('flows:0', 700_000, 3099)).toBe(false);
    expect(w.mayRead('flows:0', 700_000, 3100)).toBe(false);
    expect(w.mayRead('flows:0', 700_000, 4099)).toBe(false);
    expect(w.mayRead('flows:0', 700_000, 4100)).toBe(true);
    read(w, 'flows:0', 800_000, 4, 100, 4200);
    expect(w.mayRead('flows:0', 800_000, 4300)).toBe(true);
    expect(w.watermark(800_000)).toBe(800_000);
  });

  it('revoked to another reader, a partition keeps its watermark and holds as unknown until its new reader reports, or for the idle time', () => {
    const w = new PartitionWatermarks(config);
    w.assign(['flows:0', 'flows:1'], 0);
    read(w, 'flows:0', 200_000, 1, 100, 10);
    read(w, 'flows:1', 100_000, 1, 100, 10);
    w.assign(['flows:0'], 100, ['flows:1']);
    expect(w.size).toBe(2);
    read(w, 'flows:0', 200_000, 2, 100, 110);
    expect(w.mayRead('flows:0', 200_000, 120)).toBe(false);
    // Its new reader resumes from the committed state: its report moves it, and reading goes on.
    w.report('flows:1', 150_000, true, 200);
    expect(w.mayRead('flows:0', 200_000, 210)).toBe(true);
    // Assigned back here, it is this reader's again: reports of it change nothing.
    w.assign(['flows:0', 'flows:1'], 300, []);
    read(w, 'flows:1', 190_000, 2, 2, 310);
    w.report('flows:1', 100_000, true, 320);
    expect(w.readBound('flows:0')).toBe(250_000);
    expect(w.mayRead('flows:0', 200_000, 330)).toBe(true);
    // Not another reader's (one process), a revoked partition is forgotten.
    w.assign(['flows:0'], 400);
    expect(w.size).toBe(1);
  });
});

describe('a Pipeline reading a backlog of 3 flows partitions', () => {
  const PARTITIONS = 3;
  /**
   * Messages by partition, keyed as `npm run produce` keys them. The attributes ride in the partition of
   * their key among the flows (in Kafka they have topics of their own, interleaved as the fetches fall):
   * kept near the flows of their time, the test compares the watermarks' doing alone.
   */
  async function streams(): Promise<Array<{ partition: string; messages: Array<[string, string]> }>> {
    const { flows } = defaultPipelineConfig.topics;
    const out = Array.from({ length: PARTITIONS }, (_, p) => ({ partition: `${flows}/${p}`, messages: [] as Array<[string, string]> }));
    let unkeyed = 0;
    for (const m of await traceMessages('fixtures/small.jsonl.gz')) {
      const key = deriveKey(m[0], JSON.parse(m[1]));
      out[key === null ? unkeyed++ % PARTITIONS : kafkaPartitionOf(key, PARTITIONS)]!.messages.push(m);
    }
    return out;
  }

  /** Rounds of fetches until every stream is read; `paced`: the pipeline is told of the partitions and paces them. */
  function read(input: Awaited<ReturnType<typeof streams>>, paced: boolean): Pipeline {
    const pipeline = new Pipeline(defaultPipelineConfig);
    let now = 0;
    if (paced) pipeline.inputPartitions.assign(input.map((s) => s.partition), now);
    const at = input.map(() => 0);
    for (let round = 0; at.some((a, i) => a < input[i]!.messages.length); round++) {
      if (round > 10_000) throw new Error('no progress');
      input.forEach((s, i) => {
        now += 10;
        const end = s.messages.length;
        for (; at[i]! < end; at[i]!++) {
          const tracked = paced ? s.partition : null;
          if (tracked !== null && !pipeline.mayRead(tracked, now)) break;
          const [topic, text] = s.messages[at[i]!]!;
          pipeline.ingestMessage(topic, text, `${s.partition}@${at[i]}`, tracked);
          if (tracked !== null) pipeline.inputPartitions.read(tracked, at[i]! + 1, end, now);
        }
      });
    }
    return pipeline;
  }

  it('rejects as too_late what the replay of the one ordered trace rejects (49) and ends with its features, where one watermark lost 43,492', async () => {
    const input = await streams();
    expect(input.map((s) => s.messages.length)).toEqual([1356, 1515, 1446]);
    const ordered = new Pipeline(defaultPipelineConfig);
    for (const [topic, text] of await traceMessages('fixtures/small.jsonl.gz')) ordered.ingestMessage(topic, text, '');
    expect(ordered.rejections.summary().by_reason.too_late).toBe(49);
    const paced = read(input, true);
    expect(paced.rejections.summary().by_reason.too_late).toBe(49);
    expect(paced.recordsIn).toEqual(ordered.recordsIn);
    expect(paced.fleet.watermark).toBe(ordered.fleet.watermark);
    expect(paced.fleet.vms.size).toBe(ordered.fleet.vms.size);
    expect(paced.runInput()).toEqual(ordered.runInput());
    expect(read(input, false).rejections.summary().by_reason.too_late).toBe(43_492);
  }, 60_000);
});
