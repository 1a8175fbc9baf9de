import { describe, expect, it } from "vitest";
import {
  bucketOf,
  bucketValueMs,
  ewmaStats,
  HIST_BASE_MS,
  HIST_BUCKETS,
  HIST_GROWTH,
  meanMs,
  quantileMs,
} from "./histogram.js";
import { normalQuantile } from "./lognormal.js";

describe("log histogram buckets", () => {
  it("bucket 0 holds everything up to and including the base (1 us), and zero, negatives, NaN", () => {
    for (const ms of [HIST_BASE_MS, 0, -5, Number.NaN]) expect(bucketOf(ms)).toBe(0);
    expect(bucketOf(HIST_BASE_MS * 1.0001)).toBe(1);
    expect(bucketValueMs(0)).toBe(HIST_BASE_MS / 2);
  });

  it("each bucket is 10% wide and its value lies inside it; the last bucket takes all that is larger", () => {
    for (const ms of [0.01, 0.5, 3, 42, 1_000]) {
      const b = bucketOf(ms);
      expect(b).toBe(Math.floor(Math.log(ms / HIST_BASE_MS) / Math.log(HIST_GROWTH)) + 1);
      expect(Math.abs(bucketValueMs(b) / ms - 1)).toBeLessThan(0.05);
    }
    expect(bucketOf(1e30)).toBe(HIST_BUCKETS - 1);
    expect(bucketOf(HIST_BASE_MS * HIST_GROWTH ** (HIST_BUCKETS - 2) * 1.05)).toBe(HIST_BUCKETS - 1);
  });
});

describe("quantiles and mean of a histogram", () => {
  it("the quantile lies in the first bucket whose running count reaches q x total, in bucket order", () => {
    const a = bucketOf(1);
    const b = bucketOf(10);
    const edge = (x: number) => HIST_BASE_MS * HIST_GROWTH ** x; // bucket k spans edge(k - 1) to edge(k)
    // Given out of order; two samples: the median (rank 1) is all of the first one's bucket, its top edge.
    const counts: Array<[number, number]> = [
      [b, 1],
      [a, 1],
    ];
    expect(quantileMs(counts, 0.5)).toBeCloseTo(edge(a), 12);
    expect(quantileMs(counts, 0.51)).toBeCloseTo(edge(b - 1 + 0.02), 12);
    expect(quantileMs(counts, 1)).toBeCloseTo(edge(b), 12);
    expect(quantileMs(counts, 0)).toBeCloseTo(edge(a - 1), 12);
    expect(counts[0][0]).toBe(b); // the caller's array is not reordered
    // Within a bucket the quantile moves evenly in log time with the rank: a quarter of it, a quarter up.
    expect(quantileMs([[a, 4]], 0.25)).toBeCloseTo(edge(a - 0.75), 12);
    // Bucket 0 (everything up to 1 us) has no lower edge: its value.
    expect(quantileMs([[0, 3]], 0.5)).toBe(bucketValueMs(0));
  });

  it("a lognormal's p50 and p99 come out within 0.1%, where the bucket's value alone is 4% off", () => {
    // Median and p99 just above a bucket's lower edge; 20,000 samples at the lognormal's own quantiles.
    const edge = (x: number) => HIST_BASE_MS * HIST_GROWTH ** x;
    const p50 = edge(bucketOf(12) - 1) * 1.005;
    const p99 = edge(bucketOf(80) - 1) * 1.005;
    const sigma = Math.log(p99 / p50) / normalQuantile(0.99);
    const counts = new Map<number, number>();
    for (let i = 0; i < 20_000; i++) {
      const b = bucketOf(p50 * Math.exp(sigma * normalQuantile((i + 0.5) / 20_000)));
      counts.set(b, (counts.get(b) ?? 0) + 1);
    }
    expect(Math.abs(quantileMs([...counts], 0.5)! / p50 - 1)).toBeLessThan(0.001);
    expect(Math.abs(quantileMs([...counts], 0.99)! / p99 - 1)).toBeLessThan(0.001);
    expect(bucketValueMs(bucketOf(p50)) / p50 - 1).toBeGreaterThan(0.04);
  });

  it("an empty histogram has no quantile and no mean", () => {
    expect(quantileMs([], 0.5)).toBeNull();
    expect(quantileMs([[3, 0]], 0.5)).toBeNull();
    expect(meanMs([])).toBeNull();
  });

  it("the mean weighs each bucket's value by its count", () => {
    const a = bucketOf(1);
    const b = bucketOf(10);
    expect(
      meanMs([
        [a, 3],
        [b, 1],
      ]),
    ).toBeCloseTo((3 * bucketValueMs(a) + bucketValueMs(b)) / 4, 12);
  });
});

describe("EWMA of a per-second series", () => {
  it("is 0 with no data, the value itself for a constant series (no spread)", () => {
    expect(ewmaStats([], 10)).toEqual({ mean: 0, std: 0 });
    expect(ewmaStats([7, 7, 7, 7], 10)).toEqual({ mean: 7, std: 0 });
  });

  it("moves a 1 - e^(-1/tau) share towards each new value, and measures the spread of the steps", () => {
    const alpha = 1 - Math.exp(-1 / 10);
    const { mean, std } = ewmaStats([0, 10], 10);
    expect(mean).toBeCloseTo(10 * alpha, 12);
    expect(std).toBeCloseTo(Math.sqrt((1 - alpha) * alpha * 100), 12);
    // A long step converges on the new level.
    const long = ewmaStats([...Array(5).fill(0), ...Array(200).fill(50)], 10);
    expect(long.mean).toBeCloseTo(50, 6);
  });
});
