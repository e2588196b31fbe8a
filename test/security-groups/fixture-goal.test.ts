/**
 * The goal of issue 15 on generated traces (several seeds): the rules learned from all but the last window
 * allow at least 99% of the normal VM-to-VM bytes of the last window, and deny every scanner probe to a port
 * its target does not serve.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../../src/config/pipeline-options.ts';
import { probesOf, scannersOf, TraceGenerator } from '../../src/generator/index.ts';
import { replayTrace } from '../../src/replay/replay.ts';
import { membershipOf } from '../../src/runs/membership.ts';
import { exactPortsGoalFigures, goalFigures } from '../../src/security-groups/goal.ts';
import { recommendSecurityGroups } from '../../src/security-groups/recommend.ts';

const defaults = PipelineOptions.parse({});
const options = { pipeline: toPipelineConfig(defaults), run: toRunOptions(defaults) };
const dir = mkdtempSync(join(tmpdir(), 'sg-goal-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('security groups on generated traces', () => {
  for (const seed of [31, 32, 33]) {
    it(`seed ${seed}: >= 99% of normal VM-to-VM bytes allowed, every probe to an unserved port denied`, async () => {
      const gen = new TraceGenerator({ name: `sg-${seed}`, seed, vms: 240, tenants: 20, minutes: 45 });
      const path = join(dir, `sg-${seed}.jsonl`);
      writeFileSync(path, `${[...gen.lines()].join('\n')}\n`);
      const truth = gen.truth();
      const scanners = scannersOf(truth);
      const out = await replayTrace(path, options);
      const sg = out.securityGroups!;
      const g = goalFigures(sg.connections, sg.document, scanners, probesOf(truth, gen.probes));
      expect(g.normal_vm_to_vm_bytes).toBeGreaterThan(0);
      expect(g.share_normal_bytes_allowed!).toBeGreaterThanOrEqual(0.99);
      expect(scanners.size).toBeGreaterThan(0);
      expect(g.probes).toBeGreaterThan(0);
      expect(g.probes_allowed).toBe(0);
      // The result document carries the same recommendation.
      expect(out.result.security_groups?.summary.rules).toBe(g.rules);
      expect(out.result.security_groups?.tenants.length).toBeGreaterThan(0);
    }, 60_000);
  }
});

/**
 * The spread port plan (services over port ranges, VMs booted and servers failed over in the last window) on seeds
 * used neither for its calibration (1-5) nor by the bench (101-110): the generalising learner must beat rules
 * per exact port clearly, deny every probe, and stay within a point of the goal; the exact share is where the
 * plan was calibrated (docs/security-groups.md "Goal figures").
 */
describe('security groups on generated traces with services over port ranges', () => {
  for (const seed of [41, 42]) {
    it(`seed ${seed}: ranges allow more than exact ports, >= 98% of normal VM-to-VM bytes, every probe denied`, async () => {
      const gen = new TraceGenerator({ name: `sg-spread-${seed}`, seed, vms: 240, tenants: 20, minutes: 45, ports: 'spread' });
      const path = join(dir, `sg-spread-${seed}.jsonl`);
      writeFileSync(path, `${[...gen.lines()].join('\n')}\n`);
      const truth = gen.truth();
      expect(truth.ports).toBe('spread');
      expect(truth.injected.started_vms).toBeGreaterThan(0);
      const scanners = scannersOf(truth);
      const out = await replayTrace(path, options);
      const sg = out.securityGroups!;
      const g = goalFigures(sg.connections, sg.document, scanners, probesOf(truth, gen.probes));
      const ge = exactPortsGoalFigures(membershipOf(out.lastRun!), out.pipeline.connections, scanners, probesOf(truth, gen.probes));
      expect(g.share_normal_bytes_allowed!).toBeGreaterThanOrEqual(0.98);
      expect(g.share_normal_bytes_allowed!).toBeGreaterThan(ge.share_normal_bytes_allowed!);
      expect(ge.share_normal_bytes_allowed!).toBeLessThan(0.995);
      expect(g.probes).toBeGreaterThan(0);
      expect(g.probes_allowed).toBe(0);
      expect(g.rules).toBeLessThan(ge.rules);
    }, 90_000);
  }
});

/**
 * The hard security plan (scanners hidden among the clients of an app, probes with data, tenants with port
 * ranges of their own) on the spread plan: every probe still denied, the goal within two points, and the
 * service ranges per tenant open no more ports than the fleet's whole chains would.
 */
describe('security groups on generated traces with scanners inside client groups', () => {
  for (const seed of [43, 44]) {
    it(`seed ${seed}: every probe of a compromised client denied, >= 98% of normal VM-to-VM bytes`, async () => {
      const gen = new TraceGenerator({ name: `sg-hard-${seed}`, seed, vms: 240, tenants: 20, minutes: 45, ports: 'spread', security: 'hard' });
      const path = join(dir, `sg-hard-${seed}.jsonl`);
      writeFileSync(path, `${[...gen.lines()].join('\n')}\n`);
      const truth = gen.truth();
      expect(truth.security).toBe('hard');
      const scanners = scannersOf(truth);
      expect(scanners.size).toBe(truth.injected.compromised_clients);
      const isProbe = probesOf(truth, gen.probes);
      const out = await replayTrace(path, options);
      const sg = out.securityGroups!;
      const g = goalFigures(sg.connections, sg.document, scanners, isProbe);
      expect(g.share_normal_bytes_allowed!).toBeGreaterThanOrEqual(0.98);
      expect(g.probes).toBeGreaterThan(0);
      expect(g.probes_allowed).toBe(0);
      const width = (d: typeof sg.document): number =>
        d.tenants.flatMap((t) => t.security_groups.flatMap((gr) => gr.security_group_rules)).reduce((n, r) => n + (r.basis === 'service_range' ? r.port_range_max! - r.port_range_min! + 1 : 0), 0);
      const whole = recommendSecurityGroups(membershipOf(out.lastRun!), out.pipeline.connections, { serviceRangesPerTenant: false });
      expect(width(sg.document)).toBeLessThanOrEqual(width(whole.document));
    }, 120_000);
  }
});
