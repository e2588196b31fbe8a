/**
 * VMs with no history: a VM whose first traffic is in the check window has taught its cluster nothing, and
 * the run clusters it on a part of one window, often apart from the VMs it works like (a new client of a
 * known app lands in a cluster of its own, whose group then has no rule). Rules are about what a VM does, so
 * such a VM joins the group of its tenant whose learned rules already allow what it does: a rule for the
 * same peers (the peer's group, or its address, or any address) at its protocol and a port range holding its
 * port, in the same direction. By rule, not by the exact ports seen: a new member of a cluster whose
 * service takes a port per session (an RTP relay, passive FTP data) or whose workers each listen on their
 * own port of a range uses ports no VM of the group used before, and a vote by exact port left such a new
 * server (a scale-out, a standby taking over) in a group of its own with no rule. A VM with earlier
 * traffic keeps the run's cluster: its rules were learned there.
 */
import type { ConnectionColumns } from './connection-log.ts';
import { ADDRESS_REMOTE } from './learned-entries.ts';

/** What placing needs of the learner: the columns, each end's group and tenant, and the learned rules. */
export interface NewVmsInput {
  cols: ConnectionColumns;
  groupCount: number;
  /** Per end: group index (-1: none), tenant index (-1: none), 1 when ranked anomalous. */
  endGroup: Int32Array;
  endTenant: Int32Array;
  endAnomalous: Uint8Array;
  /** Per group: its tenant index. */
  groupTenant: ArrayLike<number>;
  /** Per group: its rank in the order of group ids (ties between groups go to the lower rank). */
  groupRank: ArrayLike<number>;
  /**
   * Whether a learned rule of side 2 * group + direction allows the protocol field and port from the remote
   * (1 + group, or 1 + groups + address id; a rule for any address counts for an address).
   */
  allows(side: number, field: number, remote: number, port: number): boolean;
  protocolField(ipv6: number, protocol: number): number;
  ingress: number;
  egress: number;
}

/**
 * The ends to move, as pairs of end and group. A VM without history moves when the rules of one group of its
 * tenant allow more of its connections than any other's (the run's group wins a tie) and at least half of those
 * to peers whose group or address is known: one that mostly does what no group did (a scan, a new
 * service) stays where the run put it. A peer placed in an earlier pass counts as known in the next, so
 * that two new VMs of one app talking to each other follow the ones that talk to the known VMs.
 */
export function* placeNewVms(p: NewVmsInput, sliceRows: number, maxPasses = 3): Generator<void, Array<[end: number, group: number]>, void> {
  const { cols, endGroup, endTenant, endAnomalous, groupTenant, groupRank, groupCount: G } = p;
  const n = cols.count;
  const { client, server, clientIp, serverIp, protocol, port, earlierFlows, latestFlows, ipV6 } = cols;
  const seen = new Uint8Array(cols.ends);
  for (let i = 0; i < n; i++) {
    if (i % sliceRows === sliceRows - 1) yield;
    if (earlierFlows[i]! > 0) {
      seen[client[i]!] = 1;
      seen[server[i]!] = 1;
    }
  }
  // Rows of the check window with a VM end that has no history and a group.
  const rowsOfNew = new Map<number, number[]>();
  const note = (e: number, i: number): void => {
    if (seen[e] === 1 || endGroup[e]! < 0 || endAnomalous[e] === 1) return;
    const rows = rowsOfNew.get(e);
    if (rows === undefined) rowsOfNew.set(e, [i]);
    else rows.push(i);
  };
  for (let i = 0; i < n; i++) {
    if (i % sliceRows === sliceRows - 1) yield;
    if (latestFlows[i]! === 0) continue;
    note(client[i]!, i);
    note(server[i]!, i);
  }
  if (rowsOfNew.size === 0) return [];
  const groupsOfTenant = new Map<number, number[]>();
  for (let g = 0; g < G; g++) {
    const list = groupsOfTenant.get(groupTenant[g]!);
    if (list === undefined) groupsOfTenant.set(groupTenant[g]!, [g]);
    else list.push(g);
  }
  const moves: Array<[number, number]> = [];
  const placed = new Uint8Array(cols.ends);
  const known = (e: number): boolean => seen[e] === 1 || placed[e] === 1;
  // Groups as placed so far: a placed peer is a remote of its new group.
  const group = endGroup.slice();
  const votes = new Float64Array(G);
  // Look-ups of a group's rules between two steps (each a few table look-ups): a sixteenth of sliceRows.
  const perStep = Math.max(1, sliceRows >> 4);
  let work = 0;
  for (let pass = 0; pass < maxPasses; pass++) {
    let moved = 0;
    for (const [e, rows] of rowsOfNew) {
      if (placed[e] === 1) continue;
      const t = endTenant[e]!;
      const candidates = groupsOfTenant.get(t)!;
      work += rows.length * candidates.length;
      if (work >= perStep) {
        work = 0;
        yield;
      }
      for (const g of candidates) votes[g] = 0;
      let counted = 0;
      for (const i of rows) {
        const asClient = client[i] === e;
        const peer = asClient ? server[i]! : client[i]!;
        if (peer === e || endAnomalous[peer] === 1) continue;
        const peerGroup = group[peer]!;
        const sameTenant = peerGroup >= 0 && endTenant[peer] === t;
        // A peer VM of the tenant without history says nothing yet; an address (outside, another tenant) does.
        if (sameTenant && !known(peer)) continue;
        const peerIp = asClient ? serverIp[i]! : clientIp[i]!;
        const remote = sameTenant ? 1 + peerGroup : ADDRESS_REMOTE + peerIp;
        const field = p.protocolField(ipV6[peerIp]!, protocol[i]!);
        const direction = asClient ? p.egress : p.ingress;
        counted++;
        for (const g of candidates) if (p.allows(2 * g + direction, field, remote, port[i]!)) votes[g]!++;
      }
      if (counted === 0) continue;
      const own = group[e]!;
      let best = own;
      for (const g of candidates) {
        if (votes[g]! > votes[best]! || (votes[g] === votes[best] && best !== own && groupRank[g]! < groupRank[best]!)) best = g;
      }
      if (best === own || 2 * votes[best]! < counted) continue;
      placed[e] = 1;
      group[e] = best;
      moves.push([e, best]);
      moved++;
    }
    if (moved === 0) break;
  }
  return moves;
}
