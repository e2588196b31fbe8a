/**
 * Per-member metrics of a scale-out application, read from the member at each scrape (docs/scale-out.md).
 * Names start like every other metric of the service, so one dashboard covers both modes.
 */
import { Gauge, type Registry } from 'prom-client';
import type { MemberStatus } from './member.ts';

export const SCALE_OUT_METRICS = [
  'alcor_scale_out_partitions_owned',
  'alcor_scale_out_vms_owned',
  'alcor_scale_out_changelog_lag',
  'alcor_scale_out_leader',
  'alcor_scale_out_leaderships',
] as const;

export function registerScaleOutMetrics(registry: Registry, status: () => MemberStatus): void {
  const gauge = (name: (typeof SCALE_OUT_METRICS)[number], help: string, value: (s: MemberStatus) => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(value(status()));
      },
    });
  };
  gauge('alcor_scale_out_partitions_owned', 'By-VM partitions whose windows this member holds', (s) => s.partitions.length);
  gauge('alcor_scale_out_vms_owned', 'VMs held in the windows of this member\'s partitions', (s) => s.vms);
  gauge('alcor_scale_out_changelog_lag', 'By-VM records applied by this member but not yet in a checkpoint', (s) => s.changelogLag);
  gauge('alcor_scale_out_leader', '1 while this member is the leader (gathers ticks, runs the clustering)', (s) => (s.leader ? 1 : 0));
  gauge('alcor_scale_out_leaderships', 'Times this member took over the leadership: a failover moves it up by one somewhere; a rebalance that gives the leadership back to the member that held it does not', (s) => s.leaderships);
}
