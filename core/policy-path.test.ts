// The plan's context and the path latencies it prices groups with: where a stage may run, the sampled
// sums of the stages' times (one fixed sample; a stage that never ends bounds nothing), the quantile of
// a group's path (the bracket, the share exactly at the target, the cap), what a group's attainment
// counts for requests that exit before it, and its queue at the edges: a load no VM can dent, a budget
// no wait outlives.
import { describe, expect, it } from "vitest";
import { faasWaitUsd, LAMBDA_PRICES } from "./cost.js";
import { exactMs, flat, groupConfig } from "./fixtures.js";
import { lognormalFromMedianP99 } from "./lognormal.js";
import {
  evaluateGroup,
  groupPathQuantileMs,
  initialPolicyState,
  type Observations,
  PATH_SAMPLES,
  PathSampler,
  plan,
  planContext,
} from "./policy.js";

const obs = (
  vmMs: number[],
  faasMs = vmMs,
  exits = vmMs.map((_, i) => (i === vmMs.length - 1 ? 1 : 0.5)),
  rps = 100,
): Observations => ({
  stages: exits.map((exitFraction, i) => ({
    exitFraction,
    vmMs: exactMs(vmMs[i]),
    faasMs: exactMs(faasMs[i]),
    stateBytes: 4096,
  })),
  rate: { perSecond: flat(rps, 600) },
  vms: { running: 0, booting: 0 },
  inputBytes: 3136,
});
const context = (o: Observations, over: Record<string, unknown> = {}, vm: Record<string, unknown> = {}) =>
  planContext(initialPolicyState(), o, groupConfig(over, vm));

describe("planContext: where a stage may run", () => {
  it("a stage no one pins may run anywhere ('auto'); its own pin wins, then the manifest's, then the config's", () => {
    expect(context(obs([5, 10, 30])).allowed).toEqual(["auto", "auto", "auto"]);
    const o = { ...obs([5, 10, 30]), allowedPlacement: ["vm" as const, "worker" as const] };
    o.stages[1].allowed = "vm";
    expect(context(o, { placement: ["worker", "worker", "worker"] }).allowed).toEqual(["vm", "vm", "worker"]);
  });
});

describe("groupPathQuantileMs", () => {
  // Stage times without spread: every draw of a stage is exp(mu) of its lognormal.
  const at = (ctx: ReturnType<typeof context>, i: number) => Math.exp(ctx.vmLn[i].mu);

  it("no request reaches the stage: its quantile is 0 ms", () => {
    const ctx = context(obs([5, 10, 30], [5, 10, 30], [1, 0.5, 1]));
    expect(ctx.r[1]).toBe(0);
    expect(groupPathQuantileMs(ctx, 1, 20)).toBe(0);
  });
  it("the quantile is over the requests that reach stage j (stages before it on FaaS, then the hop): half of them exit at j", () => {
    const ctx = context(obs([5, 10, 30]));
    // Of the requests reaching stage 1 (after 5 ms on FaaS and a 20-ms hop) half exit there (10 ms),
    // half go on to stage 2 (10 + 30 ms).
    const before = 5 + 20;
    expect(groupPathQuantileMs(ctx, 1, 20, 0.4)).toBeCloseTo(before + at(ctx, 1), 9);
    expect(groupPathQuantileMs(ctx, 1, 20, 0.6)).toBeCloseTo(before + at(ctx, 1) + at(ctx, 2), 9);
    expect(groupPathQuantileMs(ctx, 1, 20)).toBeCloseTo(before + at(ctx, 1) + at(ctx, 2), 9);
  });
  it("a share exactly at the target is enough: half the requests at 1.3 ms is the median", () => {
    const ctx = context(obs([1.3, 100]));
    expect(groupPathQuantileMs(ctx, 0, 0, 0.5)).toBeCloseTo(at(ctx, 0), 9);
  });
  it("the bracket doubles from the hop (at least 1 ms) until it holds the target; 50 halvings then close in from above", () => {
    // Half at 1.1 ms, half at 100 ms, the median: the bracket is [0, 2] (the share at 2 ms is the
    // target exactly), so the answer is the first point of the grid 2 / 2^50 at or past 1.1 ms.
    const ctx = context(obs([1.1, 100]));
    const x = at(ctx, 0);
    expect(groupPathQuantileMs(ctx, 0, 0, 0.5)).toBe(Math.ceil(x * 2 ** 49) / 2 ** 49);
    // A hop of 3 ms: the bracket [0, 6] holds 3 + 1.1; the grid is 6 / 2^50.
    const h = groupPathQuantileMs(ctx, 0, 3, 0.5);
    expect(h).toBeGreaterThanOrEqual(3 + x);
    expect(h - (3 + x)).toBeLessThan(6 / 2 ** 50 + 1e-15);
  });
  it("a path beyond 1e7 ms is not searched for: the bracket stops at its first doubling at or past 1e7 ms", () => {
    const ctx = context(obs([3e7]));
    // A hop of 1e7 / 2^10 ms doubles onto 1e7 exactly; the path (3e7 ms after it) is past it.
    expect(groupPathQuantileMs(ctx, 0, 1e7 / 1024)).toBe(1e7);
    // A path within reach is found.
    expect(groupPathQuantileMs(context(obs([5e6])), 0, 1e7 / 1024)).toBeCloseTo(5e6 + 1e7 / 1024, 6);
  });
});

describe("PathSampler", () => {
  it("a stage that never ends (an infinite median) keeps every path through it beyond any bound", () => {
    const never = { mu: Number.POSITIVE_INFINITY, sigma: 0 };
    const ten = lognormalFromMedianP99(10, 10);
    const s = new PathSampler([ten, never], [ten, never], 2);
    expect(s.cdf(null, 0, 10.5)).toBe(1);
    expect(s.cdf(null, 1, 1e300)).toBe(0);
    expect(s.cdf(1, 1, 1e300)).toBe(0);
  });
  it("the sample is one fixed Latin-hypercube sample, the same in every controller and release", () => {
    // Two stages of spread (p99 four and two times the median): the sum's CDF at a few points, in
    // draws of PATH_SAMPLES.
    const a = lognormalFromMedianP99(10, 40);
    const b = lognormalFromMedianP99(20, 40);
    const s = new PathSampler([a, b], [b, a], 2);
    const draws = (j: number | null, e: number, x: number) => s.cdf(j, e, x) * PATH_SAMPLES;
    expect([20, 30, 40, 60].map((x) => draws(null, 1, x))).toEqual([125, 899, 1619, 2013]);
    expect([20, 30, 40, 60].map((x) => draws(0, 1, x))).toEqual([121, 900, 1627, 2016]);
  });
});

describe("attainment of a group: requests that exit before it", () => {
  it("a request exiting before the group runs on FaaS: where FaaS misses the SLO there, nothing meets it", () => {
    // 4-ms SLO, stage 0 takes 5 ms on either tier: every path misses.
    const o = obs([5, 10, 30]);
    const ctx = context(o, { slo_ms: 4 });
    const g = evaluateGroup(ctx, o, 1);
    expect(g.attainment).toBe(0);
  });
  it("a request exiting before the group never waits for it; one exiting at its first stage is the group's", () => {
    // 111-ms SLO, stage 0 takes 100 ms: on FaaS a request exiting at 0 (100 ms) or at 1 (110 ms) meets
    // it; through the group's VM (the hop of 20 ms on top) one exiting at 1 misses; at 2 all miss.
    const o = obs([100, 10, 30], [100, 10, 30], [0.5, 0.5, 1], 300);
    const g = evaluateGroup(context(o, { slo_ms: 111 }), o, 1);
    expect(g.waitBudgetMs).toBe(0);
    expect(g.carriedShare).toBeGreaterThan(0);
    expect(g.attainment).toBeCloseTo(0.5 + 0.25 * (1 - g.carriedShare), 12);
  });
});

describe("a group's queue under a load no VM can dent", () => {
  it("slots full at every rate point carry nothing and wait for nothing: the bill is FaaS-only's, no NaN", () => {
    // 1e20 requests per second: every VM's slots and queue are always full (blocking rounds to 1);
    // vm.min holds one VM, which carries none of it.
    for (const prices of ["workers", "lambda"]) {
      const o = { ...obs([5, 10, 30], [5, 10, 30], [0.5, 0.5, 1], 1e20), vms: { running: 1, booting: 0 } };
      const p = plan(initialPolicyState(), o, groupConfig({ prices }, { min: 1 }), 600).plan;
      expect(p.desiredVms).toBe(1);
      expect(p.stages.map((s) => s.vmShare)).toEqual([0, 0, 0]);
      expect(p.expectedCostUsdPerHour.faasUsdPerHour).toBe(p.expectedCostUsdPerHour.faasOnlyUsdPerHour);
    }
  });
});

describe("a group's late requests", () => {
  it("a request is late only when its wait outlives the budget: a budget of 40 service times, past any wait the queue holds, leaves none", () => {
    // Lambda bills a late request's wait. 1-s budget (queue_ms, the SLO is 10 s), 25 ms of VM work per
    // request reaching stage 1, 8 queue places per slot: a full queue clears in 8 service times.
    const o = obs([5, 10, 30], [15, 30, 90], [0.5, 0.5, 1], 300);
    const ctx = context(o, { prices: "lambda", faas_deep: "separate" }, { queue_ms: 1000 });
    const long = evaluateGroup(ctx, o, 1);
    expect(long.waitBudgetMs).toBe(1000);
    expect(long.wantedVms).toBeGreaterThan(0);
    expect(long.carriedShare).toBeLessThan(1);
    // The bill: VMs, FaaS-only, hand-over fees, less what the carried save net of their wait; no late term.
    const { mean } = ctx.load.dist;
    const carriedRps = long.carriedShare * mean * 0.5;
    const bill =
      (long.wantedVms * 0.05) / 3600 +
      ctx.faasOnlyPerS +
      mean * long.penaltyUsd -
      carriedRps * (long.savingUsd / 0.5 - faasWaitUsd(LAMBDA_PRICES, long.meanWaitMs));
    expect(long.costUsdPerS).toBeCloseTo(bill, 15);
  });
});
