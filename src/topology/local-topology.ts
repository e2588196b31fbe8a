/**
 * The topology in one process, without Kafka: a router, P window partitions and the leader's gather, joined
 * by arrays instead of topics. For the test that holds N partitions equal to one process, and for the bench's
 * repartition figures; the Kafka members (member.ts) run the very same stages.
 */
import type { RejectedRecord } from '../contract/rejections.ts';
import type { PipelineConfig } from '../pipeline/pipeline.ts';
import { hostCapacityFacts, type RunInput, type TenantInfo } from '../runs/run-input.ts';
import { FleetState } from '../fleet/fleet-state.ts';
import { ConnectionLog, DEFAULT_MAX_CONNECTIONS } from '../security-groups/connection-log.ts';
import { ByVmDecoder } from './by-vm.ts';
import { packByVm } from './by-vm-pack.ts';
import { gatherSnapshot } from './gather.ts';
import { PartitionState, type PartitionFeatures } from './partition-state.ts';
import { type Routed, Router } from './router.ts';
import type { HostAttributes, TenantAttributes } from '../contract/records.ts';

export class LocalTopology {
  readonly router: Router;
  readonly partitions: PartitionState[];
  /** The global tables of tenants and of host capacities, as every member keeps them. */
  readonly tenants: FleetState;
  /** The security groups' connection log, fed from the routed flows as the leader feeds its own. */
  readonly connections: ConnectionLog;
  /** Bytes written to the by-VM topic (keys and values) and records, for the repartition figures. */
  byVmBytes = 0;
  byVmRecords = 0;
  /** Snapshots gathered at each scheduled tick. */
  readonly ticks: RunInput[] = [];
  private readonly out: Routed[] = [];
  /** As a member's window loop decodes (each message applied before the next is read). */
  private readonly byVm = new ByVmDecoder();

  constructor(
    readonly config: PipelineConfig,
    readonly partitionCount: number,
    onReject: (r: RejectedRecord) => void = () => {},
    /** Which partition a VM id goes to; Kafka's murmur2 in the members, any fixed function here. */
    private readonly partitionOf: (key: string) => number,
  ) {
    this.router = new Router(config, onReject);
    this.partitions = Array.from({ length: partitionCount }, (_, p) => new PartitionState(p, config.window));
    this.tenants = new FleetState(config.window);
    this.connections = new ConnectionLog(config.window.windowMs, config.maxSecurityGroupConnections ?? DEFAULT_MAX_CONNECTIONS);
  }

  ingest(topic: string, text: string | null, source: string): void {
    this.router.route(topic, text, source, this.out);
    this.deliver();
  }

  endOfBatch(): void {
    this.router.endOfBatch(this.out);
    this.deliver();
  }

  /** A requested run's snapshot: every partition publishes where it stands. */
  request(id: string): RunInput {
    return this.gather(this.partitions.map((p) => p.features(null, id)));
  }

  private deliver(): void {
    const routed = this.out.splice(0);
    let tick: PartitionFeatures[] | null = null;
    for (const r of routed) {
      if (r.to === 'tenants') this.tenants.applyTenantAttributes(JSON.parse(r.value) as TenantAttributes);
      else if (r.to === 'hosts') this.tenants.applyHostAttributes(JSON.parse(r.value) as HostAttributes);
      else if (r.to === 'connections') this.connections.add(r.flow);
      // 'addresses': its router keeps its own address map, nothing goes to a shared table.
    }
    // Through the by-VM messages' encoding, as the members send them.
    for (const m of packByVm(routed, this.partitionCount, (key) => this.partitionOf(key) % this.partitionCount)) {
      const records = this.byVm.decode(m.value);
      if (records === null) throw new Error(`undecodable by-VM message for partition ${m.partition}`);
      this.byVmRecords += records.length;
      this.byVmBytes += m.value.length;
      const partition = this.partitions[m.partition]!;
      for (const record of records)
        if (partition.apply(record) === 'publish') {
          tick ??= [];
          tick.push(partition.features(record.k === 't' ? record.tick : null, null));
        }
    }
    if (tick !== null && tick.length === this.partitionCount) this.ticks.push(this.gather(tick));
  }

  private gather(parts: PartitionFeatures[]): RunInput {
    return gatherSnapshot(parts, tenantInfos(this.tenants), hostCapacityFacts(this.tenants));
  }
}

/** The tenants of a fleet's global table as a run sees them (takeRunInput's order). */
export function tenantInfos(fleet: FleetState): TenantInfo[] {
  const tenants: TenantInfo[] = [];
  for (const t of fleet.tenants.values()) tenants.push({ tenantId: t.tenantId, name: t.name, tier: t.tier, deleted: t.deleted });
  tenants.sort((a, b) => (a.tenantId < b.tenantId ? -1 : a.tenantId > b.tenantId ? 1 : 0));
  return tenants;
}
