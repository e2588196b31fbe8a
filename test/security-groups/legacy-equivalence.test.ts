/**
 * The columnar learner (integer ids, typed arrays) against the implementation it replaced, on the same
 * flows: the documents and the checked connections must be identical. Temporary: deleted with the old
 * implementation once the golden test holds the outcome.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import { emptyFlowRecord, type FlowRecord } from '../../src/contract/records.ts';
import { TraceGenerator } from '../../src/fixtures/index.ts';
import { replayTrace } from '../../src/replay/replay.ts';
import { ConnectionLog } from '../../src/security-groups/connection-log.ts';
import { ConnectionLog as LegacyLog } from '../../src/security-groups/legacy/connection-log.ts';
import { recommendSecurityGroups as legacyRecommend } from '../../src/security-groups/legacy/recommend.ts';
import { defaultSecurityGroupOptions, type Membership, membershipOf, recommendSecurityGroups } from '../../src/security-groups/recommend.ts';

const defaults = PipelineOptions.parse({});
const options = { pipeline: toPipelineConfig(defaults), run: toRunOptions(defaults) };
const dir = mkdtempSync(join(tmpdir(), 'sg-legacy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const plain = (x: unknown): unknown => JSON.parse(JSON.stringify(x));

describe('columnar security groups = the implementation they replaced', () => {
  for (const [seed, vms] of [
    [101, 600],
    [31, 240],
    [7, 120],
  ] as const) {
    it(`generated trace, seed ${seed}, ${vms} VMs`, async () => {
      const gen = new TraceGenerator({ name: `sg-${seed}`, seed, vms, tenants: Math.round(vms / 12), minutes: 45 });
      const path = join(dir, `sg-${seed}.jsonl`);
      writeFileSync(path, `${[...gen.lines()].join('\n')}\n`);
      const legacy = new LegacyLog(15 * 60_000);
      const add = ConnectionLog.prototype.add;
      const spy = vi.spyOn(ConnectionLog.prototype, 'add').mockImplementation(function (this: ConnectionLog, f: FlowRecord) {
        legacy.add(f);
        return add.call(this, f);
      });
      const out = await replayTrace(path, options);
      spy.mockRestore();
      const now = out.securityGroups!;
      const before = legacyRecommend(membershipOf(out.lastRun!), legacy);
      expect(now.document.summary.rules).toBeGreaterThan(100);
      expect(plain(now.document)).toEqual(plain(before.document));
      expect(plain(now.connections)).toEqual(plain(before.connections));
      for (const o of [{ minRangePorts: Number.MAX_SAFE_INTEGER }, { maxPrefixesPerRule: 1, minFlows: 1, maxListed: 3 }]) {
        const a = recommendSecurityGroups(membershipOf(out.lastRun!), out.pipeline.connections, o);
        const b = legacyRecommend(membershipOf(out.lastRun!), legacy, o);
        expect(plain(a.document)).toEqual(plain(b.document));
      }
    }, 120_000);
  }

  it('random small worlds: undecided ports, ICMP, outside addresses, caps and forgetting (fixed seed)', () => {
    const T0 = Date.UTC(2026, 10, 1);
    const MIN = 60_000;
    const PORTS = [22, 80, 443, 5432, 8080, 8081, 9000, 9100, 40_000, 40_050, 40_200, 50_500, 33_000, 45_050];
    const flowArb = fc.record({
      src: fc.integer({ min: 0, max: 30 }),
      dst: fc.integer({ min: 0, max: 30 }),
      sp: fc.oneof(fc.constantFrom(...PORTS), fc.integer({ min: 45_000, max: 45_100 })),
      dp: fc.constantFrom(...PORTS),
      proto: fc.constantFrom(6, 6, 17, 1, 58),
      minute: fc.nat(89),
      bytes: fc.integer({ min: 1, max: 10_000 }),
      repeat: fc.integer({ min: 1, max: 5 }),
    });
    const vmArb = fc.record({ tenant: fc.constantFrom('t1', 't2', 't3', null), cluster: fc.constantFrom('vm-0', 'vm-1', 'vm-10'), score: fc.constantFrom(1, 1, 9) });
    let compared = 0;
    fc.assert(
      fc.property(
        fc.array(vmArb, { minLength: 12, maxLength: 12 }),
        fc.array(flowArb, { minLength: 20, maxLength: 300 }),
        fc.constantFrom(1_000_000, 40),
        fc.constantFrom(4, 1),
        (vms, flows, cap, retain) => {
          const ipOf = (i: number): string => (i < 12 ? `10.1.0.${i}` : i % 3 === 0 ? `2001:db8::${i}` : `198.51.100.${i}`);
          const a = new ConnectionLog(15 * MIN, cap, retain);
          const b = new LegacyLog(15 * MIN, cap, retain);
          const f: FlowRecord = emptyFlowRecord();
          for (const x of flows)
            for (let k = 0; k < x.repeat; k++) {
              f.ts = T0 + ((x.minute + k) % 90) * MIN;
              f.srcVm = x.src < 12 ? `v${x.src}` : null;
              f.dstVm = x.dst < 12 ? `v${x.dst}` : null;
              f.srcIp = ipOf(x.src);
              f.dstIp = ipOf(x.dst);
              f.srcPort = x.sp;
              f.dstPort = x.dp;
              f.protocol = x.proto;
              f.bytes = x.bytes;
              expect(a.add(f)).toBe(b.add(f));
            }
          const m: Membership = {
            runId: 'r',
            computedAt: T0 + 90 * MIN - 1,
            vmIds: vms.map((_, i) => `v${i}`),
            clusterIds: vms.map((v) => v.cluster),
            vmTenants: vms.map((v) => v.tenant),
            anomalyScores: Float64Array.from(vms, (v) => v.score),
            clusterNames: new Map([['vm-0', 'web']]),
          };
          const o = { ...defaultSecurityGroupOptions, minFlows: 2, minRangePorts: 2, maxRangeGap: 400, maxPrefixesPerRule: 2, proberMinServices: 4, maxListed: 4 };
          const x = recommendSecurityGroups(m, a, o);
          const y = legacyRecommend(m, b, o);
          expect(plain(x.document)).toEqual(plain(y.document));
          expect(plain(x.connections)).toEqual(plain(y.connections));
          expect(plain([...x.places])).toEqual(plain([...y.places]));
          compared += x.document.summary.rules;
        },
      ),
      { numRuns: 300, seed: 15 },
    );
    expect(compared).toBeGreaterThan(3000);
  });
});
