/**
 * Who holds which by-VM partition (docs/scale-out.md, "Sticky window partitions"): the window group's
 * assignment. kafkajs' round-robin deals the partitions out again at every rebalance in the order of the
 * member ids, so a member joining (its id sorts anywhere) or dying moved most partitions, and each moved
 * partition is fenced, restored from the changelog and replayed from its checkpoint. Here a partition stays
 * with the member that holds it for as long as that member stays in the group under the same member id (as
 * the leader partition does, leader-assignment.ts); the members that hold more than their fair share give the
 * excess to those that hold less, so a member that joins takes its share from the most loaded.
 */
import type { PartitionAssigner } from 'kafkajs';
import { byMemberId, type Claimant, type StickyRule, stickyAssigner } from './sticky-assigner.ts';

export const STICKY_WINDOW_ASSIGNER = 'AlcorStickyWindows';

/** What a member says when it joins: the member id under which it held `held` in its last generation. */
export interface WindowClaim {
  as: string;
  held: number[];
}

/**
 * The partitions of each member in the next generation. A member's claim counts only under the member id it
 * still has (dropped from the group, it may have been fenced meanwhile). Every member gets floor(P/N) or one
 * more; those that keep more get the larger shares, so as few partitions move as a fair balance allows.
 */
export function assignWindows(members: ReadonlyArray<Claimant<WindowClaim>>, partitions: readonly number[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  if (members.length === 0) return out;
  const exists = new Set(partitions);
  const owner = new Map<number, string>();
  const kept = new Map<string, number[]>();
  for (const m of [...members].sort((a, b) => byMemberId(a.memberId, b.memberId))) {
    const mine: number[] = [];
    if (m.claim !== null && m.claim.as === m.memberId)
      for (const p of [...m.claim.held].sort((a, b) => a - b))
        if (exists.has(p) && !owner.has(p)) {
          owner.set(p, m.memberId);
          mine.push(p);
        }
    kept.set(m.memberId, mine);
  }
  // The larger shares to those that keep the most (then by id: every member computes the same).
  const order = [...kept.entries()].sort((a, b) => b[1].length - a[1].length || byMemberId(a[0], b[0])).map(([id]) => id);
  const base = Math.floor(partitions.length / order.length);
  const larger = partitions.length % order.length;
  const quota = new Map(order.map((id, i) => [id, base + (i < larger ? 1 : 0)]));
  const free: number[] = partitions.filter((p) => !owner.has(p));
  for (const id of order) {
    const mine = kept.get(id)!;
    // Above its share: the highest partitions go back to be dealt out.
    while (mine.length > quota.get(id)!) free.push(mine.pop()!);
  }
  free.sort((a, b) => a - b);
  for (const p of free) {
    // The member furthest below its share, then by id.
    const id = order.filter((m) => kept.get(m)!.length < quota.get(m)!).sort((a, b) => quota.get(b)! - kept.get(b)!.length - (quota.get(a)! - kept.get(a)!.length) || byMemberId(a, b))[0]!;
    kept.get(id)!.push(p);
  }
  for (const id of order) out.set(id, [...kept.get(id)!].sort((a, b) => a - b));
  return out;
}

const WINDOW_RULE: StickyRule<WindowClaim> = {
  name: STICKY_WINDOW_ASSIGNER,
  encode: (claim) => JSON.stringify(claim),
  decode(text) {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null) return null;
    const { as, held } = parsed as { as?: unknown; held?: unknown };
    if (typeof as !== 'string' || !Array.isArray(held) || !held.every((p) => Number.isInteger(p))) return null;
    return { as, held: held as number[] };
  },
  deal: assignWindows,
};

/** The window group's assigner; `claim` is read at every join (kafkajs asks for the protocol metadata each time). */
export function stickyWindowAssigner(claim: () => WindowClaim | null): PartitionAssigner {
  return stickyAssigner(WINDOW_RULE, claim);
}
