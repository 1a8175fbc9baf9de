// A per-isolate memory of expensive loads (a model's onnxruntime sessions, its stage files from R2). A load
// in flight or done is shared by every caller. A failed one is remembered for a while: readiness probes
// are unauthenticated, and without the memory each one would read R2 and compile the sessions again.

/**
 * How long a failed load is remembered before the next caller tries again: a probe flood costs at most
 * one load per model and isolate in this time, and a model fixed in R2 is picked up within it.
 */
export const LOAD_RETRY_AFTER_S = 30;

type Entry<T> = { loading: Promise<T> } | { failed: unknown; untilMs: number };

export class LoadMemory<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(
    private readonly retryAfterS = LOAD_RETRY_AFTER_S,
    // Read at each call (not `Date.now` bound once), so a test's clock is the one used.
    private readonly nowMs: () => number = () => Date.now(),
  ) {}

  /**
   * The load of `key`, started by the first caller. Until `retryAfterS` after a failure, callers get
   * `remembered(error, secondsLeft)` without a new load; the first caller after that loads again.
   */
  get(key: string, load: () => Promise<T>, remembered: (err: unknown, retryAfterS: number) => unknown): Promise<T> {
    const e = this.entries.get(key);
    if (e && "loading" in e) return e.loading;
    if (e) {
      const leftMs = e.untilMs - this.nowMs();
      if (leftMs > 0) return Promise.reject(remembered(e.failed, Math.ceil(leftMs / 1000)));
    }
    const entry = { loading: (async () => load())() }; // a load that throws at once is a failure too
    entry.loading.catch((err) => {
      if (this.entries.get(key) === entry)
        this.entries.set(key, { failed: err, untilMs: this.nowMs() + this.retryAfterS * 1000 });
    });
    this.entries.set(key, entry);
    return entry.loading;
  }
}
