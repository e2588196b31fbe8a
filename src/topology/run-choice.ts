/**
 * Which of the leader's pending ticks and requests it runs next (pure). A key is `t<tick>` for a scheduled
 * tick, `q<request id>` for a requested run; its parts are the window partitions that have published
 * features for it.
 *
 * A request runs first (someone waits for it). Of the ticks only the newest complete one: a backlog is not
 * replayed run by run. And while a newer tick is already announced by some partition (the members read a
 * backlog: in real time every partition passes a tick minutes before the next one is due), the complete
 * tick waits, up to `catchUpMs` after the last run started: its clusters would be stale before they were
 * served, and a run costs far more than the features of a tick (issue 12: a member read the small fixture's
 * backlog with 3 to 4 runs where one process did 1 to 2, most of the member's extra CPU). A newer tick is
 * announced only once some partition has applied it, so the caller also says whether the application is
 * still `behind` its input (backlog.ts): the windows still applying the backlog had announced nothing newer
 * when the first run was published, and the leader ran the tick they had reached, one run more than one
 * process, which reads the small fixture whole during its first run.
 */

/** Longest a complete tick waits for a newer one while a backlog is read: at most one run this often then. */
export const RUN_CATCH_UP_MS = 10_000;

export type RunChoice = { key: string } | { waitMs: number } | null;

const tickOf = (key: string): number | null => (key.startsWith('t') ? Number(key.slice(1)) : null);

/**
 * The key to run now, or how long the newest complete tick may still wait (a newer tick announced, or the
 * input or the windows `behind`, and the last run started less than `catchUpMs` ago), or null when nothing
 * is complete.
 */
export function chooseRun(
  pending: ReadonlyMap<string, ReadonlyMap<number, unknown>>,
  partitions: number,
  msSinceLastRun: number,
  catchUpMs: number = RUN_CATCH_UP_MS,
  behind = false,
): RunChoice {
  let newestComplete: number | null = null;
  let newestAnnounced = Number.NEGATIVE_INFINITY;
  for (const [key, parts] of pending) {
    const tick = tickOf(key);
    if (tick === null) {
      if (parts.size === partitions) return { key };
      continue;
    }
    newestAnnounced = Math.max(newestAnnounced, tick);
    if (parts.size === partitions && (newestComplete === null || tick > newestComplete)) newestComplete = tick;
  }
  if (newestComplete === null) return null;
  if ((behind || newestAnnounced > newestComplete) && msSinceLastRun < catchUpMs) return { waitMs: catchUpMs - msSinceLastRun };
  return { key: `t${newestComplete}` };
}
