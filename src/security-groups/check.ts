/**
 * The recommended rules against the traffic of the check window (the latest one): what they would allow
 * and what they would deny, by tenant, VM and rule. A connection is allowed when the server's group has an
 * ingress rule for it and the client's group an egress rule; an end that is not in a recommended group
 * (outside address, VM without a tenant) imposes nothing. Replies ride on their request (stateful), so a
 * connection's bytes in both directions are allowed or denied together.
 */
import { type Learned, protocolField, protocolName, type ResolvedConnection, ruleIdOf } from './recommend.ts';
import type { CheckFigures, DeniedConnection, RuleCheck, SecurityGroupRule, TenantCheck, VmCheck } from './types.ts';
import { ADDRESS_REMOTE } from './learned-entries.ts';
import { KeptVerdicts, NO_VERDICT } from './kept-verdicts.ts';

export interface CheckedConnection extends ResolvedConnection {
  /** Null when the connection has no traffic in the check window (set by checkRules). */
  allowed: boolean | null;
}

/** Tallies as four numbers at `at` of a Float64Array: flows, bytes, flows allowed, bytes allowed. */
const TALLY = 4;

function add(t: Float64Array, at: number, flows: number, bytes: number, allowed: boolean): void {
  t[at]! += flows;
  t[at + 1]! += bytes;
  if (allowed) {
    t[at + 2]! += flows;
    t[at + 3]! += bytes;
  }
}

export function figures(t: Float64Array, at = 0): CheckFigures {
  const r = (x: number): number => Number(x.toPrecision(6));
  const flows = t[at]!;
  const bytes = t[at + 1]!;
  const flowsAllowed = t[at + 2]!;
  const bytesAllowed = t[at + 3]!;
  return {
    flows,
    bytes,
    flows_allowed: flowsAllowed,
    bytes_allowed: bytesAllowed,
    flows_denied: flows - flowsAllowed,
    bytes_denied: bytes - bytesAllowed,
    share_flows_allowed: flows === 0 ? null : r(flowsAllowed / flows),
    share_bytes_allowed: bytes === 0 ? null : r(bytesAllowed / bytes),
  };
}

/** Whether `rule` allows traffic of this ethertype, protocol and port with a remote end in `remoteGroup` (null: none) at `remoteIp`. */
export function ruleMatches(rule: SecurityGroupRule, protocol: string, port: number, remoteGroup: string | null, remoteIp: string): boolean {
  if (rule.protocol !== protocol) return false;
  if (rule.ethertype !== (remoteIp.includes(':') ? 'IPv6' : 'IPv4')) return false;
  if (rule.port_range_min !== null && (port < rule.port_range_min || port > (rule.port_range_max ?? rule.port_range_min))) return false;
  if (rule.remote_group_id !== null) return rule.remote_group_id === remoteGroup;
  const p = rule.remote_ip_prefix!;
  if (p === '0.0.0.0/0' || p === '::/0') return true;
  // A host prefix: the address and /32 or /128, compared without building the string.
  const slash = p.length - (remoteIp.includes(':') ? 4 : 3);
  return slash === remoteIp.length && p.startsWith(remoteIp);
}


export interface CheckOutcome {
  all: CheckFigures;
  normal: CheckFigures;
  anomalous: CheckFigures;
  /** Per connection: -1 without traffic in the check window, 0 denied, 1 allowed. */
  allowed: Int8Array;
  /** The check of tenant t (an index of Learned.tenants): its lists of VMs, rules and denied connections are built here, when the document is. */
  tenant(t: number): TenantCheck;
}

const NO_RULE = -1;
/** A verdict's outcome: allowed, or denied by the server's ingress or the client's egress. */
const ALLOWED = 0;
const DENIED_INGRESS = 1;
const DENIED_EGRESS = 2;
/** Rows judged between two steps: half of recommend.ts's SLICE_ROWS, as judging a row looks up its rules. */
// A number, not SLICE_ROWS / 2: recommend.ts imports this module, and its constants are not set yet when this one loads.
const CHECK_SLICE = 8192;

/**
 * The check over learned rules: numbers all the way (each rule's candidate key, port bounds and position
 * in its group's list), so that a connection costs a few map look-ups rather than a scan of text rules.
 * A run keeps the tallies; a tenant's lists are built from them on request (CheckOutcome.tenant).
 */
export function* checkLearned(l: Learned, maxListed: number): Generator<void, CheckOutcome, void> {
  const n = l.cols.count;
  // The verdicts of the last computation, for the rows whose ends and rules are as they were (kept-verdicts.ts).
  const kept = KeptVerdicts.take();
  yield* kept.prepare(l.cols, l.endGroup, l.endTenant, l);
  const judged = new Verdicts(l, kept);
  for (let i = 0; i < n; i += CHECK_SLICE) {
    judged.rows(i, Math.min(n, i + CHECK_SLICE));
    yield;
  }
  kept.finish(l.cols);
  kept.release();
  const { total, allowedOut } = judged;
  return { all: figures(total, 0), normal: figures(total, TALLY), anomalous: figures(total, 2 * TALLY), allowed: allowedOut, tenant: (t) => tenantCheck(l, judged, t, maxListed) };
}

/** The check of tenant `t`: its figures, the VMs with denied traffic, the traffic of each rule, the largest denied connections. */
function tenantCheck(l: Learned, judged: Verdicts, t: number, maxListed: number): TenantCheck {
  const c = l.cols;
  const { client, server, clientIp, serverIp, protocol, port, latestFlows, latestBytes } = c;
  const { endTenant, endAnomalous } = l;
  const { tenantTally, vmTally, ruleTally, ruleUsed, deniedRows, deniedReasons } = judged;
  const endName = (end: number, ip: number): string => (c.endVm[end] !== null && endTenant[end] === t ? c.endVm[end]! : c.ips[ip]!);
  const byVm: VmCheck[] = judged
    .deniedVmsOf(t)
    .map((e) => ({ vm_id: c.endVm[e]!, flows: vmTally[4 * e]!, bytes: vmTally[4 * e + 1]!, flows_denied: vmTally[4 * e + 2]!, bytes_denied: vmTally[4 * e + 3]! }))
    .sort((a, b) => b.bytes_denied - a.bytes_denied || (a.vm_id < b.vm_id ? -1 : 1))
    .slice(0, maxListed);
  // The largest first: only those at least as large as the maxListed-th need the full (stable) order.
  const rows = deniedRows[t]!;
  const reasons = deniedReasons[t]!;
  let picked = Array.from(rows.keys());
  if (rows.length > maxListed) {
    const sizes = Float64Array.from(rows, (i) => latestBytes[i]!).sort();
    const threshold = maxListed === 0 ? Number.POSITIVE_INFINITY : sizes[sizes.length - maxListed]!;
    picked = picked.filter((k) => latestBytes[rows[k]!]! >= threshold);
  }
  const denied: DeniedConnection[] = picked
    .map((k) => {
      const i = rows[k]!;
      return {
        // Another tenant's VM is named by its address: a tenant's view names only its own VMs.
        client: endName(client[i]!, clientIp[i]!),
        server: endName(server[i]!, serverIp[i]!),
        protocol: protocolName(protocol[i]!),
        port: port[i]! < 0 ? null : port[i]!,
        flows: latestFlows[i]!,
        bytes: latestBytes[i]!,
        reason: reasons[k] === DENIED_EGRESS ? ('egress' as const) : ('ingress' as const),
        anomalous: endAnomalous[client[i]!] === 1 || endAnomalous[server[i]!] === 1,
      };
    })
    .sort((a, b) => b.bytes - a.bytes || (a.client < b.client ? -1 : a.client > b.client ? 1 : (a.port ?? -1) - (b.port ?? -1)))
    .slice(0, maxListed);
  const byRule: RuleCheck[] = [];
  for (const g of judged.groupsOf(t)) {
    for (let r = l.groupRuleStart[g]!; r < l.groupRuleStart[g + 1]!; r++) if (ruleUsed[r] === 1) byRule.push({ rule_id: ruleIdOf(l, r), flows: ruleTally[2 * r]!, bytes: ruleTally[2 * r + 1]! });
  }
  byRule.sort((a, b) => (a.rule_id < b.rule_id ? -1 : 1));
  const at = t * TALLIES;
  return { all: figures(tenantTally, at), normal_vm_to_vm: figures(tenantTally, at + TALLY), from_anomalous: figures(tenantTally, at + 2 * TALLY), by_vm: byVm, by_rule: byRule, denied };
}

const TALLIES = 3 * TALLY;

/**
 * The verdicts on the check window's connections and their tallies, a range of connections at a time:
 * a class with plain methods rather than a loop in the generator, so that the hottest loop of the check
 * is compiled on its own.
 */
class Verdicts {
  readonly tenantTally: Float64Array;
  readonly total = new Float64Array(TALLIES);
  readonly vmTally: Float64Array;
  readonly ruleTally: Float64Array;
  readonly ruleUsed: Uint8Array;
  readonly deniedRows: number[][];
  readonly deniedReasons: number[][];
  /** Per connection: -1 without traffic in the check window, 0 denied, 1 allowed. */
  readonly allowedOut: Int8Array;
  private deniedVms: number[][] | null = null;
  private tenantGroups: number[][] | null = null;
  // The verdict of the last call to judge: the rules that allowed it.
  private ingressRule = NO_RULE;
  private egressRule = NO_RULE;

  constructor(
    private readonly l: Learned,
    private readonly kept: KeptVerdicts,
  ) {
    const T = l.tenants.length;
    this.tenantTally = new Float64Array(T * TALLIES);
    this.vmTally = new Float64Array(l.ends * 4);
    this.ruleTally = new Float64Array(l.ruleCount * 2);
    this.ruleUsed = new Uint8Array(l.ruleCount);
    this.deniedRows = Array.from({ length: T }, () => []);
    this.deniedReasons = Array.from({ length: T }, () => []);
    this.allowedOut = new Int8Array(l.cols.count).fill(-1);
  }

  /** The VMs (ends) of tenant `t` with denied traffic, in end order; all tenants' listed at the first call. */
  deniedVmsOf(t: number): number[] {
    if (this.deniedVms === null) {
      const { endTenant, ends } = this.l;
      const lists: number[][] = Array.from({ length: this.l.tenants.length }, () => []);
      for (let e = 0; e < ends; e++) if (endTenant[e]! >= 0 && this.vmTally[4 * e + 2]! > 0) lists[endTenant[e]!]!.push(e);
      this.deniedVms = lists;
    }
    return this.deniedVms[t]!;
  }

  /** The groups of tenant `t`; all tenants' listed at the first call. */
  groupsOf(t: number): number[] {
    if (this.tenantGroups === null) {
      const lists: number[][] = Array.from({ length: this.l.tenants.length }, () => []);
      for (let g = 0; g < this.l.groups.length; g++) lists[this.l.groups[g]!.tenant]!.push(g);
      this.tenantGroups = lists;
    }
    return this.tenantGroups[t]!;
  }

  /** The first rule of candidate `known` (-1: look it up as (side, field, remote)) that allows port `p`, -1 when none does. */
  private firstOf(known: number, side: number, field: number, remote: number, p: number): number {
    const l = this.l;
    const id = known >= 0 ? known : l.candidates.find(side, field, remote, 0);
    if (id < 0) return NO_RULE;
    const { ruleMin, ruleMax, candidateRules } = l;
    for (let r = candidateRules[2 * id]!; r < candidateRules[2 * id + 1]!; r++) {
      const min = ruleMin[r]!;
      if (min >= 0 && (p < min || p > ruleMax[r]!)) continue;
      return r;
    }
    return NO_RULE;
  }

  /**
   * The first rule (in its group's list order) of `group` in `direction` that matches: the peer's group
   * (when of the same tenant), the peer's address, or any address. -1 when none does. `learnedFrom` is the
   * candidate the connection's earlier traffic was filed under (the peer group's, or else the peer
   * address's), found without a look-up; -1 when unknown.
   */
  private firstRule(group: number, direction: number, proto: number, p: number, peerGroup: number, peerIp: number, learnedFrom: number): number {
    const l = this.l;
    const side = 2 * group + direction;
    const remotes = l.sideRemotes[side]!;
    if (remotes === 0) return NO_RULE;
    const field = protocolField(l.cols.ipV6[peerIp]!, proto);
    const position = l.rulePosition;
    let best = NO_RULE;
    if ((remotes & 1) !== 0 && peerGroup >= 0) best = this.firstOf(learnedFrom, side, field, 1 + peerGroup, p);
    if ((remotes & 2) !== 0) {
      const r = this.firstOf(peerGroup >= 0 ? -1 : learnedFrom, side, field, ADDRESS_REMOTE + peerIp, p);
      if (r !== NO_RULE && (best === NO_RULE || position[r]! < position[best]!)) best = r;
    }
    if ((remotes & 4) !== 0) {
      const r = this.firstOf(-1, side, field, 0, p);
      if (r !== NO_RULE && (best === NO_RULE || position[r]! < position[best]!)) best = r;
    }
    return best;
  }

  /** The verdict on one connection in one orientation: client end `ce` to server end `se` at port `p` (row -1: turned round). */
  private judge(ce: number, se: number, cIp: number, sIp: number, proto: number, p: number, row: number): number {
    const { endGroup, endTenant, rowCandidates } = this.l;
    const cg = endGroup[ce]!;
    const sg = endGroup[se]!;
    this.ingressRule = NO_RULE;
    this.egressRule = NO_RULE;
    if (sg >= 0) {
      this.ingressRule = this.firstRule(sg, 0, proto, p, cg >= 0 && endTenant[ce] === endTenant[se] ? cg : -1, cIp, row < 0 ? -1 : rowCandidates[2 * row]! - 1);
      if (this.ingressRule === NO_RULE) return DENIED_INGRESS;
    }
    if (cg >= 0) {
      this.egressRule = this.firstRule(cg, 1, proto, p, sg >= 0 && endTenant[se] === endTenant[ce] ? sg : -1, sIp, row < 0 ? -1 : rowCandidates[2 * row + 1]! - 1);
      if (this.egressRule === NO_RULE) return DENIED_EGRESS;
    }
    return ALLOWED;
  }

  rows(from: number, to: number): void {
    const c = this.l.cols;
    const { client, server, clientIp, serverIp, protocol, port, otherPort: altPort, latestFlows, latestBytes, endVm } = c;
    const { endTenant, endAnomalous } = this.l;
    const { total, tenantTally, vmTally, ruleTally, ruleUsed, allowedOut, kept } = this;
    for (let i = from; i < to; i++) {
      const flows = latestFlows[i]!;
      if (flows === 0) {
        kept.drop(i);
        continue;
      }
      const bytes = latestBytes[i]!;
      const ce = client[i]!;
      const se = server[i]!;
      const proto = protocol[i]!;
      const p = port[i]!;
      let verdict = kept.kept(i, ce, se, p, altPort[i]! >= 0);
      if (verdict !== NO_VERDICT) {
        this.ingressRule = kept.ingress[i]!;
        this.egressRule = kept.egress[i]!;
      } else {
        // One whose server end the records could not tell is allowed in either orientation.
        verdict = this.judge(ce, se, clientIp[i]!, serverIp[i]!, proto, p, i);
        if (verdict !== ALLOWED && altPort[i]! >= 0) {
          const first = verdict;
          const firstIngress = this.ingressRule;
          const firstEgress = this.egressRule;
          verdict = this.judge(se, ce, serverIp[i]!, clientIp[i]!, proto, altPort[i]!, -1);
          if (verdict !== ALLOWED) {
            verdict = first;
            this.ingressRule = firstIngress;
            this.egressRule = firstEgress;
          }
        }
        kept.store(i, ce, se, p, verdict, this.ingressRule, this.egressRule);
      }
      const allowed = verdict === ALLOWED;
      allowedOut[i] = allowed ? 1 : 0;
      const isAnomalous = endAnomalous[ce] === 1 || endAnomalous[se] === 1;
      const isNormalVmToVm = !isAnomalous && endVm[ce] !== null && endVm[se] !== null;
      add(total, 0, flows, bytes, allowed);
      if (isNormalVmToVm) add(total, TALLY, flows, bytes, allowed);
      if (isAnomalous) add(total, 2 * TALLY, flows, bytes, allowed);
      const ct = endTenant[ce]!;
      const st = endTenant[se]!;
      for (let k = 0; k < 2; k++) {
        const e = k === 0 ? ce : se;
        const t = k === 0 ? ct : st;
        if (t < 0) continue;
        vmTally[4 * e]! += flows;
        vmTally[4 * e + 1]! += bytes;
        if (!allowed) {
          vmTally[4 * e + 2]! += flows;
          vmTally[4 * e + 3]! += bytes;
        }
        // A connection within a tenant counts once in its figures.
        if (k === 1 && t === ct) continue;
        const at = t * TALLIES;
        add(tenantTally, at, flows, bytes, allowed);
        if (isNormalVmToVm) add(tenantTally, at + TALLY, flows, bytes, allowed);
        if (isAnomalous) add(tenantTally, at + 2 * TALLY, flows, bytes, allowed);
        if (!allowed) {
          this.deniedRows[t]!.push(i);
          this.deniedReasons[t]!.push(verdict);
        }
      }
      // The rules that matched (those of the verdict, also when the other side denied) count for their tenants.
      for (let k = 0; k < 2; k++) {
        const r = k === 0 ? this.ingressRule : this.egressRule;
        if (r === NO_RULE) continue;
        ruleUsed[r] = 1;
        ruleTally[2 * r]! += flows;
        ruleTally[2 * r + 1]! += bytes;
      }
    }
  }
}
