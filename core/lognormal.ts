// Lognormal service-time distributions given by their median and p99 (how profiles and stats describe
// stage times), and the normal quantile function they need. Runtime-free.

/** z such that P(Z <= z) = 0.99 for a standard normal Z. */
export const Z_P99 = 2.3263478740408408;
export const Z_P95 = 1.6448536269514722;

export interface LognormalParams {
  /** Mean of ln(X). */
  mu: number;
  /** Standard deviation of ln(X); 0 for a constant. */
  sigma: number;
}

/** Parameters of the lognormal with this median and p99 (p99 below the median is read as a constant). */
export function lognormalFromMedianP99(median: number, p99: number): LognormalParams {
  if (!(median > 0)) return { mu: -Infinity, sigma: 0 };
  const sigma = p99 > median ? Math.log(p99 / median) / Z_P99 : 0;
  return { mu: Math.log(median), sigma };
}

export function lognormalMean(p: LognormalParams): number {
  return p.mu === -Infinity ? 0 : Math.exp(p.mu + (p.sigma * p.sigma) / 2);
}

export function lognormalQuantile(p: LognormalParams, q: number): number {
  return p.mu === -Infinity ? 0 : Math.exp(p.mu + p.sigma * normalQuantile(q));
}

/** Inverse of the standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(q: number): number {
  if (q <= 0) return -Infinity;
  if (q >= 1) return Infinity;
  const a = [
    -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1,
    2.506628277459239,
  ];
  const b = [
    -5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1,
  ];
  const c = [
    -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (q < lo) {
    const r = Math.sqrt(-2 * Math.log(q));
    return (
      (((((c[0] * r + c[1]) * r + c[2]) * r + c[3]) * r + c[4]) * r + c[5]) /
      ((((d[0] * r + d[1]) * r + d[2]) * r + d[3]) * r + 1)
    );
  }
  if (q > 1 - lo) {
    const r = Math.sqrt(-2 * Math.log(1 - q));
    return (
      -(((((c[0] * r + c[1]) * r + c[2]) * r + c[3]) * r + c[4]) * r + c[5]) /
      ((((d[0] * r + d[1]) * r + d[2]) * r + d[3]) * r + 1)
    );
  }
  const s = q - 0.5;
  const r = s * s;
  return (
    ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * s) /
    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
  );
}

/** Mean, p50, p95, p99 of the lognormal with this median and p99 (the policy's `Percentiles`). */
export function percentilesFromMedianP99(
  median: number,
  p99: number,
): { mean: number; p50: number; p95: number; p99: number } {
  const p = lognormalFromMedianP99(median, p99);
  return { mean: lognormalMean(p), p50: median, p95: lognormalQuantile(p, 0.95), p99: Math.max(p99, median) };
}

/** Standard normal CDF (erfc by the Numerical Recipes Chebyshev fit, relative error < 1.2e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * x);
  const erfc =
    t *
    Math.exp(
      -x * x -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return z >= 0 ? 1 - erfc / 2 : erfc / 2;
}

/** Mean and variance of a lognormal. */
export function lognormalMoments(p: LognormalParams): { mean: number; variance: number } {
  if (p.mu === -Infinity) return { mean: 0, variance: 0 };
  const s2 = p.sigma * p.sigma;
  const mean = Math.exp(p.mu + s2 / 2);
  return { mean, variance: (Math.exp(s2) - 1) * mean * mean };
}

/**
 * The sum of independent lognormals as one lognormal with the same mean and variance (Fenton-Wilkinson):
 * a path's latency is the sum of its stages' times, whose p99 is far below the sum of their p99s.
 */
export function fentonWilkinson(parts: LognormalParams[]): LognormalParams {
  let mean = 0;
  let variance = 0;
  for (const p of parts) {
    const m = lognormalMoments(p);
    mean += m.mean;
    variance += m.variance;
  }
  if (!(mean > 0)) return { mu: -Infinity, sigma: 0 };
  const s2 = Math.log(1 + variance / (mean * mean));
  return { mu: Math.log(mean) - s2 / 2, sigma: Math.sqrt(s2) };
}

/** P(X <= x) for a lognormal X. */
export function lognormalCdf(p: LognormalParams, x: number): number {
  if (p.mu === -Infinity) return x >= 0 ? 1 : 0;
  if (!(x > 0)) return 0;
  if (p.sigma === 0) return x >= Math.exp(p.mu) ? 1 : 0;
  return normalCdf((Math.log(x) - p.mu) / p.sigma);
}
