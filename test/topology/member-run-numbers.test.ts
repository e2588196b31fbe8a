/**
 * Issue 12's "run ids and cluster ids continue from the last published run": a run the leader could not
 * publish (here the runs topic refuses its record, a real broker fault) gives its number back. Before, each
 * attempt took the next number, so the runs topic named run-000001 then run-000004 (two attempts given up between them): a gap.
 */
import { describe, expect, it } from 'vitest';
import { TraceGenerator } from '../../src/generator/index.ts';
import { decodeDocumentInSlices } from '../../src/snapshots/sliced-document.ts';
import { TopicReader } from '../../src/topology/topic-reader.ts';
import { RunAssembler } from '../../src/topology/run-chunks.ts';
import { runToEnd } from '../../src/core/slices.ts';
import type { ClusterServiceState } from '../../src/service/cluster-service.ts';
import { InlineClusterer } from '../../src/service/clusterer.ts';
import { generatedMessages, requestedInput } from '../helpers/members.ts';
import { testKafkaClient } from '../helpers/kafka.ts';
import { memberTestFile, TEST_READER_WAIT_MS } from '../helpers/scale-out.ts';
import { waitFor } from '../helpers/service-process.ts';

const file = memberTestFile();

const PARTITIONS = 2;

const runIdOf = (n: number): string => `run-${String(n).padStart(6, '0')}`;
const runNumber = (id: string): number => Number(id.replace(/^run-/, ''));

/** The run ids of the runs topic's publications, in their order: what any member reads. */
async function publishedRunIds(topic: string): Promise<string[]> {
  const published: string[] = [];
  const kafka = testKafkaClient(file.brokers, 'runnumbers-reader');
  const assembler = new RunAssembler();
  const reader = new TopicReader(kafka, topic, 'runnumbers-reader', async (msg) => {
    const entry = assembler.offer(msg.key, msg.value);
    if (entry.kind === 'chunk') return;
    if (entry.kind !== 'header') throw new Error(`a record of the runs topic that is not a chunk or header: ${entry.kind}`);
    const bytes = runToEnd(entry.assemble());
    published.push(((await decodeDocumentInSlices(bytes)) as { state: ClusterServiceState }).state.latest?.runId ?? 'none');
  }, { maxWaitMs: TEST_READER_WAIT_MS });
  await reader.start();
  await reader.caughtUp;
  await reader.stop();
  return published;
}

/** The inline clusterer, but a run fails (as a worker that throws or dies) while `failing` is set. */
class FailingClusterer extends InlineClusterer {
  failing = false;
  failed: string[] = [];

  override async run(...args: Parameters<InlineClusterer['run']>): ReturnType<InlineClusterer['run']> {
    if (this.failing) {
      this.failed.push(args[1]);
      throw new Error(`clustering worker exited with code 1 (injected into ${args[1]})`);
    }
    return super.run(...args);
  }
}

describe('a run whose clustering fails', () => {
  it('gives its number back: the next run published is the one after the last published, matched against it', async ({ onTestFailed }) => {
    const app = await file.app('runfailed', PARTITIONS);
    const trace = generatedMessages(new TraceGenerator({ name: 'runfailed', seed: 7, vms: 60, tenants: 4, minutes: 20 }), app.topicOf);
    const clusterer = new FailingClusterer();
    const m = await file.member(app.topology, app.pipeline, { clusterer });
    onTestFailed(() => console.log(`member log, last lines:\n${m.logs.slice(-40).join('\n')}`));
    await app.send(trace);
    await requestedInput(m);
    const publishedLines = () => m.logs.filter((l) => l.includes('published the run'));
    await waitFor(async () => (publishedLines().length > 0 ? true : undefined), 60_000, 'a run published');
    // Ticks of the trace may still complete: wait until no run is in flight or being published.
    await waitFor(async () => (m.service.runInProgress() === null ? true : undefined), 60_000, 'no run in flight');
    const last = runNumber(m.service.latestRun()!.runId);

    clusterer.failing = true;
    m.member.requestRun(false);
    await waitFor(async () => (m.logs.some((l) => l.includes('its number is given back')) ? true : undefined), 60_000, 'the failed run given back');
    clusterer.failing = false;
    // A tick completing meanwhile may fail too: each failure took the same number again (before: the next one).
    expect(clusterer.failed.length).toBeGreaterThanOrEqual(1);
    expect(new Set(clusterer.failed)).toEqual(new Set([runIdOf(last + 1)]));
    const back = m.logs.filter((l) => l.includes('the run failed: its number is given back')).map((l) => JSON.parse(l.slice(l.indexOf('{'))) as { run_id: string; serving: string });
    expect(back.length).toBe(clusterer.failed.length);
    expect(new Set(back.map((b) => `${b.run_id} serving ${b.serving}`))).toEqual(new Set([`${runIdOf(last + 1)} serving ${runIdOf(last)}`]));
    expect(m.service.exportState().runCount).toBe(last);

    m.member.requestRun(false);
    // Before the fix: run-(last + 2), previous run-(last), and run-(last + 1) named nowhere.
    await waitFor(async () => (publishedLines().some((l) => l.includes(runIdOf(last + 1))) ? true : undefined), 60_000, `${runIdOf(last + 1)} published`);
    const history = m.service.runHistory();
    expect(history.map((r) => r.runId)).toEqual(Array.from({ length: history.length }, (_, i) => runIdOf(i + 1)));
    expect(m.service.latestRun()!.runId).toBe(runIdOf(last + 1));
    expect(history.at(-1)!.changes.previousRunId).toBe(runIdOf(last));
    const published = await publishedRunIds(m.member.topics.runs);
    expect(published).toEqual(Array.from({ length: published.length }, (_, i) => runIdOf(i + 1)));
    expect(published.at(-1)).toBe(runIdOf(last + 1));
  }, 180_000);
});

describe('a run that cannot be published', () => {
  it('gives its number back: the runs topic names consecutive runs, and the member serves the last published one meanwhile', async ({ onTestFailed }) => {
    const app = await file.app('runnumbers', PARTITIONS);
    const trace = generatedMessages(new TraceGenerator({ name: 'runnumbers', seed: 7, vms: 60, tenants: 4, minutes: 20 }), app.topicOf);
    const m = await file.member(app.topology, app.pipeline);
    onTestFailed(() => console.log(`member log, last lines:\n${m.logs.slice(-40).join('\n')}`));
    await app.send(trace);
    await requestedInput(m);
    await waitFor(async () => (m.logs.some((l) => l.includes('published the run')) ? true : undefined), 60_000, 'a run published');

    // The runs topic refuses any record of the size of a run: every attempt to publish fails.
    const admin = testKafkaClient(file.brokers, 'runnumbers-admin').admin();
    await admin.connect();
    const runsTopicLimit = async (bytes: number) =>
      admin.alterConfigs({ validateOnly: false, resources: [{ type: 2, name: m.member.topics.runs, configEntries: [{ name: 'max.message.bytes', value: String(bytes) }] }] });
    const givenBack = (): Array<{ run_id: string; serving: string }> =>
      m.logs.filter((l) => l.includes('its number is given back')).map((l) => JSON.parse(l.slice(l.indexOf('{'))) as { run_id: string; serving: string });
    let last = 0;
    try {
      await runsTopicLimit(512);
      m.member.requestRun(false);
      // Twice: the second attempt at the run (its features waited) took the same number again.
      await waitFor(async () => (givenBack().length >= 2 ? true : undefined), 90_000, 'the run given back twice').catch((err: unknown) => {
        throw new Error(`${String(err)}\n${m.logs.slice(-20).join('\n')}`);
      });
      await runsTopicLimit(64 * 1024 * 1024);
    } finally {
      await admin.disconnect();
    }
    // Every attempt was the run after the last published one, and each left that one served.
    const back = givenBack();
    expect(back.length).toBeGreaterThanOrEqual(2);
    // Ticks of the trace may have been published before the limit: the last of them was served again each time.
    last = runNumber(back[0]!.serving);
    expect(last).toBeGreaterThanOrEqual(1);
    expect(new Set(back.map((b) => `${b.run_id} serving ${b.serving}`))).toEqual(new Set([`${runIdOf(last + 1)} serving ${runIdOf(last)}`]));
    await waitFor(async () => (m.logs.some((l) => l.includes('published the run') && l.includes(runIdOf(last + 1))) ? true : undefined), 90_000, `${runIdOf(last + 1)} published`);

    // What any member reads: the two runs, consecutive.
    const published = await publishedRunIds(m.member.topics.runs);
    expect(published.length).toBeGreaterThanOrEqual(last + 1);
    const history = m.service.runHistory().map((r) => r.runId);
    expect(history).toEqual(Array.from({ length: history.length }, (_, i) => runIdOf(i + 1)));
    expect(published).toEqual(Array.from({ length: published.length }, (_, i) => runIdOf(i + 1)));
  }, 240_000);
});

describe('a leader whose runs producer is fenced', () => {
  it('stops leading and never fences back: the fencing producer keeps committing', async ({ onTestFailed }) => {
    const app = await file.app('runsfenced', PARTITIONS);
    const trace = generatedMessages(new TraceGenerator({ name: 'runsfenced', seed: 7, vms: 60, tenants: 4, minutes: 20 }), app.topicOf);
    const m = await file.member(app.topology, app.pipeline);
    onTestFailed(() => console.log(`member log, last lines:\n${m.logs.slice(-40).join('\n')}`));
    await app.send(trace);
    await requestedInput(m);
    await waitFor(async () => (m.logs.some((l) => l.includes('published the run')) ? true : undefined), 60_000, 'a run published');

    // Another producer of the runs' transactional id, as a new leader's (or a zombie's renewed one): it fences the member's.
    const other = testKafkaClient(file.brokers, 'runsfenced-other').producer({ transactionalId: `${app.topology.appId}-leader-runs`, idempotent: true, maxInFlightRequests: 1 });
    await other.connect();
    try {
      await (await other.transaction()).abort();
      const published = m.logs.filter((l) => l.includes('published the run')).length;
      m.member.requestRun(false);
      await waitFor(async () => (m.logs.some((l) => l.includes('the runs producer was fenced')) ? true : undefined), 60_000, 'the member fenced');
      expect(m.member.status().leader).toBe(false);
      // Before the fix the member ran the request again at once, met its fenced producer in kafkajs' ABORTING
      // state, took that for a broker fault and renewed the producer: which fenced this one, and this commit failed.
      await new Promise((r) => setTimeout(r, 3000));
      const txn = await other.transaction();
      await txn.send({ topic: app.topics.flows, messages: [{ value: 'not a flow: written by the fencing producer' }] });
      await txn.commit();
      expect(m.logs.filter((l) => l.includes('published the run')).length).toBe(published);
      expect(m.logs.filter((l) => l.includes('could not publish the run')).length).toBe(1);
    } finally {
      await other.disconnect();
    }
  }, 180_000);
});
