import { describe, expect, it } from "vitest";
import {
  fentonWilkinson,
  lognormalCdf,
  lognormalFromMedianP99,
  lognormalMoments,
  normalCdf,
  lognormalMean,
  lognormalQuantile,
  normalQuantile,
  percentilesFromMedianP99,
  Z_P95,
  Z_P99,
} from "./lognormal.js";

describe("normal quantile", () => {
  // Reference values of the standard normal's inverse CDF (Python's statistics.NormalDist, to 9 digits), across the three regions of the
  // approximation: the lower tail (q < 0.02425), the middle, the upper tail.
  it.each([
    [1e-9, -5.997807015],
    [0.001, -3.090232306],
    [0.01, -2.326347874],
    [0.02425, -1.972961051],
    [0.1, -1.281551566],
    [0.3, -0.524400513],
    [0.5, 0],
    [0.8, 0.841621234],
    [0.95, Z_P95],
    [0.97575, 1.972961051],
    [0.99, Z_P99],
    [0.999, 3.090232306],
  ])("at q = %f is %f", (q, z) => {
    expect(normalQuantile(q)).toBeCloseTo(z, 7);
  });

  it("is odd around 0.5 and increasing", () => {
    for (const q of [0.001, 0.02, 0.03, 0.2, 0.49]) expect(normalQuantile(1 - q)).toBeCloseTo(-normalQuantile(q), 8);
    const qs = [0.0001, 0.01, 0.0242, 0.0243, 0.4, 0.6, 0.9757, 0.9758, 0.9999];
    for (let i = 1; i < qs.length; i++) expect(normalQuantile(qs[i])).toBeGreaterThan(normalQuantile(qs[i - 1]));
  });

  it("is -Infinity at 0 and below, +Infinity at 1 and above", () => {
    expect(normalQuantile(0)).toBe(-Infinity);
    expect(normalQuantile(-0.5)).toBe(-Infinity);
    expect(normalQuantile(1)).toBe(Infinity);
    expect(normalQuantile(2)).toBe(Infinity);
  });
});

describe("lognormal from median and p99", () => {
  it("recovers sigma from the ratio p99 / median", () => {
    const p = lognormalFromMedianP99(10, 10 * Math.exp(0.5 * Z_P99));
    expect(p.mu).toBeCloseTo(Math.log(10), 12);
    expect(p.sigma).toBeCloseTo(0.5, 12);
    expect(lognormalQuantile(p, 0.5)).toBeCloseTo(10, 9);
    expect(lognormalQuantile(p, 0.99)).toBeCloseTo(10 * Math.exp(0.5 * Z_P99), 6);
    expect(lognormalMean(p)).toBeCloseTo(10 * Math.exp(0.125), 9);
  });

  it("reads a p99 at or below the median as a constant", () => {
    for (const p99 of [10, 5]) {
      const p = lognormalFromMedianP99(10, p99);
      expect(p.sigma).toBe(0);
      expect(lognormalMean(p)).toBeCloseTo(10, 12);
      expect(lognormalQuantile(p, 0.99)).toBeCloseTo(10, 12);
    }
  });

  it("a median of 0 (or not a number) is the constant 0", () => {
    for (const median of [0, -1, Number.NaN]) {
      const p = lognormalFromMedianP99(median, 5);
      expect(p).toEqual({ mu: -Infinity, sigma: 0 });
      expect(lognormalMean(p)).toBe(0);
      expect(lognormalQuantile(p, 0.99)).toBe(0);
    }
  });

  it("gives the policy's percentiles: p50 the median, p99 never below it, p95 and mean between", () => {
    const pc = percentilesFromMedianP99(4, 4 * Math.exp(Z_P99));
    expect(pc.p50).toBe(4);
    expect(pc.p99).toBeCloseTo(4 * Math.exp(Z_P99), 12);
    expect(pc.p95).toBeCloseTo(4 * Math.exp(Z_P95), 6);
    expect(pc.mean).toBeCloseTo(4 * Math.exp(0.5), 9);
    expect(percentilesFromMedianP99(4, 2)).toEqual({ mean: 4, p50: 4, p95: 4, p99: 4 });
  });
});

describe("sums and the CDF at the edges", () => {
  const zero = lognormalFromMedianP99(0, 0); // a stage that takes no time
  const two = lognormalFromMedianP99(2, 2); // a constant 2 ms

  it("moments: mean exp(mu + s^2/2), variance (exp(s^2) - 1) mean^2; 0 and constants have no variance", () => {
    expect(lognormalMoments(zero)).toEqual({ mean: 0, variance: 0 });
    expect(lognormalMoments(two)).toEqual({ mean: 2, variance: 0 });
    const m = lognormalMoments({ mu: 1, sigma: 0.5 });
    expect(m.mean).toBeCloseTo(Math.exp(1.125), 12);
    expect(m.variance).toBeCloseTo((Math.exp(0.25) - 1) * Math.exp(2.25), 12);
  });

  it("the sum of one lognormal is that lognormal (the moments match exactly)", () => {
    const p = { mu: 1.2, sigma: 0.7 };
    const s = fentonWilkinson([p]);
    expect(s.mu).toBeCloseTo(p.mu, 12);
    expect(s.sigma).toBeCloseTo(p.sigma, 12);
  });

  it("a sum of nothing, or of stages that take no time, is the constant 0", () => {
    for (const parts of [[], [zero], [zero, zero]]) {
      const s = fentonWilkinson(parts);
      expect(s).toEqual({ mu: -Infinity, sigma: 0 });
      expect([lognormalCdf(s, 0), lognormalCdf(s, -1)]).toEqual([1, 0]);
    }
    // Adding a stage that takes no time changes nothing.
    expect(fentonWilkinson([two, zero])).toEqual(fentonWilkinson([two]));
  });

  it("no time is at or below 0 ms; a constant's CDF steps from 0 to 1 at its value", () => {
    const p = lognormalFromMedianP99(2, 8);
    for (const x of [0, -1, Number.NaN]) expect(lognormalCdf(p, x)).toBe(0);
    expect([lognormalCdf(two, 1.999), lognormalCdf(two, 2), lognormalCdf(two, 2.001)]).toEqual([0, 1, 1]);
    expect(lognormalCdf(p, 2)).toBeCloseTo(0.5, 7);
    expect(lognormalCdf(p, 8)).toBeCloseTo(0.99, 7);
  });
});

describe("normal CDF", () => {
  // Reference values of the standard normal's CDF (Python's statistics.NormalDist). The fit's relative error
  // is below 1.2e-7 of the smaller tail, from the centre out to 8 deviations.
  it.each([
    [0, 0.5],
    [0.1, 0.539827837277029],
    [0.5, 0.691462461274013],
    [1, 0.841344746068543],
    [2, 0.977249868051821],
    [3, 0.99865010196837],
    [4, 0.999968328758167],
    [-1, 0.158655253931457],
    [-3, 0.00134989803163009],
    [-5, 2.866515718791939e-7],
    [-8, 6.22096057427178e-16],
  ])("Phi(%d) = %d", (z, want) => {
    const tail = Math.min(want, 1 - want);
    expect(Math.abs(normalCdf(z) - want)).toBeLessThan(1.2e-7 * tail);
  });
});
