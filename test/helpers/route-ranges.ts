/**
 * Which member's route transactions committed which input offsets, read from the members' logs (the route
 * stage's "route transaction committed" lines, src/topology/route-stage.ts): for a storm test that fails,
 * whether an input offset was committed by two transactions (routed twice: a duplicate) or by none (a loss).
 * A member killed with -9 may have committed a transaction whose line it never wrote: a gap in a killed
 * member's stretch is a lost log line as likely as a lost record.
 */

/** One committed route transaction: input offsets [from, next) of `input` (`<topic>:<partition>`). */
export interface RouteCommit {
  member: number;
  input: string;
  from: bigint;
  next: bigint;
  messages: number;
  join: number;
  time: number;
}

/** Every committed route transaction in the members' logs (member = the log's index). */
export function routeCommits(logs: readonly string[]): RouteCommit[] {
  const commits: RouteCommit[] = [];
  logs.forEach((text, member) => {
    for (const line of text.split('\n')) {
      if (!line.includes('"route transaction committed"')) continue;
      try {
        const l = JSON.parse(line) as { input: string; from: string; next: string; messages: number; route_join: number; time: number };
        commits.push({ member, input: l.input, from: BigInt(l.from), next: BigInt(l.next), messages: l.messages, join: l.route_join, time: l.time });
      } catch {
        // A line cut by kill -9.
      }
    }
  });
  return commits;
}

/** An input offset range committed twice (`by` both), or by none (`by` empty) though later offsets were. */
export interface RangeProblem {
  input: string;
  kind: 'twice' | 'never';
  from: bigint;
  next: bigint;
  /** The commits involved, as `member <i> join <j> [from, next)`. */
  by: string[];
}

const named = (c: RouteCommit): string => `member ${c.member} join ${c.join} [${c.from}, ${c.next})`;

/**
 * The offsets of each input committed twice or never, from offset 0 to the last commit's end. Empty
 * transactions (a flush of released flows: from = next) cover nothing.
 */
export function rangeProblems(commits: readonly RouteCommit[]): RangeProblem[] {
  const problems: RangeProblem[] = [];
  const inputs = [...new Set(commits.map((c) => c.input))].sort();
  for (const input of inputs) {
    const mine = commits.filter((c) => c.input === input && c.next > c.from).sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : a.time - b.time));
    let end = 0n;
    let last: RouteCommit | null = null;
    for (const c of mine) {
      if (c.from > end) problems.push({ input, kind: 'never', from: end, next: c.from, by: last === null ? [named(c)] : [named(last), named(c)] });
      else if (c.from < end && last !== null) problems.push({ input, kind: 'twice', from: c.from, next: c.next < end ? c.next : end, by: [named(last), named(c)] });
      if (c.next > end) {
        end = c.next;
        last = c;
      }
    }
  }
  return problems;
}

/** For a failure message: each input's committed stretch per member and join, then the problems (or that there are none). */
export function describeRoutes(logs: readonly string[]): string {
  const commits = routeCommits(logs);
  if (commits.length === 0) return 'route commits: none logged';
  const lines: string[] = [];
  const stretches = new Map<string, { from: bigint; next: bigint; transactions: number; messages: number }>();
  for (const c of [...commits].sort((a, b) => a.time - b.time)) {
    const key = `${c.input} member ${c.member} join ${c.join}`;
    const s = stretches.get(key);
    if (s === undefined) stretches.set(key, { from: c.from, next: c.next, transactions: 1, messages: c.messages });
    else {
      if (c.from < s.from) s.from = c.from;
      if (c.next > s.next) s.next = c.next;
      s.transactions++;
      s.messages += c.messages;
    }
  }
  for (const [key, s] of stretches) lines.push(`  ${key}: [${s.from}, ${s.next}) in ${s.transactions} transactions, ${s.messages} messages`);
  const problems = rangeProblems(commits);
  const problemLines = problems.map((p) => `  ${p.input} [${p.from}, ${p.next}) ${p.kind === 'twice' ? 'committed twice' : 'never committed'}: ${p.by.join(' and ')}`);
  return `route commits per input, member and join (in commit order):\n${lines.join('\n')}\n${problems.length === 0 ? 'every input offset up to the last commit committed once' : `route offsets committed twice or never:\n${problemLines.join('\n')}`}`;
}
