// Log-bucketed latency histogram: 10% wide buckets from 1 microsecond; quantiles interpolated within a bucket.
export const HIST_BASE_MS = 0.001;
export const HIST_GROWTH = 1.1;
export const HIST_BUCKETS = 260;

export function bucketOf(ms: number): number {
  if (!(ms > HIST_BASE_MS)) return 0;
  return Math.min(HIST_BUCKETS - 1, Math.floor(Math.log(ms / HIST_BASE_MS) / Math.log(HIST_GROWTH)) + 1);
}

/** Geometric middle of a bucket, in ms. */
export function bucketValueMs(b: number): number {
  if (b === 0) return HIST_BASE_MS / 2;
  return HIST_BASE_MS * HIST_GROWTH ** (b - 0.5);
}

/**
 * Quantile q in [0,1] of a histogram given as (bucket, count) pairs; null when empty. Within the bucket
 * that holds rank q x total, the samples are taken as spread evenly in log time (a lognormal's tail is
 * nearly so over 10%), so the quantile moves smoothly with the rank instead of in 10% steps.
 */
export function quantileMs(counts: Array<[number, number]>, q: number): number | null {
  const total = counts.reduce((a, [, c]) => a + c, 0);
  if (total === 0) return null;
  const sorted = counts.filter(([, c]) => c > 0).sort((a, b) => a[0] - b[0]);
  const rank = Math.min(1, Math.max(0, q)) * total;
  let seen = 0;
  for (const [b, c] of sorted) {
    if (seen + c >= rank) {
      if (b === 0) return bucketValueMs(0);
      return HIST_BASE_MS * HIST_GROWTH ** (b - 1 + (rank - seen) / c);
    }
    seen += c;
  }
  return bucketValueMs(sorted[sorted.length - 1][0]);
}

export function meanMs(counts: Array<[number, number]>): number | null {
  const total = counts.reduce((a, [, c]) => a + c, 0);
  if (total === 0) return null;
  return counts.reduce((a, [b, c]) => a + bucketValueMs(b) * c, 0) / total;
}

/** EWMA mean and deviation of a per-second series (oldest first), time constant tauS. */
export function ewmaStats(perSecond: number[], tauS: number): { mean: number; std: number } {
  if (perSecond.length === 0) return { mean: 0, std: 0 };
  const alpha = 1 - Math.exp(-1 / tauS);
  let mean = perSecond[0];
  let variance = 0;
  for (let i = 1; i < perSecond.length; i++) {
    const d = perSecond[i] - mean;
    mean += alpha * d;
    variance = (1 - alpha) * (variance + alpha * d * d);
  }
  return { mean, std: Math.sqrt(variance) };
}
