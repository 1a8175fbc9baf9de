// Evaluating, choosing and holding a VM group, rule by rule, on loads whose answer follows by hand:
// stage times without spread (p99 = median), so a path's latency and a group's moments are sums.
import { describe, expect, it } from "vitest";
import {
  burstConfig,
  burstObs,
  flat,
  groupConfig,
  INPUT_BYTES,
  STATE_BYTES,
  spreadMs,
  threeStages,
} from "./fixtures.js";
import { faasComputeUsd, faasRequestUsd, faasWaitUsd, LAMBDA_PRICES, WORKERS_PRICES } from "./cost.js";
import {
  boundedQueue,
  CALL_RATIO_MAX,
  chooseGroup,
  erlangB,
  evaluateGroup,
  faasAttainment,
  groupPathCdf,
  groupPathQuantileMs,
  holdForScaleDown,
  initialPolicyState,
  type GroupEval,
  lateShare,
  type Observations,
  type Option,
  plan,
  type PlanContext,
  planContext,
  type PolicyState,
  QUEUE_ADMIT_SHARE,
  QUEUE_PLACES_PER_SLOT,
  readLoad,
  startFactor,
} from "./policy.js";

const VM_USD_PER_S = 0.05 / 3600;
const SLOTS = 2; // groupConfig's vm.concurrency
const obs = threeStages;
const group = (o: Observations, cfg: ReturnType<typeof groupConfig>, j: number, state = initialPolicyState()) => {
  const ctx = planContext(state, o, cfg);
  return { ctx, g: evaluateGroup(ctx, o, j) };
};
// Work of the group from stage 1 per arriving request (s): 0.5 x 10 ms + 0.25 x 30 ms.
const WORK_1_S = 0.5 * 0.01 + 0.25 * 0.03;
// Worker -> VM -> Worker: two transfers of 10 ms and the hidden state at 100 MB/s (config defaults).
const hop = (bytes: number) => 2 * 10 + (bytes / 100e6) * 1000;

// The group's queue over the rate points, from Erlang-B and M/M/c/K: entry requests per second carried
// and late (waited the whole budget), and the mean wait (ms) of those carried.
function queueByHand(ctx: PlanContext, g: GroupEval, reachJ: number) {
  const n = g.wantedVms;
  const meanS = g.workS / reachJ;
  let carriedRps = 0;
  let lateRps = 0;
  let waitedS = 0;
  ctx.load.dist.rates.forEach((rate, b) => {
    const w = ctx.load.dist.weights[b];
    const a = rate * g.workS;
    const E = erlangB(a, n * SLOTS)[n * SLOTS];
    const q = boundedQueue(E, a, n * SLOTS, n * g.queuePerVm);
    const late = Math.min(q.blocked, lateShare(E, a, n * SLOTS, n * g.queuePerVm, g.waitBudgetMs / 1000 / meanS));
    carriedRps += w * rate * (1 - q.blocked);
    lateRps += w * rate * late;
    waitedS += w * rate * (1 - q.blocked) * q.waitS * meanS;
  });
  return { carriedRps, lateRps, waitMs: (waitedS / carriedRps) * 1000 };
}

describe("planContext and the paths", () => {
  it("exit shares: the last stage takes every request left; others are clamped to 0..1, a missing one is 0", () => {
    const o = obs(flat(10, 600), [5, 5, 5, 5], [5, 5, 5, 5], [Number.NaN, -0.2, 1.5, 0.3]);
    const ctx = planContext(initialPolicyState(), o, groupConfig());
    expect(ctx.r).toEqual([1, 1, 1, 0]);
    expect(ctx.pExit).toEqual([0, 0, 1, 0]);
    const last = planContext(initialPolicyState(), obs(flat(10, 600), [5, 5], [5, 5], [0.5, 0.3]), groupConfig());
    expect(last.pExit).toEqual([0.5, 0.5]);
  });
  it("a request whose latency equals the SLO meets it; a stage that takes no time adds nothing", () => {
    // 4 + 32 ms on FaaS (exact in binary through exp(log x)), the SLO exactly their sum.
    const at = (slo: number, ms: number[]) =>
      faasAttainment(
        planContext(initialPolicyState(), obs(flat(10, 600), ms, ms, [0.5, 0.5, 1]), groupConfig({ slo_ms: slo })),
      );
    expect(at(36, [4, 32, 0])).toBe(1);
    expect(at(35.999, [4, 32, 0])).toBe(0.5);
    expect(at(4, [4, 32, 0])).toBe(0.5);
    expect(at(3.999, [4, 32, 0])).toBe(0);
  });
});

describe("evaluateGroup: the group's work, hop, wait budget and queue", () => {
  it("work is the VM time of the stages from j weighted by their reach; the hop moves the state", () => {
    const o = obs(flat(100, 600));
    const { g } = group(o, groupConfig(), 1);
    expect(g.reachable).toBe(true);
    expect(g.workS).toBeCloseTo(WORK_1_S, 12);
    expect(g.hopMs).toBeCloseTo(hop(STATE_BYTES), 9);
    // From stage 0 the Worker entry hands the request's input over; a router gives it to the VM itself.
    expect(group(o, groupConfig(), 0).g.hopMs).toBeCloseTo(hop(INPUT_BYTES), 9);
    expect(group(o, groupConfig({ entry: "router" }), 0).g.hopMs).toBe(0);
    expect(group(o, groupConfig({ entry: "router" }), 1).g.hopMs).toBeCloseTo(hop(STATE_BYTES), 9);
  });
  it("the queue per VM holds the places the router fills within the admission limit, fewer where the work is spread wide", () => {
    // The router joins a full VM while the places ahead / slots x the mean time fit the admission limit
    // (here the whole 100-ms budget: queue_ms, the SLO is loose). Of the requests reaching stage 1, half
    // take 10 ms and half 40 ms: mean 25 ms, 100 ms x 2 slots / 25 ms = 8 places (M/G/c's correction,
    // CV^2 = 0.36, would allow 11: the router never fills them).
    const o = obs(flat(100, 600));
    const { g } = group(o, groupConfig(), 1);
    expect(g.waitBudgetMs).toBe(100);
    expect(g.admitWaitMs).toBe(100);
    expect(g.queuePerVm).toBe(Math.floor((0.1 * SLOTS) / 0.025)); // 8
    // Without the exit mix (every request reaching 1 goes on to 2: 40 ms each): 5.
    const deep = obs(flat(100, 600), [5, 10, 30], [5, 10, 30], [0.5, 0, 1]);
    expect(group(deep, groupConfig(), 1).g.queuePerVm).toBe(Math.floor((0.1 * SLOTS) / 0.04)); // 5
    // A group of one stage (30 ms mean) whose p99 is ten times its median: CV^2 = exp(sigma^2) - 1 = 1.66,
    // and the wait of M/G/c grows with (1 + CV^2) / 2: 5 places, where the router would fill 6.
    const sigma = Math.log(10) / 2.326347874040841;
    const spread = obs(flat(100, 600), [5, 10, 30], [5, 10, 30]);
    spread.stages[2].vmMs = { mean: 30, p50: 30, p95: 150, p99: 300 };
    const wide = group(spread, groupConfig(), 2).g.queuePerVm;
    expect(wide).toBe(Math.floor((0.1 * SLOTS * 2) / (0.03 * Math.exp(sigma ** 2)))); // 5
    expect(wide).toBeLessThan(Math.floor((0.1 * SLOTS) / 0.03));
    // A median that reads 0 (under a millisecond) is missing: the mean stands in (p99 ten times it).
    const tiny = obs(flat(100, 600), [5, 10, 30]);
    tiny.stages[2].vmMs = { mean: 0.4, p50: 0, p95: 2, p99: 4 };
    expect(group(tiny, groupConfig({}, { queue_ms: 1 }), 2).g.queuePerVm).toBe(
      Math.floor((0.001 * SLOTS * 2) / (0.0004 * Math.exp(sigma ** 2))), // 3, where the router would fill 5
    );
    // A long budget fills the queue to its places per slot, no further.
    expect(group(o, groupConfig({}, { queue_ms: 1000 }), 1).g.queuePerVm).toBe(QUEUE_PLACES_PER_SLOT * SLOTS);
  });
  it("counts a queue place at the VMs' reported call time, as the router admits by it", () => {
    // The group from 1 (25 ms a call on average, 100 ms to admit over 2 slots): 8 places at the mean.
    // Its VMs report 40 ms a place (long calls hold slots while short ones wait): the router admits
    // while places x 40 / 2 <= 100, so 5 places.
    const inForce = (j: number | null) => ({ ...initialPolicyState(), vmGroupStart: j, desiredVms: 2 });
    const reported = (callMs?: number) => {
      const o = obs(flat(100, 600));
      o.vms = { running: 2, booting: 0, callMs };
      return o;
    };
    expect(group(reported(), groupConfig(), 1, inForce(1)).g.queuePerVm).toBe(8);
    const { ctx, g } = group(reported(40), groupConfig(), 1, inForce(1));
    expect(ctx.callRatio).toBeCloseTo(40 / 25, 9);
    expect(g.queuePerVm).toBe(Math.floor((0.1 * SLOTS) / 0.04)); // 5
    // The report is of the calls the group in force makes: from stage 2 (30 ms), 60 ms is 2x, and the
    // group from 1 is counted at 2 x 25 ms a place.
    expect(group(reported(60), groupConfig(), 1, inForce(2)).g.queuePerVm).toBe(Math.floor((0.1 * SLOTS) / 0.05)); // 4
    // Without a group in force no VM's report is of these calls; a report past CALL_RATIO_MAX is stale.
    expect(group(reported(40), groupConfig(), 1, inForce(null)).g.queuePerVm).toBe(8);
    expect(group(reported(1000), groupConfig(), 1, inForce(1)).ctx.callRatio).toBe(CALL_RATIO_MAX);
    // The plan says what it counted (here for the group from 0, which it chooses).
    expect(plan(inForce(1), reported(40), groupConfig(), 0).plan.reason).toContain(
      "places per VM, where the VMs report a place as 1.60x a mean call",
    );
  });
  it("the wait budget leaves a request whose wait ran out time to finish on FaaS, unless FaaS misses anyway", () => {
    // VM path of a request reaching 1: 5 (stage 0 on the Worker) + hop + 40. On FaaS after the round
    // trip it spent: 5 + hop + 20 + 60.
    const o = obs(flat(100, 600), [5, 10, 30], [5, 20, 60]);
    const vmPath = 5 + hop(STATE_BYTES) + 40;
    const faasPath = 5 + hop(STATE_BYTES) + 80;
    expect(group(o, groupConfig({ slo_ms: 150 }), 1).g.waitBudgetMs).toBeCloseTo(150 - faasPath, 5);
    expect(group(o, groupConfig({ slo_ms: 100 }), 1).g.waitBudgetMs).toBeCloseTo(100 - vmPath, 5);
    // At most queue_ms, and never below 0.
    expect(group(o, groupConfig({ slo_ms: 1000 }, { queue_ms: 30 }), 1).g.waitBudgetMs).toBe(30);
    expect(group(o, groupConfig({ slo_ms: 50 }), 1).g.waitBudgetMs).toBe(0);
  });
  it("all of the SLO's slack where that costs less than leaving a timeout room on FaaS: half of it admitted", () => {
    // SLO 120: the room for FaaS leaves 120 - 105 = 15 ms (all admitted); all the slack is 120 - 65 =
    // 55 ms, of which the router admits 27.5 (a timeout misses the SLO): more requests reach the VM.
    const o = obs(flat(100, 600), [5, 10, 30], [5, 20, 60]);
    const vmPath = 5 + hop(STATE_BYTES) + 40;
    const faasPath = 5 + hop(STATE_BYTES) + 80;
    const { g } = group(o, groupConfig({ slo_ms: 120 }), 1);
    expect(g.narrowBudgetMs).toBeCloseTo(120 - faasPath, 5);
    expect(g.waitBudgetMs).toBeCloseTo(120 - vmPath, 5);
    expect(g.admitWaitMs).toBeCloseTo((120 - vmPath) * QUEUE_ADMIT_SHARE, 5);
    expect(g.attainment).toBeGreaterThanOrEqual(0.99);
    // The narrow budget alone (queue_ms holds it there) carries less and costs more.
    const narrow = group(o, groupConfig({ slo_ms: 120 }, { queue_ms: 120 - faasPath }), 1).g;
    expect(narrow.narrowBudgetMs).toBeUndefined();
    expect(narrow.carriedShare).toBeLessThan(g.carriedShare);
    expect(narrow.costUsdPerS).toBeGreaterThan(g.costUsdPerS);
    expect(plan(initialPolicyState(), o, groupConfig({ slo_ms: 120 }), 600).plan.reason).toContain(
      "(SLO minus the path's p99 without waiting: all the slack, cheaper than the 15 ms that leave a timed-out request time on FaaS;",
    );
    // SLO 150: half of the slack (42.5 ms) admits less than the 45 ms room for FaaS, all admitted.
    expect(group(o, groupConfig({ slo_ms: 150 }), 1).g.narrowBudgetMs).toBeUndefined();
  });
  it("where the VM path misses the SLO at its p99, a wait up to its quantile at FaaS's own chance, where cheaper and no worse", () => {
    // One stage behind a router: VM 10 ms (p99 20), FaaS 30 ms (p99 60), SLO 18 ms. Neither path meets
    // it at its p99, so the budget that leaves room for either is 0 (queue_ms 0 holds it there).
    const o = burstObs(flat(200, 600), spreadMs(10), spreadMs(30));
    const cfg = (queueMs: number) => ({ ...burstConfig(18), vm: { ...burstConfig(18).vm, queueMs } });
    const zero = group(o, cfg(0), 0).g;
    const { ctx, g } = group(o, cfg(100), 0);
    expect(groupPathQuantileMs(ctx, 0, 0)).toBeGreaterThan(18);
    expect(zero.waitBudgetMs).toBe(0);
    expect(zero.evenChance).toBeUndefined();
    // A request still beats FaaS after waiting while the VM's chance within what is left is FaaS's.
    const faasChance = groupPathCdf(ctx, 0, 0, 18, true);
    expect(faasChance).toBeGreaterThan(0.01);
    expect(faasChance).toBeLessThan(0.1);
    expect(g.evenChance).toBe(faasChance);
    expect(g.waitBudgetMs).toBeCloseTo(18 - groupPathQuantileMs(ctx, 0, 0, faasChance), 9);
    expect(groupPathCdf(ctx, 0, 0, 18 - g.waitBudgetMs)).toBeCloseTo(faasChance, 6);
    // Here it costs less on the same VMs and attains more: the queue keeps requests a full VM turned away.
    expect(g.wantedVms).toBe(zero.wantedVms);
    expect(g.costUsdPerS).toBeLessThan(zero.costUsdPerS);
    expect(g.attainment).toBeGreaterThan(zero.attainment);
    expect(plan(initialPolicyState(), o, cfg(100), 600).plan.reason).toContain(
      "(the path's p99 without waiting misses the SLO: SLO minus its 4.3% quantile, FaaS's own chance within it;",
    );
    // Where the VM path meets the SLO at its p99, the budget is the slack, as above.
    expect(group(o, { ...cfg(100), sloMs: 25 }, 0).g.evenChance).toBeUndefined();
  });
  it("a group whose stages take no measured time is no group (before any timing arrives)", () => {
    const o = obs(flat(100, 600), [0, 0, 0]);
    for (const entry of ["worker", "router"]) {
      const { g } = group(o, groupConfig({ entry }), 0);
      expect(g.reachable).toBe(false);
      expect(g.wantedVms).toBe(0);
    }
  });
  it("a group no request reaches is neither reachable nor feasible, and says so", () => {
    const o = obs(flat(100, 600), [5, 10, 30], [5, 10, 30], [1, 0.5, 1]);
    const { g } = group(o, groupConfig(), 1);
    expect(g.reachable).toBe(false);
    expect(g.feasible).toBe(false);
    expect(g.why).toBe("no request reaches stage 1");
  });
});

describe("evaluateGroup: what a VM saves per request, per price preset and entry", () => {
  const o = obs(flat(100, 600));
  const ms1 = [10, 30]; // stages 1 and 2
  const reach1 = [0.5, 0.25];
  const compute = (p: typeof WORKERS_PRICES) => ms1.reduce((s, m, i) => s + reach1[i] * faasComputeUsd(p, m), 0);
  const uStar = (workS: number, saving: number) => (VM_USD_PER_S / SLOTS) * (workS / saving);

  it("Workers, deep stages inline: the deep stages' CPU; separate: their invocation's fee too, paid back when not carried", () => {
    const inline = group(o, groupConfig(), 1).g;
    expect(inline.savingUsd).toBeCloseTo(compute(WORKERS_PRICES), 18);
    expect(inline.penaltyUsd).toBe(0);
    expect(inline.uStar).toBeCloseTo(uStar(WORK_1_S, inline.savingUsd), 9);
    const separate = group(o, groupConfig({ faas_deep: "separate" }), 1).g;
    const fee = faasRequestUsd(WORKERS_PRICES) * 0.5;
    expect(separate.savingUsd).toBeCloseTo(fee + compute(WORKERS_PRICES), 18);
    expect(separate.penaltyUsd).toBeCloseTo(fee, 18);
  });
  it("a priced transfer of the hidden state is taken off the saving of every request reaching the group", () => {
    const g = group(o, groupConfig({ transfer_usd_per_gb: 0.09 }), 1).g;
    expect(g.savingUsd).toBeCloseTo(compute(WORKERS_PRICES) - 0.5 * ((STATE_BYTES * 0.09) / 1e9), 18);
  });
  it("Lambda bills the prefix while it waits for the VM: the hop and the group's mean time", () => {
    const g = group(o, groupConfig({ prices: "lambda", faas_deep: "separate" }), 1).g;
    const wait = faasWaitUsd(LAMBDA_PRICES, hop(STATE_BYTES) + 25);
    expect(g.savingUsd).toBeCloseTo(faasRequestUsd(LAMBDA_PRICES) * 0.5 + compute(LAMBDA_PRICES) - 0.5 * wait, 18);
    // Inline, the wait costs more than the deep stages' compute: no VM saves anything from stage 1.
    const inline = group(o, groupConfig({ prices: "lambda" }), 1);
    expect(inline.g.savingUsd).toBeLessThanOrEqual(0);
    expect(inline.g.feasible).toBe(false);
    expect(inline.g.why).toBe("a VM saves nothing per request there");
    expect(inline.g.attainment).toBe(faasAttainment(inline.ctx));
  });
  it("from the Worker entry a group from stage 0 saves the stages' compute, not the invocation the Worker is", () => {
    for (const faas_deep of ["inline", "separate"]) {
      const g = group(o, groupConfig({ faas_deep }), 0).g;
      expect(g.savingUsd).toBeCloseTo(faasComputeUsd(WORKERS_PRICES, 5) + compute(WORKERS_PRICES), 18);
      expect(g.penaltyUsd).toBe(0);
    }
  });
  it("behind a router a group from stage 0 saves the whole invocation and waits for nothing", () => {
    for (const prices of ["workers", "lambda"] as const) {
      const p = prices === "workers" ? WORKERS_PRICES : LAMBDA_PRICES;
      const g = group(o, groupConfig({ prices, entry: "router" }), 0).g;
      const all = faasComputeUsd(p, 5) + compute(p);
      expect(g.savingUsd).toBeCloseTo(faasRequestUsd(p) + all, 18);
      expect(g.workS).toBeCloseTo(0.005 + WORK_1_S, 12);
      expect(g.uStar).toBeCloseTo(uStar(0.005 + WORK_1_S, g.savingUsd), 9);
    }
  });
});

describe("evaluateGroup: the bill and the count", () => {
  it("the bill: VMs + FaaS-only + hand-over fees - carried savings + Lambda's waits (carried: the mean; late: the budget)", () => {
    // Lambda, deep stages in an invocation of their own, FaaS three times slower than the VM.
    const cfg = groupConfig({ prices: "lambda", faas_deep: "separate", slo_ms: 300 });
    const o = obs(flat(300, 600), [5, 10, 30], [15, 30, 90]);
    const { ctx, g } = group(o, cfg, 1);
    const n = g.wantedVms;
    expect(n).toBe(2);
    const { carriedRps, lateRps, waitMs } = queueByHand(ctx, g, 0.5);
    const { mean } = ctx.load.dist;
    expect(g.carriedShare).toBeCloseTo(carriedRps / mean, 12);
    expect(g.meanWaitMs).toBeCloseTo(waitMs, 9);
    expect(lateRps).toBeGreaterThan(0);
    const perReach = g.savingUsd / 0.5;
    const bill =
      n * VM_USD_PER_S +
      ctx.faasOnlyPerS +
      mean * g.penaltyUsd -
      carriedRps * 0.5 * (perReach - faasWaitUsd(LAMBDA_PRICES, waitMs)) +
      lateRps * 0.5 * faasWaitUsd(LAMBDA_PRICES, g.waitBudgetMs + g.hopMs);
    expect(g.costUsdPerS).toBeCloseTo(bill, 15);
    // Each VM beats break-even, yet the hand-over fee of the overflow and the waits leave the group
    // dearer than all on FaaS: it says so.
    expect(g.costUsdPerS).toBeGreaterThanOrEqual(ctx.faasOnlyPerS);
    expect(g.why).toMatch(/^2 VM\(s\) would cost \$[\d.]+\/h, not less than \$[\d.]+\/h all on FaaS$/);
    // On Workers the same group is cheaper than FaaS-only and has nothing to explain.
    const workers = group(o, groupConfig({ faas_deep: "separate", slo_ms: 300 }), 1);
    expect(workers.g.wantedVms).toBeGreaterThan(0);
    expect(workers.g.costUsdPerS).toBeLessThan(workers.ctx.faasOnlyPerS);
    expect(workers.g.why).toBe("");
  });
  it("attainment: a carried request meets the SLO when its path does; a late one waited its budget, then ran on FaaS", () => {
    // Lambda as above, SLO 120 ms: all on FaaS a request going to stage 2 takes 135 ms (a miss), on the
    // VM 15 + hop + 40 + its wait; one reaching only stage 1 meets it on either tier, late included.
    const slow = obs(flat(300, 600), [5, 10, 30], [15, 30, 90]);
    const a = group(slow, groupConfig({ prices: "lambda", faas_deep: "separate", slo_ms: 120 }), 1).g;
    expect(a.waitBudgetMs).toBeCloseTo(120 - (15 + hop(STATE_BYTES) + 40), 5);
    expect(15 + hop(STATE_BYTES) + 40 + a.meanWaitMs).toBeLessThan(120);
    expect(a.carriedShare).toBeLessThan(1);
    expect(a.attainment).toBeCloseTo(0.5 + 0.25 + 0.25 * a.carriedShare, 9);
    // SLO 70 ms, stage 1 slow on FaaS (60 ms): a request exiting at 1 meets it only on the VM (45 ms);
    // one going to 2 misses it on both. No wait (queue_ms 0; a wait where the VM path misses the SLO is
    // tested above).
    const b = group(obs(flat(300, 600), [5, 10, 30], [15, 60, 90]), groupConfig({ slo_ms: 70 }, { queue_ms: 0 }), 1).g;
    expect(b.waitBudgetMs).toBe(0);
    expect(b.carriedShare).toBeGreaterThan(0);
    expect(b.attainment).toBeCloseTo(0.5 + 0.25 * b.carriedShare, 9);
  });
  it("attainment with spread: the path's distribution at the SLO less the hop and the mean wait (late: the budget)", () => {
    // p99 twice the median on every stage, a queue to wait in: each term read from the path sampler.
    const spread = (m: number) => ({ mean: m, p50: m, p95: 1.6 * m, p99: 2 * m });
    const o: Observations = {
      ...obs(flat(300, 600)),
      stages: [5, 10, 30].map((m, i) => ({
        exitFraction: [0.5, 0.5, 1][i],
        vmMs: spread(m),
        faasMs: spread(3 * m),
        stateBytes: STATE_BYTES,
      })),
    };
    const slo = 150;
    const { ctx, g } = group(o, groupConfig({ slo_ms: slo }), 1);
    expect(g.wantedVms).toBeGreaterThan(0);
    expect(g.waitBudgetMs).toBeGreaterThan(0);
    const { carriedRps, lateRps, waitMs } = queueByHand(ctx, g, 0.5);
    const share = carriedRps / ctx.load.dist.mean;
    const late = lateRps / ctx.load.dist.mean;
    expect(late).toBeGreaterThan(0);
    let a = ctx.pExit[0] * ctx.paths.cdf(null, 0, slo);
    for (const e of [1, 2])
      a +=
        ctx.pExit[e] *
        (share * ctx.paths.cdf(1, e, slo - g.hopMs - waitMs) +
          late * ctx.paths.cdf(null, e, slo - g.hopMs - g.waitBudgetMs) +
          (1 - share - late) * ctx.paths.cdf(null, e, slo));
    expect(g.attainment).toBeCloseTo(a, 12);
  });
  it("at no load a group wants no VM and carries nothing", () => {
    const g = group(obs(flat(0, 600)), groupConfig(), 1).g;
    expect(g.wantedVms).toBe(0);
    expect(g.carriedShare).toBe(0);
    expect(g.meanWaitMs).toBe(0);
  });
  it("the count stops at vm.max, where no next VM is weighed; below it the next VM would not pay", () => {
    const o = obs(flat(2000, 600));
    const capped = group(o, groupConfig({}, { max: 1 }), 1).g;
    expect(capped.wantedVms).toBe(1);
    expect(capped.nextUtil).toBe(0);
    expect(capped.lastUtil).toBeGreaterThan(capped.uStar);
    const free = group(o, groupConfig(), 1).g;
    expect(free.wantedVms).toBeGreaterThan(1);
    expect(free.wantedVms).toBeLessThan(50);
    expect(free.nextUtil).toBeGreaterThan(0);
    expect(free.nextUtil).toBeLessThan(free.uStar * 2);
    expect(free.lastUtil).toBeGreaterThan(free.nextUtil);
  });
  it("a group no VM pays for is feasible, wants none, and leaves the reason to the break-even", () => {
    const g = group(obs(flat(1, 600)), groupConfig(), 1).g;
    expect(g.feasible).toBe(true);
    expect(g.wantedVms).toBe(0);
    expect(g.why).toBe("");
    expect(g.nextUtil).toBeLessThan(g.uStar);
  });
  it("VMs beyond those running are started only for the load still here; those running are kept", () => {
    // The last 16 s run 2% below the window (a fall within its noise, not a drop): the window weighs the
    // older level, the last seconds do not.
    const o = obs([...flat(20_000, 600), ...flat(19_600, 16), 0]);
    const cfg = groupConfig({}, { max: 400 });
    const load = readLoad(o, cfg);
    expect(load.startDist.mean).toBe(19_600);
    const at = (running: number, which: "cost" | "start" | "both") => {
      const ctx = planContext({ ...initialPolicyState(), desiredVms: running }, o, cfg);
      const l = ctx.load;
      const view =
        which === "cost" ? { ...l, startDist: l.costDist } : which === "start" ? { ...l, costDist: l.startDist } : l;
      return evaluateGroup({ ...ctx, load: view }, o, 1).wantedVms;
    };
    const byWindow = at(0, "cost");
    const byNow = at(0, "start");
    expect(byNow).toBeLessThan(byWindow);
    // Cold: the load still here decides.
    expect(at(0, "both")).toBe(byNow);
    // Running more than the load still here wants (fewer than the window does): kept, none started.
    const running = byNow + 1;
    expect(running).toBeLessThan(byWindow);
    expect(at(running, "both")).toBe(running);
    // Running exactly what the load still here wants: that count, judged on that load.
    const ctxAt = (r: number) => planContext({ ...initialPolicyState(), desiredVms: r }, o, cfg);
    const exactly = evaluateGroup(ctxAt(byNow), o, 1);
    const l = ctxAt(byNow).load;
    const nowOnly = evaluateGroup({ ...ctxAt(byNow), load: { ...l, costDist: l.startDist } }, o, 1);
    expect(exactly.wantedVms).toBe(byNow);
    expect(exactly.lastUtil).toBe(nowOnly.lastUtil);
    // Running at least what the window wants: the window decides.
    expect(at(byWindow + 2, "both")).toBe(at(byWindow + 2, "cost"));
  });
});

describe("startFactor", () => {
  const cfg = groupConfig(); // boot 60 s, window 600 s, scale-down delay 300 s
  const load = (shift: { levelRps: number; lastedS: number } | null) => ({
    ...readLoad(obs(flat(10, 600)), cfg),
    shift,
  });
  it("without a shift a VM repays its boot over the longer of the window and the delay", () => {
    expect(startFactor(load(null), cfg)).toBeCloseTo(1 + 60 / 600, 12);
    const shortWindow = groupConfig({ window_s: 200 });
    expect(startFactor(load(null), shortWindow)).toBeCloseTo(1 + 60 / 300, 12);
  });
  it("under a shift lasted a seconds: E = a^2 (1/(a+b) - 1/(a+W)) served, the delay held with chance (a/(a+b))^2", () => {
    for (const a of [1, 40, 600]) {
      const served = a * a * (1 / (a + 60) - 1 / (a + 600));
      const held = (a / (a + 60)) ** 2;
      expect(startFactor(load({ levelRps: 100, lastedS: a }), cfg)).toBeCloseTo(1 + (60 + 300 * held) / served, 9);
    }
    // An age of 0 counts as 1 s.
    expect(startFactor(load({ levelRps: 100, lastedS: 0 }), cfg)).toBe(
      startFactor(load({ levelRps: 100, lastedS: 1 }), cfg),
    );
  });
});

describe("chooseGroup", () => {
  const FAAS_PER_S = 100; // the keep margin is 1% of it: 1
  const opt = (start: number | null, vms: number, costUsdPerS: number, attainment: number): Option => ({
    group: start === null ? null : ({ start } as Option["group"]),
    vms,
    costUsdPerS,
    attainment,
  });
  const faas = (attainment: number) => opt(null, 0, FAAS_PER_S, attainment);
  const startOf = (o: Option) => o.group?.start ?? null;

  it("the cheapest option that meets the target, exactly at it included; at equal cost the first", () => {
    const options = [faas(0.95), opt(1, 3, 60, 0.99), opt(2, 2, 50, 0.989), opt(3, 2, 60, 0.995)];
    expect(startOf(chooseGroup(options, null, FAAS_PER_S, 0.99))).toBe(1);
    expect(startOf(chooseGroup(options, null, FAAS_PER_S, 0.989))).toBe(2);
  });
  it("the current group is kept unless another is more than 1% of FaaS-only cheaper", () => {
    const at = (curCost: number) =>
      startOf(chooseGroup([faas(0.9), opt(1, 2, 50, 0.995), opt(2, 2, curCost, 0.995)], 2, FAAS_PER_S));
    expect(at(51)).toBe(2);
    expect(at(51.01)).toBe(1);
    // Not kept when it would run no VM, nor when it does not meet the target while another does.
    expect(startOf(chooseGroup([faas(0.9), opt(1, 2, 50, 0.995), opt(2, 0, 50.5, 0.995)], 2, FAAS_PER_S))).toBe(1);
    expect(startOf(chooseGroup([faas(0.9), opt(1, 2, 50, 0.995), opt(2, 2, 50.5, 0.98)], 2, FAAS_PER_S))).toBe(1);
  });
  it("when none meets the target: the best attainment, the cheaper within a tie of 0.1 point", () => {
    const a = opt(1, 2, 80, 0.95);
    const pick = (b: Option) => startOf(chooseGroup([faas(0.9), a, b], null, FAAS_PER_S));
    expect(pick(opt(2, 3, 90, 0.9515))).toBe(2); // better by more than the tie
    expect(pick(opt(2, 3, 90, 0.9505))).toBe(1); // a tie: the cheaper
    expect(pick(opt(2, 1, 70, 0.9495))).toBe(2); // a tie the other way: the cheaper
    expect(pick(opt(2, 1, 70, 0.948))).toBe(1); // worse by more than the tie
  });
  it("when none meets the target, the current group is kept within the cost margin only at a tied attainment", () => {
    const best = opt(1, 2, 80, 0.96);
    const pick = (cur: Option) => startOf(chooseGroup([faas(0.9), best, cur], 2, FAAS_PER_S));
    expect(pick(opt(2, 2, 80.5, 0.9595))).toBe(2);
    expect(pick(opt(2, 2, 80.5, 0.958))).toBe(1);
    expect(pick(opt(2, 2, 82, 0.9599))).toBe(1);
  });
  it("ties are exact: an attainment one tie above is a tie (the cheaper wins); equal on both, the first", () => {
    // lo + 0.001 is exactly one tie above lo in floating point.
    const lo = 0.002;
    const hi = lo + 1e-3;
    const pick = (...options: Option[]) => startOf(chooseGroup(options, null, FAAS_PER_S));
    expect(pick(opt(1, 2, 80, lo), opt(2, 3, 90, hi))).toBe(1);
    expect(pick(opt(1, 2, 80, lo), opt(2, 1, 70, hi))).toBe(2);
    expect(pick(opt(1, 2, 80, 0.95), opt(2, 2, 80, 0.95))).toBe(1);
    // The current group one tie below the best is kept (within the cost margin).
    expect(startOf(chooseGroup([opt(1, 2, 80, hi), opt(2, 2, 80.5, lo)], 2, FAAS_PER_S))).toBe(2);
  });
  it("when options meet the target, the current group is kept within the margin whatever its attainment above it", () => {
    const options = [faas(0.9), opt(1, 2, 50, 0.999), opt(2, 2, 50.5, 0.991)];
    expect(startOf(chooseGroup(options, 2, FAAS_PER_S))).toBe(2);
  });
  it("keeping the current group never swaps the chosen option for another of the same group", () => {
    // The group sized for the SLO listed before its cost-optimal size: the cheaper, tied one is chosen.
    const sized = opt(1, 3, 80.5, 0.9505);
    const optimal = opt(1, 2, 80, 0.95);
    expect(chooseGroup([faas(0.9), sized, optimal], 1, FAAS_PER_S)).toBe(optimal);
  });
  it("never one that is worse on both cost and attainment", () => {
    const options = [faas(0.97), opt(1, 4, 120, 0.96), opt(2, 2, 90, 0.975)];
    const chosen = chooseGroup(options, 1, FAAS_PER_S);
    for (const o of options) expect(o.costUsdPerS < chosen.costUsdPerS && o.attainment > chosen.attainment).toBe(false);
    expect(startOf(chosen)).toBe(2);
  });
});

describe("hysteresis and a state from elsewhere", () => {
  it("a count wanted in the future (a clock that went back) is not held", () => {
    expect(holdForScaleDown([[105, 9]], 100, 2, 300).held).toBe(2);
    expect(holdForScaleDown([[100, 9]], 100, 2, 300).held).toBe(9);
  });
  const o = obs(flat(500, 600));
  const cfg = groupConfig();
  const fresh = plan(initialPolicyState(), o, cfg, 600);
  it("a state of another version restarts the hysteresis and keeps a valid count", () => {
    const held: PolicyState = { ...initialPolicyState(), wanted: [[590, 40]] };
    expect(plan(held, o, cfg, 600).plan.desiredVms).toBe(40);
    for (const bad of [
      { ...held, version: 0 },
      { ...held, wanted: "40" },
      { wanted: [[590, 40]], desiredVms: 3 },
    ]) {
      const out = plan(bad as unknown as PolicyState, o, cfg, 600);
      expect(out.plan.desiredVms).toBe(fresh.plan.desiredVms);
      expect(out.state.version).toBe(1);
      expect(out.state.wanted).toEqual([[600, fresh.plan.targetVms]]);
    }
  });
  it("no state at all is a first tick", () => {
    for (const none of [null, undefined]) {
      const out = plan(none as unknown as PolicyState, o, cfg, 600);
      expect(out.plan).toEqual(fresh.plan);
      expect(out.state).toEqual(fresh.state);
    }
  });
  it("the count of an older state is the VMs running: no boot to repay below it", () => {
    const cold = fresh.plan.targetVms;
    const warm = (desiredVms: unknown) =>
      plan({ version: 0, desiredVms } as unknown as PolicyState, o, cfg, 600).plan.targetVms;
    expect(warm(50)).toBe(cold + 1);
    // The last VM running is judged without the boot to repay too.
    expect(warm(cold + 1)).toBe(cold + 1);
    expect(warm(Number.NaN)).toBe(cold);
    expect(warm("50")).toBe(cold);
    expect(warm(null)).toBe(cold);
  });
  it("an SLO budget with a number that is not finite is dropped; a valid one is carried on", () => {
    const rps = readLoad(o, cfg).dist.mean;
    const periodRequests = rps * cfg.controlPeriodS;
    const valid = { ...initialPolicyState(), slo: { requests: 1000, within: 995, atS: 600 } };
    expect(plan(valid, o, cfg, 600).state.slo?.requests).toBeCloseTo(1000 + periodRequests, 6);
    for (const slo of [
      { requests: Number.NaN, within: 995, atS: 600 },
      { requests: 1000, within: Number.POSITIVE_INFINITY, atS: 600 },
      { requests: 1000, within: 995, atS: Number.NaN },
      { requests: 1000, within: 995, atS: 600, running: Number.NaN },
    ]) {
      const out = plan({ ...initialPolicyState(), slo }, o, cfg, 600);
      expect(out.state.slo?.requests).toBeCloseTo(periodRequests, 6);
      expect(out.plan.reason).not.toMatch(/over the last day/);
    }
  });
});
