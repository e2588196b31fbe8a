/**
 * VM features from a fleet's window, read the way a run reads them: roles, direction, peers, port classes and
 * burstiness of small hand-made traffic, with exact values.
 */
import { describe, expect, it } from 'vitest';
import { FleetState } from '../../src/fleet/fleet-state.ts';
import { defaultWindowConfig } from '../../src/windows/window-config.ts';
import { vmFeaturesOf as features } from '../helpers/features.ts';
import { flow, MIN, T0 } from '../helpers/records.ts';

describe('VM features', () => {
  it('describes role, direction, peers and port classes', () => {
    const fleet = new FleetState(defaultWindowConfig);
    // A database server: three clients connect to 5432; it answers with larger packets.
    for (const [i, client] of ['c1', 'c2', 'c3'].entries()) {
      fleet.applyFlow(flow({ ts: T0 + i * MIN, srcVm: client, dstVm: 'db', srcPort: 40_000 + i, dstPort: 5432, bytes: 1000, packets: 10 }));
      fleet.applyFlow(flow({ ts: T0 + i * MIN, srcVm: 'db', dstVm: client, srcPort: 5432, dstPort: 40_000 + i, bytes: 9000, packets: 10 }));
    }
    // Background noise: DNS to an outside resolver does not count as service traffic.
    fleet.applyFlow(flow({ ts: T0, srcVm: 'db', dstVm: null, dstIp: '8.8.8.8', srcPort: 33_000, dstPort: 53, protocol: 17, bytes: 500, packets: 5 }));
    const db = features(fleet, 'db');
    expect(db.server_share).toBe(1);
    expect(db.server_flow_share).toBe(1);
    expect(db.served_database_share).toBe(1);
    expect(db.used_database_share).toBe(0);
    expect(db.out_share).toBeCloseTo(0.9, 12);
    expect(db.log_packet_size_out).toBeCloseTo(Math.log2(900), 12);
    expect(db.log_packet_size_in).toBeCloseTo(Math.log2(100), 12);
    expect(db.log_peers_out).toBeCloseTo(2, 12);
    expect(db.log_peers_in).toBeCloseTo(2, 12);
    expect(db.log_local_ports).toBeCloseTo(1, 12);
    expect(db.external_share).toBe(0);
    expect(db.infra_share).toBeCloseTo(500 / 30_500, 12);
    expect(db.tcp_share).toBe(1);
    expect(Number.isNaN(db.log_vcpus)).toBe(true);
    const c1 = features(fleet, 'c1');
    expect(c1.server_share).toBe(0);
    expect(c1.log_remote_ports).toBeCloseTo(1, 12);
    expect(c1.used_database_share).toBe(1);
    expect(c1.out_share).toBeCloseTo(0.1, 12);
  });

  it('measures burstiness between steady (0) and all-in-one-bucket (1)', () => {
    const fleet = new FleetState(defaultWindowConfig);
    for (let m = 0; m < 15; m++) fleet.applyFlow(flow({ ts: T0 + m * MIN, srcVm: 'steady', bytes: 1000 }));
    fleet.applyFlow(flow({ ts: T0 + 14 * MIN, srcVm: 'burst', bytes: 15_000 }));
    expect(features(fleet, 'steady').burstiness).toBe(0);
    expect(features(fleet, 'steady').active_share).toBe(1);
    expect(features(fleet, 'burst').burstiness).toBeCloseTo(1, 12);
  });
});
