import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody } from '../../src/http/schemas.ts';
import type { RunRecord } from '../../src/runs/history.ts';
import { countEvents } from '../../src/runs/identity.ts';
import { fixtureReplay } from '../helpers/fixture-replay.ts';
import { appFor, getJson, replaySmall, type TestApp } from './helpers.ts';

interface RunSummary {
  run_id: string;
  previous_run_id: string | null;
  computed_at: string | null;
  reason: string;
  vms: { count: number; k: number; changes: Record<string, number> };
  tenants: { count: number; k: number; changes: Record<string, number> };
}
interface Changes {
  run_id: string;
  side: string;
  events: Array<{ type: string; cluster_id: string; size: number; from: string[]; into: string[] }>;
  moved_count: number;
  moved: Array<{ id: string; from: string; to: string }>;
  next_cursor: string | null;
}

let test: TestApp;
let history: readonly RunRecord[];

beforeAll(async () => {
  // Runs every 5 minutes of event time: a history with changes between runs.
  ({ history } = await fixtureReplay('small'));
  const { view } = await replaySmall();
  test = appFor({ ...view, runHistory: () => history });
}, 120_000);

afterAll(async () => {
  await test?.app.close();
});

describe('GET /v1/runs', () => {
  it('lists the runs newest first, each matched against the one before, with counts of what changed', async () => {
    const { status, body } = await getJson<{ runs: RunSummary[] }>(test.app, '/v1/runs');
    expect(status).toBe(200);
    expect(history.length).toBeGreaterThan(3);
    expect(body.runs.map((r) => r.run_id)).toEqual(history.map((r) => r.runId).reverse());
    const oldest = body.runs.at(-1)!;
    expect(oldest.previous_run_id).toBeNull();
    expect(oldest.vms.changes.born).toBe(oldest.vms.k);
    body.runs.slice(0, -1).forEach((r, i) => {
      expect(r.previous_run_id).toBe(body.runs[i + 1]!.run_id);
    });
    history.forEach((rec) => {
      const r = body.runs.find((x) => x.run_id === rec.runId)!;
      expect(r.vms.changes).toEqual(countEvents(rec.changes.vms));
      expect(r.tenants.changes).toEqual(countEvents(rec.changes.tenants));
      expect(r.vms.count).toBe(rec.vms.count);
    });
    expect(body.runs[0]!.reason).toBe('final');
  });
});

describe('GET /v1/runs/{run_id}/changes', () => {
  it('pages through the VMs that moved, with the run\'s lifecycle events', async () => {
    // The run with the most moves, so that paging has something to do.
    const rec = [...history].sort((a, b) => b.changes.vms.moved.length - a.changes.vms.moved.length)[0]!;
    expect(rec.changes.vms.moved.length).toBeGreaterThan(5);
    const moved: Changes['moved'] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/v1/runs/${rec.runId}/changes?limit=4${cursor === null ? '' : `&cursor=${cursor}`}`;
      const { status, body } = await getJson<Changes>(test.app, url);
      expect(status).toBe(200);
      expect(body.side).toBe('vms');
      expect(body.moved_count).toBe(rec.changes.vms.moved.length);
      expect(body.events).toEqual(rec.changes.vms.events.map((e) => ({ type: e.type, cluster_id: e.clusterId, size: e.size, from: e.from, into: e.into })));
      moved.push(...body.moved);
      cursor = body.next_cursor;
      pages++;
    } while (cursor !== null);
    expect(moved).toEqual(rec.changes.vms.moved);
    expect(pages).toBe(Math.ceil(moved.length / 4));
  });

  it('answers for tenants too', async () => {
    const rec = history[0]!;
    const { status, body } = await getJson<Changes>(test.app, `/v1/runs/${rec.runId}/changes?side=tenants`);
    expect(status).toBe(200);
    expect(body.events.map((e) => e.type)).toEqual(rec.changes.tenants.events.map(() => 'born'));
  });

  it('is 404 for a run not in the history and 400 for a bad side', async () => {
    const missing = await getJson<ErrorBody>(test.app, '/v1/runs/run-999999/changes');
    expect(missing).toEqual({ status: 404, body: { error: 'unknown_run', message: expect.any(String) } });
    const bad = await getJson<ErrorBody>(test.app, `/v1/runs/${history[0]!.runId}/changes?side=hosts`);
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('bad_request');
  });
});
