/**
 * Bounds on scrypt key checks, which are slow on purpose and run on libuv's thread pool (four threads by
 * default), the same pool that snapshot, model and history writes wait on:
 *
 * - per client, at most `max` checks per window, so one client cannot try many guesses at a person's key;
 * - for the whole process, one check at a time and a short queue, so that many clients together still
 *   leave the other threads to file I/O; beyond the queue a check is refused rather than queued unbounded.
 */

export interface KeyCheckLimitOptions {
  /** Checks per client per window; null: no per-client bound (the concurrency bound still holds). */
  perClient: { max: number; windowMs: number } | null;
  /** Checks running at once; the rest wait in the queue. */
  concurrency?: number;
  /** Checks waiting for a slot; one more is refused. */
  queue?: number;
  /** Clients remembered within a window; the oldest is forgotten first (a bound on memory, not a budget). */
  maxClients?: number;
  now?: () => number;
}

/** One of four libuv threads: the other three stay free for file I/O whatever the clients send. */
const KEY_CHECK_CONCURRENCY = 1;
/** About a second of checks at 50 ms each: a burst of first requests of legitimate keys fits. */
const KEY_CHECK_QUEUE = 16;
const MAX_CLIENTS = 10_000;

export type KeyCheckRefusal = { reason: 'client' | 'busy'; retryAfterSeconds: number };

export class KeyCheckLimit {
  private readonly counts = new Map<string, number>();
  private windowStart = Number.NEGATIVE_INFINITY;
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly concurrency: number;
  private readonly queue: number;
  private readonly maxClients: number;
  private readonly now: () => number;

  constructor(private readonly options: KeyCheckLimitOptions) {
    this.concurrency = options.concurrency ?? KEY_CHECK_CONCURRENCY;
    this.queue = options.queue ?? KEY_CHECK_QUEUE;
    this.maxClients = options.maxClients ?? MAX_CLIENTS;
    this.now = options.now ?? Date.now;
  }

  /** Why `client` may not have a check now (its budget is spent); null: it may. Counts nothing. */
  refusal(client: string): KeyCheckRefusal | null {
    const limit = this.options.perClient;
    if (limit === null) return null;
    this.roll(limit.windowMs);
    if ((this.counts.get(client) ?? 0) < limit.max) return null;
    return { reason: 'client', retryAfterSeconds: Math.max(1, Math.ceil((this.windowStart + limit.windowMs - this.now()) / 1000)) };
  }

  /**
   * Counts one check for `client` and runs it when a slot is free; a refusal instead when the client's
   * budget is spent or the queue is full (the check then does not run, and is still counted).
   */
  async run<T>(client: string, check: () => Promise<T>): Promise<T | KeyCheckRefusal> {
    const refused = this.refusal(client);
    if (refused !== null) return refused;
    this.count(client);
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.queue) return { reason: 'busy', retryAfterSeconds: 1 };
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else this.running++;
    try {
      return await check();
    } finally {
      // The slot passes straight to the next waiter, so `running` never drops below what is running.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  private count(client: string): void {
    if (this.options.perClient === null) return;
    const seen = this.counts.get(client);
    if (seen === undefined && this.counts.size >= this.maxClients) {
      const oldest = this.counts.keys().next().value;
      if (oldest !== undefined) this.counts.delete(oldest);
    }
    this.counts.set(client, (seen ?? 0) + 1);
  }

  /** A fixed window for every client at once: simple, and its memory is freed as a whole. */
  private roll(windowMs: number): void {
    const now = this.now();
    if (now >= this.windowStart + windowMs) {
      this.counts.clear();
      this.windowStart = now;
    }
  }
}

export const isRefusal = (value: unknown): value is KeyCheckRefusal =>
  typeof value === 'object' && value !== null && 'reason' in value && 'retryAfterSeconds' in value;
