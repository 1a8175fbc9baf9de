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
  it("the quantile is the first bucket whose running count reaches q x total, in bucket order", () => {
    const a = bucketOf(1);
    const b = bucketOf(10);
    // Given out of order; two samples: the median (rank 1) is exactly the first one's bucket.
    const counts: Array<[number, number]> = [
      [b, 1],
      [a, 1],
    ];
    expect(quantileMs(counts, 0.5)).toBe(bucketValueMs(a));
    expect(quantileMs(counts, 0.51)).toBe(bucketValueMs(b));
    expect(quantileMs(counts, 1)).toBe(bucketValueMs(b));
    expect(quantileMs(counts, 0)).toBe(bucketValueMs(a));
    expect(counts[0][0]).toBe(b); // the caller's array is not reordered
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
