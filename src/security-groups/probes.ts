/**
 * Probes told from the traffic alone, whatever the run ranks their client: a compromised client inside a
 * client group keeps its role, is often not ranked anomalous, and probes its fellow VMs a few times a
 * minute. Each probe is a one-off to a server that serves that port to no one else; spread over a few
 * servers at one port they add up to the flows of a rule (minFlows), learned from that client alone.
 *
 * A probe row: a connection of the earlier windows with fewer than minFlows flows (a one-off), to a VM
 * whose (protocol, port) no other client reached in those windows, from a client that has such
 * one-offs at that protocol and port to at least probeMinServers servers. A session port (RTP, passive-mode
 * data, dynamic RPC) is a one-off to a port its server serves no one else too, but at one server per port:
 * its client's ports differ from session to session, a prober's stay (it tries one service on many hosts).
 * Neither bytes nor the rank decide: half the probes of the hard security plan carry data, and most
 * compromised clients are not ranked anomalous. Outside addresses are not servers here: a client of a public
 * service reaches many of them once each, and their rules are per address unless many addresses use a port
 * (the learner's any-address rule), which probes left out would turn back into one rule per address.
 */
import type { ConnectionColumns } from './connection-log.ts';
import { IntColumn, type IntTupleTable, SLOT_VALUE } from './int-table.ts';

export interface ProbeOptions {
  /** A connection with fewer earlier flows than this is a one-off (the learner's minFlows). */
  minFlows: number;
  /** Servers a client's unserved one-offs at one protocol and port reach for them to be probes. */
  probeMinServers: number;
}

/** Rows looked at between two steps. */
const STEP_ROWS = 1 << 16;

/**
 * Marks in `out` (one byte per row of `cols`, zeroed first) the probe rows of the earlier windows; their
 * count. `servers` and `clients` are empty tables to count in (kept by the caller from run to run).
 */
export function* markProbes(
  cols: ConnectionColumns,
  o: ProbeOptions,
  out: Uint8Array,
  servers: IntTupleTable,
  clients: IntTupleTable,
): Generator<void, number, void> {
  const n = cols.count;
  out.fill(0, 0, n);
  if (o.minFlows <= 1) return 0;
  const oneOffs = new IntColumn(1024);
  // Ends that are the server of a one-off: only their other rows are looked up (a look-up per row of the log was most of the cost).
  const oneOffServer = new Uint8Array(cols.ends);
  for (let i = 0; i < n; i += STEP_ROWS) {
    // Grown ahead in slices: a rehash of the whole table inside one step held the loop for 100 ms and more at 100k VMs.
    if (!servers.hasRoomFor(STEP_ROWS)) yield* servers.reserveInSlices(2 * (servers.size + STEP_ROWS), STEP_ROWS);
    countOneOffServers(cols, i, Math.min(n, i + STEP_ROWS), o.minFlows, servers, oneOffs, oneOffServer);
    yield;
  }
  if (oneOffs.length === 0) return 0;
  // The other clients of those servers' ports: a port served to anyone else is no probe's.
  for (let i = 0; i < n; i += STEP_ROWS) {
    countOtherClients(cols, i, Math.min(n, i + STEP_ROWS), o.minFlows, servers, oneOffServer);
    yield;
  }
  const { client, server, protocol, port } = cols;
  const rows = oneOffs.values;
  // Per (client, protocol, port): the servers its unserved one-offs reached (one row each: a row is a pair of ends).
  for (let k = 0; k < oneOffs.length; k++) {
    if (k % STEP_ROWS === 0) {
      yield;
      if (!clients.hasRoomFor(STEP_ROWS)) yield* clients.reserveInSlices(2 * (clients.size + STEP_ROWS), STEP_ROWS);
    }
    const i = rows[k]!;
    if (servers.find(server[i]!, protocol[i]!, port[i]!, 0) < 0 || servers.slots[servers.slot + SLOT_VALUE] !== 1) {
      rows[k] = -1;
      continue;
    }
    clients.idOf(client[i]!, protocol[i]!, port[i]!, 0);
    clients.slots[clients.slot + SLOT_VALUE]!++;
  }
  let marked = 0;
  for (let k = 0; k < oneOffs.length; k++) {
    if (k % STEP_ROWS === 0) yield;
    const i = rows[k]!;
    if (i < 0) continue;
    clients.find(client[i]!, protocol[i]!, port[i]!, 0);
    if (clients.slots[clients.slot + SLOT_VALUE]! >= o.probeMinServers) {
      out[i] = 1;
      marked++;
    }
  }
  return marked;
}

/** Rows `from` to `to`: the one-offs listed, each counted at its (server, protocol, port). A plain function, compiled on its own. */
function countOneOffServers(
  cols: ConnectionColumns,
  from: number,
  to: number,
  minFlows: number,
  servers: IntTupleTable,
  oneOffs: IntColumn,
  oneOffServer: Uint8Array,
): void {
  const { server, protocol, port, earlierFlows, endVm } = cols;
  for (let i = from; i < to; i++) {
    const flows = earlierFlows[i]!;
    if (flows === 0 || flows >= minFlows || endVm[server[i]!] === null) continue;
    oneOffs.push(i);
    oneOffServer[server[i]!] = 1;
    servers.idOf(server[i]!, protocol[i]!, port[i]!, 0);
    servers.slots[servers.slot + SLOT_VALUE]!++;
  }
}

/** Rows `from` to `to`: the connections that are not one-offs counted at their server's port, where a one-off's is. */
function countOtherClients(cols: ConnectionColumns, from: number, to: number, minFlows: number, servers: IntTupleTable, oneOffServer: Uint8Array): void {
  const { server, protocol, port, earlierFlows } = cols;
  for (let i = from; i < to; i++) {
    if (earlierFlows[i]! < minFlows || oneOffServer[server[i]!] === 0) continue;
    if (servers.find(server[i]!, protocol[i]!, port[i]!, 0) >= 0) servers.slots[servers.slot + SLOT_VALUE]!++;
  }
}
