/**
 * The runs topic in chunks (run-chunks.ts) on a real broker: a follower serves the leader's run assembled
 * from its chunks; a run with a chunk missing or corrupted is never served (the previous run stays); a whole
 * run in one record, as an earlier version's leader writes it, is still served; and a smaller run leaves
 * tombstones for the chunk keys of a larger one, so that compaction drops them.
 */
import { describe, expect, it } from 'vitest';
import { runToEnd } from '../../src/core/slices.ts';
import { TraceGenerator } from '../../src/generator/index.ts';
import type { ClusterServiceState } from '../../src/service/cluster-service.ts';
import { encodeDocumentInSlices } from '../../src/snapshots/sliced-document.ts';
import type { PublishedRun } from '../../src/topology/member.ts';
import { RUN_HEADER_KEY, runChunkKey, runRecordsSteps } from '../../src/topology/run-chunks.ts';
import { TopicReader } from '../../src/topology/topic-reader.ts';
import { testKafkaClient } from '../helpers/kafka.ts';
import { generatedMessages, requestedInput } from '../helpers/members.ts';
import { memberTestFile, TEST_READER_WAIT_MS } from '../helpers/scale-out.ts';
import { waitFor } from '../helpers/service-process.ts';

const file = memberTestFile();

/** Small chunks: the test's run of 60 VMs (about 200 KB) takes dozens. */
const CHUNK_BYTES = 8192;

const runIdOf = (n: number): string => `run-${String(n).padStart(6, '0')}`;

/** A run as another leader would publish it: the leader's state renumbered `n`. */
function otherLeadersRun(state: ClusterServiceState, n: number): PublishedRun {
  const latest = state.latest === null ? null : { ...state.latest, runId: runIdOf(n) };
  return { member: 'another-leader', state: { ...state, runCount: n, latest }, tick: null, request: null, attributes: [], securityGroups: null };
}

describe('the runs topic in chunks', () => {
  it('serves runs assembled whole, never a torn one, still reads the single-record format, and tombstones chunks a smaller run leaves', async ({ onTestFailed }) => {
    const app = await file.app('runchunks', 2);
    const trace = generatedMessages(new TraceGenerator({ name: 'runchunks', seed: 5, vms: 60, tenants: 4, minutes: 20 }), app.topicOf);
    const leader = await file.member(app.topology, app.pipeline, { runChunkBytes: CHUNK_BYTES });
    onTestFailed(() => console.log(`leader log, last lines:\n${leader.logs.slice(-30).join('\n')}`));
    await app.send(trace);
    // The whole trace routed and applied before the request: its run is then the last. Asked as soon as the
    // leader was ready (sooner with the tests' short reader wait), the request was answered mid-trace and the
    // tick at 00:20 ran after it; the follower, reading both runs back to back, never showed the first.
    await waitFor(async () => {
      const s = leader.member.status();
      return s.routedMessages >= trace.length && s.appliedRecords >= s.routedRecords ? true : undefined;
    }, 60_000, 'the trace routed and applied');
    await requestedInput(leader);
    const publishedRuns = () => leader.logs.filter((l) => l.includes('published the run')).map((l) => JSON.parse(l.slice(l.indexOf('{'))) as { run_id: string; request: string | null });
    const requested = await waitFor(async () => publishedRuns().find((r) => r.request !== null), 60_000, 'the requested run published');
    const first = leader.service.latestRun()!;
    expect(first.runId).toBe(requested.run_id);

    // A follower assembles the leader's run from its chunks: the same clusters.
    const follower = await file.member(app.topology, app.pipeline, { runChunkBytes: CHUNK_BYTES });
    onTestFailed(() => console.log(`follower log, last lines:\n${follower.logs.slice(-30).join('\n')}`));
    const served = await waitFor(async () => (follower.service.latestRun()?.runId === first.runId ? follower.service.latestRun()! : undefined), 60_000, `${first.runId} on the follower`);
    expect(served.vms.ids).toEqual(first.vms.ids);
    expect(served.vms.clusterIds).toEqual(first.vms.clusterIds);
    expect(follower.member.status().runsNotServed).toEqual({ unreadable: 0, torn: 0 });

    // Every run the follower takes from now on.
    const adopted: string[] = [];
    const restore = follower.service.restoreState.bind(follower.service);
    follower.service.restoreState = (state) => {
      adopted.push(state.latest?.runId ?? 'none');
      restore(state);
    };
    const state = leader.service.exportState();
    const producer = testKafkaClient(file.brokers, 'runchunks-writer').producer();
    await producer.connect();
    const topic = leader.member.topics.runs;
    let largeChunks = 0;
    const chunked = async (n: number, chunkBytes: number) =>
      runToEnd(runRecordsSteps(await encodeDocumentInSlices(otherLeadersRun(state, n)), { publication: `pub-${n}`, member: 'another-leader', runId: runIdOf(n), liveChunks: 0, chunkBytes }));
    try {
      // A publication whose chunk 1 never arrived, then one whose chunk 2 was corrupted: neither is served.
      const missing = await chunked(50, CHUNK_BYTES);
      await producer.send({ topic, messages: missing.records.filter((r) => r.key !== runChunkKey(1)) });
      const corrupted = await chunked(51, CHUNK_BYTES);
      const chunk2 = corrupted.records[2]!.value!;
      chunk2[chunk2.length - 1] = chunk2[chunk2.length - 1]! ^ 0xff;
      await producer.send({ topic, messages: corrupted.records });
      // A whole run in one record under `latest`, as a leader of the earlier version writes it: served.
      await producer.send({ topic, messages: [{ key: RUN_HEADER_KEY, value: await encodeDocumentInSlices(otherLeadersRun(state, 60)) }] });
      await waitFor(async () => (follower.service.latestRun()?.runId === runIdOf(60) ? true : undefined), 60_000, `${runIdOf(60)} on the follower`);
      expect(adopted).toEqual([runIdOf(60)]);
      expect(follower.member.status().runsNotServed).toEqual({ unreadable: 0, torn: 2 });
      expect(follower.logs.filter((l) => l.includes('that is not whole')).map((l) => /"err":"([^"]*)"/.exec(l)?.[1])).toEqual([
        `TornRunError: run ${runIdOf(50)} (publication pub-50) lacks 1 of its ${missing.header.chunks} chunks (1)`,
        `TornRunError: run ${runIdOf(51)} (publication pub-51): its chunks do not match the header's SHA-256`,
      ]);

      // A larger publication (4 times the chunks), then the leader's next run: it tombstones the keys past its own.
      const large = await chunked(70, CHUNK_BYTES / 4);
      await producer.send({ topic, messages: large.records });
      largeChunks = large.header.chunks;
      await waitFor(async () => (leader.service.latestRun()?.runId === runIdOf(70) ? true : undefined), 60_000, `${runIdOf(70)} on the leader`);
      await requestedInput(leader);
      await waitFor(async () => (follower.service.latestRun()?.runId === runIdOf(71) ? true : undefined), 60_000, `${runIdOf(71)} on the follower`);
      expect(adopted).toEqual([runIdOf(60), runIdOf(70), runIdOf(71)]);
      expect(follower.member.status().runsNotServed).toEqual({ unreadable: 0, torn: 2 });
    } finally {
      await producer.disconnect();
    }

    // The topic as compaction leaves it: every key's last record. Chunks past the last run's count are tombstones.
    const last = new Map<string, Buffer | null>();
    const reader = new TopicReader(testKafkaClient(file.brokers, 'runchunks-reader'), topic, 'runchunks-reader', (m) => {
      if (m.key !== null) last.set(m.key, m.value);
    }, { maxWaitMs: TEST_READER_WAIT_MS });
    await reader.start();
    await reader.caughtUp;
    await reader.stop();
    const header = JSON.parse(last.get(RUN_HEADER_KEY)!.subarray(8).toString()) as { runId: string; chunks: number };
    expect(header.runId).toBe(runIdOf(71));
    const chunkKeys = [...last.keys()].filter((k) => k !== RUN_HEADER_KEY);
    expect(chunkKeys.length).toBe(largeChunks);
    expect(largeChunks).toBeGreaterThan(header.chunks);
    for (const k of chunkKeys) expect([k, last.get(k) === null]).toEqual([k, Number(k.slice('chunk/'.length)) >= header.chunks]);
  }, 240_000);
});
