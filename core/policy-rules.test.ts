// The policy's arithmetic against independent computations: the rate distribution it plans for (recency
// weights, clamping, binning, the EWMA fallback), Erlang-B and the M/M/c/K queue from their textbook
// definitions, including the edges (no server, no load, exactly full load, queues long enough to overflow
// a naive sum). Beside policy.test.ts, which ticks the whole policy.
import { describe, expect, it } from "vitest";
import { parseControlConfig } from "./config.js";
import {
  boundedQueue,
  erlangB,
  initialPolicyState,
  lateShare,
  levelShift,
  type Observations,
  type Percentiles,
  plan,
  rateDistribution,
  SLO_BUDGET_SPEND,
  SLO_PERIOD_S,
  SLO_TARGET,
  sloTargetNow,
  spendBudget,
  trendRise,
} from "./policy.js";

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const factorial = (n: number): number => (n <= 1 ? 1 : n * factorial(n - 1));

/** The stationary distribution of M/M/c/K with K = c + Q: p_n ~ a^n / n! up to c, then p_c rho^(n-c). */
function stationary(a: number, c: number, Q: number): number[] {
  const p: number[] = [];
  for (let n = 0; n <= c + Q; n++)
    p.push(n <= c ? a ** n / factorial(n) : (a ** c / factorial(c)) * (a / c) ** (n - c));
  const total = sum(p);
  return p.map((x) => x / total);
}

/** Blocking and the mean wait of an admitted arrival (PASTA: arrivals see the stationary distribution). */
function mmck(a: number, c: number, Q: number): { blocked: number; waitS: number } {
  const p = stationary(a, c, Q);
  // An arrival admitted with n >= c in the system waits n - c + 1 departures of rate c (in service times).
  let wait = 0;
  for (let n = c; n < c + Q; n++) wait += p[n] * ((n - c + 1) / c);
  return { blocked: p[c + Q], waitS: wait / (1 - p[c + Q]) };
}

describe("rate distribution", () => {
  it("no history and no mean: the single point 0", () => {
    expect(rateDistribution([], 0, 5, 60)).toEqual({ rates: [0], weights: [1], mean: 0 });
    expect(rateDistribution([], Number.NaN, 5, 60)).toEqual({ rates: [0], weights: [1], mean: 0 });
  });

  it("no history: the EWMA mean and deviation as a normal's eight octiles, truncated at 0", () => {
    const d = rateDistribution([], 10, 2, 60);
    expect(d.rates).toHaveLength(8);
    expect(d.weights).toEqual(Array(8).fill(1 / 8));
    expect(d.mean).toBeCloseTo(10, 12); // symmetric octiles
    expect(d.rates[0]).toBeCloseTo(10 - 1.5341 * 2, 12);
    expect(d.rates[7]).toBeCloseTo(10 + 1.5341 * 2, 12);
    expect(d.rates.every((r, i) => i === 0 || r > d.rates[i - 1])).toBe(true);
    // Without a deviation every point is the mean; with a wide one the low points stop at 0.
    expect(rateDistribution([], 10, 0, 60).rates).toEqual(Array(8).fill(10));
    const wide = rateDistribution([], 1, 10, 60);
    expect(wide.rates.slice(0, 4)).toEqual([0, 0, 0, 0]);
    expect(wide.mean).toBeCloseTo(sum(wide.rates) / 8, 12);
    expect(wide.mean).toBeGreaterThan(1);
  });

  it("history: the newest second weighs 1, each older one exp(-1/tau) of the next", () => {
    const e = Math.exp(-1);
    const d = rateDistribution([0, 10], 99, 99, 1); // oldest first; the EWMA is not used
    expect(d.rates).toEqual([0, 10]);
    expect(d.weights[0]).toBeCloseTo(e / (1 + e), 12);
    expect(d.weights[1]).toBeCloseTo(1 / (1 + e), 12);
    expect(d.mean).toBeCloseTo(10 / (1 + e), 12);
    // tau below a second counts as one second.
    expect(rateDistribution([0, 10], 0, 0, 0.25)).toEqual(d);
    // A negative count is read as 0.
    expect(rateDistribution([-5, 10], 0, 0, 1)).toEqual(d);
  });

  it("the bins span the lowest to the highest rate, not 0 to the highest", () => {
    const per = Array.from({ length: 101 }, (_, i) => 100 + i); // 100..200
    const d = rateDistribution(per, 0, 0, 1e9);
    expect(d.rates).toHaveLength(32); // 101 values over 32 bins of 100/32: none empty
    expect(d.rates[0]).toBeLessThan(100 + 100 / 32);
    expect(d.rates[31]).toBeGreaterThan(200 - 100 / 32);
  });

  it("a steady rate is one point", () => {
    const d = rateDistribution([7, 7, 7], 0, 0, 30);
    expect([d.rates.length, d.weights]).toEqual([1, [1]]);
    expect(d.rates[0]).toBeCloseTo(7, 12);
    expect(d.mean).toBeCloseTo(7, 12);
  });

  it("at most 32 points, each the weighted mean of its values, from the lowest to the highest rate", () => {
    const per = Array.from({ length: 300 }, (_, i) => (i * 37) % 101); // 0..100 in a scrambled order
    const tau = 50;
    const d = rateDistribution(per, 0, 0, tau);
    expect(d.rates.length).toBeLessThanOrEqual(32);
    expect(d.rates.length).toBeGreaterThan(16);
    expect(sum(d.weights)).toBeCloseTo(1, 12);
    expect(d.rates.every((r, i) => i === 0 || r > d.rates[i - 1])).toBe(true);
    expect(d.rates[0]).toBeGreaterThanOrEqual(0);
    expect(d.rates[0]).toBeLessThan(100 / 32);
    expect(d.rates.at(-1)).toBeLessThanOrEqual(100);
    expect(d.rates.at(-1)).toBeGreaterThan(100 - 100 / 32);
    // The weighted mean, computed directly.
    const w = per.map((_, i) => Math.exp(-(per.length - 1 - i) / tau));
    const mean = sum(per.map((v, i) => v * w[i])) / sum(w);
    expect(d.mean).toBeCloseTo(mean, 9);
    expect(sum(d.rates.map((r, i) => r * d.weights[i]))).toBeCloseTo(mean, 9);
  });
});

describe("Erlang-B", () => {
  it("matches its definition (a^c / c!) / sum_k a^k / k!", () => {
    for (const a of [0.5, 5, 12.3]) {
      const b = erlangB(a, 15);
      expect(b).toHaveLength(16);
      for (let c = 0; c <= 15; c++) {
        const terms = Array.from({ length: c + 1 }, (_, k) => a ** k / factorial(k));
        expect(b[c]).toBeCloseTo(terms[c] / sum(terms), 12);
      }
    }
  });

  it("no load blocks nothing once there is a server; no server blocks everything", () => {
    expect(erlangB(0, 3)).toEqual([1, 0, 0, 0]);
  });
});

describe("M/M/c/K", () => {
  it("matches the stationary distribution below, at and above full load", () => {
    for (const [a, c, Q] of [
      [1.5, 2, 3],
      [2, 2, 4],
      [3.7, 2, 5],
      [7, 8, 16],
      [12, 8, 1],
    ]) {
      const want = mmck(a, c, Q);
      const got = boundedQueue(erlangB(a, c)[c], a, c, Q);
      expect(got.blocked).toBeCloseTo(want.blocked, 12);
      expect(got.waitS).toBeCloseTo(want.waitS, 12);
    }
  });

  it("no queue is Erlang-B; no server blocks every arrival", () => {
    const E = erlangB(3, 2)[2];
    expect(boundedQueue(E, 3, 2, 0)).toEqual({ blocked: E, waitS: 0 });
    expect(boundedQueue(1, 3, 0, 4)).toEqual({ blocked: 1, waitS: 0 });
  });

  it("long queues stay finite: overloaded it blocks 1 - 1/rho, underloaded it is Erlang-C", () => {
    // rho = 4: the servers carry c of every a, the rest is turned away; an admitted call waits ~Q/c.
    const over = boundedQueue(erlangB(8, 2)[2], 8, 2, 2000);
    expect(over.blocked).toBeCloseTo(1 - 1 / 4, 12);
    expect(over.waitS).toBeGreaterThan(999 - 1);
    expect(over.waitS).toBeLessThan(1000 + 1);
    // rho = 0.25: nothing is turned away; the wait is Erlang-C's C / (c - a), C = E / (1 - rho (1 - E)).
    const E = erlangB(0.5, 2)[2];
    const under = boundedQueue(E, 0.5, 2, 2000);
    expect(under.blocked).toBeLessThan(1e-12);
    expect(under.waitS).toBeCloseTo(E / (1 - 0.25 * (1 - E)) / (2 - 0.5), 12);
  });
});

describe("missing measurements", () => {
  // Three stages at 100 req/s; stage 0 exits half. A cheap 4-slot VM, so a VM group is worth pricing.
  const cfg = parseControlConfig({ vm: { usd_per_hour: 0.05, concurrency: 4, boot_s: 60, max: 50 }, slo_ms: 500 });
  const ms = (m: number): Percentiles => ({ mean: m, p50: m, p95: 1.5 * m, p99: 2 * m });
  const planWith = (vmMs: Percentiles) => {
    const o: Observations = {
      stages: [0.5, 0.2, 1].map((exitFraction) => ({ exitFraction, vmMs, faasMs: ms(40), stateBytes: 4096 })),
      rate: { perSecond: Array(600).fill(100) },
      vms: { running: 0, booting: 0 },
    };
    return plan(initialPolicyState(), o, cfg, 600).plan;
  };

  it("a VM time not measured yet (0 or NaN) is read as the FaaS time", () => {
    const asFaas = planWith(ms(40));
    expect(asFaas.vmGroupStart).not.toBeNull(); // the case prices a VM group
    expect(planWith(ms(0))).toEqual(asFaas);
    expect(planWith(ms(Number.NaN))).toEqual(asFaas);
    expect(planWith(ms(20))).not.toEqual(asFaas);
  });
});

const flat = (v: number, n: number) => Array<number>(n).fill(v);

describe("level shift", () => {
  it("needs an older window at least as long as the recent one", () => {
    expect(levelShift([...flat(0, 6), ...flat(150, 6)], 6)).toEqual({ levelRps: 150, lastedS: 6 });
    expect(levelShift([...flat(0, 5), ...flat(150, 6)], 6)).toBeNull();
    // The recent window is at least 2 s.
    expect(levelShift([0, 0, 150, 150], 1)).toEqual({ levelRps: 150, lastedS: 2 });
    expect(levelShift([0, 0, 150], 1)).toBeNull();
  });

  it("the bar is the older median + 3 x max(MAD, sqrt(median)) + 1; a second exactly at it is not above", () => {
    // Older window steady at 100: MAD 0, Poisson noise 10 -> bar 131.
    expect(levelShift([...flat(100, 60), ...flat(132, 6)], 6)).toEqual({ levelRps: 132, lastedS: 6 });
    expect(levelShift([...flat(100, 60), ...flat(131, 6)], 6)).toBeNull();
    // Older window alternating 0 / 200: median 200, MAD 1.4826 x 200 -> bar 200 + 889.56 + 1.
    const spread = Array.from({ length: 60 }, (_, i) => (i % 2 ? 200 : 0));
    expect(levelShift([...spread, ...flat(1091, 6)], 6)).toEqual({ levelRps: 1091, lastedS: 6 });
    expect(levelShift([...spread, ...flat(1090, 6)], 6)).toBeNull();
  });

  it("counts how long the rate has stayed strictly above the bar", () => {
    // Older: 100 then a second exactly at the bar (131) then the shift: the 131 is not counted.
    expect(levelShift([...flat(100, 59), 131, ...flat(140, 8)], 6)).toEqual({ levelRps: 140, lastedS: 8 });
  });

  it("one low second inside the window is tolerated and counted in the level; a low newest one is left out", () => {
    const base = flat(0, 60); // bar 1
    expect(levelShift([...base, 150, 150, 150, 0, 150, 150], 6)).toEqual({ levelRps: 125, lastedS: 2 });
    // The newest second partly counted (1 <= bar): the level is the mean of the other five.
    expect(levelShift([...base, ...flat(150, 5), 1], 6)).toEqual({ levelRps: 150, lastedS: 6 });
  });
});

describe("trend", () => {
  // Theil-Sen by its definition: the upper median of all pairwise slopes of the block means, trusted when
  // at least 80% of the pairs rise.
  const theilSen = (y: number[], block: number) => {
    const slopes: number[] = [];
    for (let i = 0; i < y.length; i++)
      for (let k = i + 1; k < y.length; k++) slopes.push((y[k] - y[i]) / ((k - i) * block));
    slopes.sort((a, b) => a - b);
    return slopes.filter((x) => x > 0).length >= 0.8 * slopes.length ? slopes[slopes.length >> 1] : 0;
  };

  it("needs 8 block means: a rise over 8 seconds counts, over 7 it does not", () => {
    expect(trendRise([0, 1, 2, 3, 4, 5, 6, 7], 8, 10, 0)).toBeCloseTo(10, 12);
    expect(trendRise([0, 1, 2, 3, 4, 5, 6], 7, 10, 0)).toBe(0);
  });

  it("is the median pairwise slope of block means over exactly the span, projected over ahead + lag", () => {
    // Irregular rise, 10 one-second blocks: slopes differ, so the median is one particular pair's.
    const y = [0, 3, 1, 4, 6, 5, 9, 8, 12, 11];
    expect(trendRise(y, 10, 30, 5)).toBeCloseTo(theilSen(y, 1) * 35, 12);
    // 160 s in blocks of 8 (20 means), the span exactly the history; a convex rise, so each pair's slope
    // differs and block means of other seconds would give another median.
    const per = Array.from({ length: 160 }, (_, i) => i ** 3 / 1e4);
    const means = Array.from({ length: 20 }, (_, b) => per.slice(b * 8, b * 8 + 8).reduce((a, v) => a + v, 0) / 8);
    expect(trendRise(per, 160, 60, 0)).toBeCloseTo(theilSen(means, 8) * 60, 9);
    expect([theilSen(y, 1), theilSen(means, 8)].every((x) => x > 0)).toBe(true); // both rises are trusted
  });

  it("a flat pair is not a rising one; exactly 80% rising pairs is enough", () => {
    // 45 pairs, 9 of them flat (inside each run of equal values): 36 rise, exactly 80%.
    const at80 = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3];
    expect(trendRise(at80, 10, 10, 0)).toBeCloseTo(theilSen(at80, 1) * 10, 12);
    expect(theilSen(at80, 1)).toBeGreaterThan(0);
    // 28 pairs, 7 flat: 75% rise, not trusted.
    expect(trendRise([0, 0, 0, 1, 1, 1, 2, 2], 8, 10, 0)).toBe(0);
  });
});

describe("late share of the bounded queue", () => {
  // An arrival finding m waiting (m < Q) waits m + 1 departures at rate c: longer than b service times
  // with chance P(Poisson(c b) <= m).
  const poissonCdf = (x: number, m: number) =>
    sum(Array.from({ length: m + 1 }, (_, i) => (Math.exp(-x) * x ** i) / factorial(i)));
  const direct = (a: number, c: number, Q: number, b: number) => {
    const p = stationary(a, c, Q);
    return sum(Array.from({ length: Q }, (_, m) => p[c + m] * poissonCdf(c * b, m)));
  };

  it("matches the stationary distribution and the Erlang waits, below, at and above full load", () => {
    for (const [a, c, Q, b] of [
      [1.5, 2, 3, 0.5],
      [2, 2, 4, 1],
      [3.7, 2, 5, 2],
      [7, 8, 16, 0.25],
    ]) {
      const got = lateShare(erlangB(a, c)[c], a, c, Q, b);
      expect(got).toBeCloseTo(direct(a, c, Q, b), 12);
      expect(got).toBeGreaterThan(0);
    }
  });

  it("a longer budget leaves fewer late; no queue, no server, no load or no budget leaves none", () => {
    const at = (b: number) => lateShare(erlangB(3, 2)[2], 3, 2, 6, b);
    expect(at(0.5)).toBeGreaterThan(at(1));
    expect(at(1)).toBeGreaterThan(at(4));
    expect(lateShare(erlangB(3, 2)[2], 3, 2, 0, 1)).toBe(0);
    expect(lateShare(1, 3, 0, 6, 1)).toBe(0);
    expect(lateShare(0, 0, 2, 6, 1)).toBe(0);
    for (const b of [0, -1, Number.NaN]) expect(lateShare(erlangB(3, 2)[2], 3, 2, 6, b)).toBe(0);
  });

  it("stays finite on long queues far past full load", () => {
    const late = lateShare(erlangB(8, 2)[2], 8, 2, 2000, 10);
    expect(Number.isFinite(late)).toBe(true);
    // Nearly every admitted call finds the queue almost full and cannot be served within 10 service
    // times (20 departures): the admitted quarter of arrivals is late.
    expect(late).toBeCloseTo(0.25, 6);
    // Far below full load the long queue is as good as endless: finite, and the direct sum over 40 places.
    const E = erlangB(0.5, 2)[2];
    const long = lateShare(E, 0.5, 2, 2000, 0.1);
    expect(long).toBeCloseTo(direct(0.5, 2, 40, 0.1), 12);
  });
});

describe("SLO error budget", () => {
  it("no history, or nothing planned next, asks for SLO_TARGET", () => {
    expect(sloTargetNow(undefined, 0, 100)).toEqual({ target: SLO_TARGET, past: null });
    expect(sloTargetNow({ requests: 0, within: 0, atS: 0 }, 0, 100)).toEqual({ target: SLO_TARGET, past: null });
    expect(sloTargetNow({ requests: 100, within: 100, atS: 0 }, 0, 0)).toEqual({ target: SLO_TARGET, past: null });
  });

  it("asks for what keeps the period at SLO_TARGET, between SLO_TARGET - SLO_BUDGET_SPEND and SLO_TARGET", () => {
    // 1000 requests so far, 100 planned: (0.99 x 1100 - within) / 100.
    const at = (within: number, nowS = 50) => sloTargetNow({ requests: 1000, within, atS: 50 }, nowS, 100);
    expect(at(990.5).target).toBeCloseTo(0.985, 12);
    expect(at(990.5).past).toBeCloseTo(0.9905, 12);
    expect(at(1000).target).toBe(SLO_TARGET - SLO_BUDGET_SPEND); // more to spend than allowed
    expect(at(980).target).toBe(SLO_TARGET); // behind: never asks for more than the target
    // The past fades over the SLO period: a day later it counts e^-1 as much.
    const dayLater = at(990.5, 50 + SLO_PERIOD_S);
    const n = 1000 / Math.E;
    expect(dayLater.target).toBeCloseTo(Math.max(0.98, (0.99 * (n + 100) - 990.5 / Math.E) / 100), 12);
    expect(dayLater.past).toBeCloseTo(0.9905, 12);
    // A clock that went back does not make the past count more.
    expect(at(990.5, 0)).toEqual(at(990.5, 50));
  });

  it("spending adds the period's requests at the plan's attainment to the faded past", () => {
    expect(spendBudget(undefined, 10, 5, 20, 0.9)).toEqual({ requests: 100, within: 90, atS: 10 });
    const b = spendBudget({ requests: 1000, within: 990, atS: 0 }, SLO_PERIOD_S, 5, 20, 1);
    expect(b.requests).toBeCloseTo(1000 / Math.E + 100, 9);
    expect(b.within).toBeCloseTo(990 / Math.E + 100, 9);
    expect(b.atS).toBe(SLO_PERIOD_S);
    expect(spendBudget({ requests: 10, within: 10, atS: 5 }, 5, -3, 20, 1)).toEqual({
      requests: 10,
      within: 10,
      atS: 5,
    });
  });
});
