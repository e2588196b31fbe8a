/**
 * Route transactions that span several fetched batches (route-stage.ts), on the shared test broker: one
 * left open by a route worker that dies, and one open while a second member joins the route group (a
 * rebalance), are aborted, and their batches routed again once: the end result is one process's over the
 * same messages, nothing lost or counted twice.
 */
import { describe, expect, it } from 'vitest';
import { TraceGenerator } from '../../src/generator/index.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import type { RunInput } from '../../src/runs/run-input.ts';
import type { RouteStatus } from '../../src/topology/route-stage.ts';
import { comparableRunInput, generatedMessages, requestedInput, type TestMember } from '../helpers/members.ts';
import { type InProcessApp, memberTestFile } from '../helpers/scale-out.ts';
import { waitFor } from '../helpers/service-process.ts';

const file = memberTestFile();

/**
 * Transactions that commit only after 5 s (or a million messages): while the test sends, kafkajs fetches
 * what has arrived, so each one spans many batches.
 */
const LONG_TRANSACTIONS = { routeCommitMs: 5000, routeCommitMessages: 1_000_000 };

/** A generated trace as single-record flow messages (a stream of many batches), and one process's run of it. */
function traceAndReference(app: InProcessApp, seed: number): { trace: Array<{ topic: string; value: string }>; single: Pipeline; expected: RunInput } {
  const trace = generatedMessages(new TraceGenerator({ name: `rt${seed}`, seed, vms: 60, tenants: 6, minutes: 22 }), app.topicOf).flatMap((m) => {
    if (m.topic !== app.topics.flows) return [m];
    const value: unknown = JSON.parse(m.value);
    return (Array.isArray(value) ? value : [value]).map((r) => ({ topic: m.topic, value: JSON.stringify(r) }));
  });
  const single = new Pipeline(app.pipeline);
  for (const [i, m] of trace.entries()) {
    single.ingestMessage(m.topic, m.value, `m${i}`);
    if (single.runDue()) single.runInput();
  }
  return { trace, single, expected: single.runInput() };
}

function openOf(m: TestMember): RouteStatus['open'] {
  const thread = m.member.routeThread;
  if (thread === null) throw new Error('the member runs no route worker');
  return thread.status().open;
}

/** Waits for a route transaction of `m` open over at least two fetched batches, and returns what it holds. */
async function spanningTransaction(m: TestMember): Promise<RouteStatus['open']> {
  return waitFor(async () => {
    const open = openOf(m);
    return open.batches >= 2 ? open : undefined;
  }, 60_000, 'a route transaction open over two batches or more');
}

/**
 * Waits for every record routed, as `m` reads the route group's committed router states (every member's):
 * a partition whose last batch came long ago commits at its transaction's age (LONG_TRANSACTIONS).
 */
async function everyRecordRouted(m: TestMember, single: Pipeline): Promise<void> {
  const counts = () => JSON.stringify(m.member.status().records);
  const expected = JSON.stringify(single.recordsIn);
  await waitFor(async () => (counts() === expected ? true : undefined), 90_000, 'every record routed').catch((err: unknown) => {
    throw new Error(`${String(err)}: ${counts()} of ${expected}\n${m.logs.slice(-20).join('\n')}`);
  });
}

describe('a route transaction spanning several batches', () => {
  it('left open by a route worker that dies is aborted, and its batches are routed again once', async () => {
    const app = await file.app('rtkill', 3);
    const { trace, single, expected } = traceAndReference(app, 21);
    const m = await file.member({ ...app.topology, ...LONG_TRANSACTIONS }, app.pipeline, { routeWorker: true });
    const thread = m.member.routeThread!;
    await waitFor(async () => (m.member.notReadyReason() === null ? true : undefined), 60_000, 'the member ready');
    const sending = app.send(trace);
    // What the open transaction holds was sent to the by-VM topic, not committed: the worker dies with it.
    const open = await spanningTransaction(m);
    expect(open.messages).toBeGreaterThan(0);
    await thread.terminate();
    await sending;
    await everyRecordRouted(m, single);
    expect(thread.restarts).toBe(1);
    const run = await requestedInput(m, 90_000);
    expect(m.member.status().records).toEqual(single.recordsIn);
    expect(m.member.status().rejected).toEqual(single.rejections.summary());
    expect(comparableRunInput(run)).toEqual(comparableRunInput(expected));
  }, 240_000);

  it('open while a second member joins is aborted, and the input partitions continue from their commits', async () => {
    const app = await file.app('rtjoin', 3);
    const { trace, single, expected } = traceAndReference(app, 22);
    const topology = { ...app.topology, ...LONG_TRANSACTIONS };
    const first = await file.member(topology, app.pipeline, { routeWorker: true });
    await waitFor(async () => (first.member.notReadyReason() === null ? true : undefined), 60_000, 'the first member ready');
    const half = Math.floor(trace.length / 2);
    await app.send(trace.slice(0, half));
    await spanningTransaction(first);
    // The rest a little at a time while the second member starts and joins: batches keep coming, so the
    // first member has a transaction open whenever the rebalance reaches it.
    let joined = false;
    const sending = (async () => {
      for (let i = half; i < trace.length; i += 20) {
        await app.send(trace.slice(i, i + 20));
        if (!joined) await new Promise((r) => setTimeout(r, 50));
      }
    })();
    // The join moves input partitions (the route group's rebalance) while the first member's transaction is open.
    const second = await file.member(topology, app.pipeline, { routeWorker: true });
    await waitFor(async () => (second.member.notReadyReason() === null ? true : undefined), 60_000, 'the second member ready');
    joined = true;
    await sending;
    const members = [first, second];
    await everyRecordRouted(first, single);
    // The first member's open transaction did not survive the join (a rejoin reads from the commit): the
    // route worker lives on, and nothing it held is counted.
    expect(first.member.routeThread?.restarts).toBe(0);
    expect(first.logs.some((l) => /joined \S+-route with route transactions open/.test(l)), first.logs.slice(-20).join('\n')).toBe(true);
    const leader = await waitFor(async () => members.find((m) => m.member.status().leader), 60_000, 'a leader');
    const run = await requestedInput(leader, 90_000);
    expect(first.member.status().records).toEqual(single.recordsIn);
    expect(first.member.status().rejected).toEqual(single.rejections.summary());
    expect(comparableRunInput(run)).toEqual(comparableRunInput(expected));
  }, 300_000);
});
