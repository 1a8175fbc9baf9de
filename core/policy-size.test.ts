// Sizing a VM group, rule by rule: the spread its queue is sized for when the VM time's moments cannot be
// read, which load counts the VMs to start and which keeps those running, the break-even a VM must reach,
// and a group whose VMs save less than the FaaS bill can register.
import { describe, expect, it } from "vitest";
import { flat, groupConfig, threeStages } from "./fixtures.js";
import {
  evaluateGroup,
  initialPolicyState,
  type LoadView,
  type Observations,
  type PlanContext,
  planContext,
} from "./policy.js";

const SLOTS = 2; // groupConfig's vm.concurrency
const obs = threeStages;

/** Room for the ~125 VMs that 20,000 req/s keep busy. */
const MANY = groupConfig({}, { max: 400 });
/** The group from stage 1 with `running` VMs desired at the last tick, on the load as read or one of its views. */
const groupFrom1 = (o: Observations, running: number, view: (l: LoadView) => LoadView = (l) => l) => {
  const ctx: PlanContext = planContext({ ...initialPolicyState(), desiredVms: running }, o, MANY);
  return evaluateGroup({ ...ctx, load: view(ctx.load) }, o, 1);
};
/** Every VM counted on the window's load (the load still here ignored), or on the load still here alone. */
const byWindow = (l: LoadView): LoadView => ({ ...l, startDist: l.costDist });
const byNow = (l: LoadView): LoadView => ({ ...l, costDist: l.startDist });

describe("the queue's spread", () => {
  it("a VM time whose moments underflow to 0 is sized for as exponential (CV^2 = 1), not as NaN", () => {
    // Stage 2 on the VM: a 30-ms mean but a median of the smallest double, so its lognormal mean is 5e-324
    // and a quarter of it (its reach) rounds to 0.
    const o = obs(flat(100, 600));
    o.stages[2].vmMs = { mean: 30, p50: 5e-324, p95: 5e-324, p99: 5e-324 };
    const g = evaluateGroup(planContext(initialPolicyState(), o, groupConfig()), o, 2);
    expect(g.reachable).toBe(true);
    expect(g.workS).toBeCloseTo(0.25 * 0.03, 15);
    expect(g.waitBudgetMs).toBe(100);
    // Places its 2 slots clear in 100 ms at 30 ms a request with CV^2 = 1: floor(0.4 / 0.06) = 6.
    expect(g.queuePerVm).toBe(Math.floor((0.1 * SLOTS * 2) / (0.03 * 2)));
    expect(g.queuePerVm).toBe(6);
  });
});

describe("the count: the window's load keeps VMs, the load still here starts them", () => {
  it("running exactly what the window wants: kept, and the next VM weighed is the one beyond them, on the window's load", () => {
    // The last 16 s run 2% below the window (a fall within its noise, not a drop): the window wants two
    // VMs more than the last seconds do.
    const o = obs([...flat(20_000, 600), ...flat(19_600, 16), 0]);
    const cold = groupFrom1(o, 0, byWindow);
    expect(groupFrom1(o, 0).wantedVms).toBeLessThan(cold.wantedVms);
    const running = cold.wantedVms;
    const g = groupFrom1(o, running);
    expect(g.wantedVms).toBe(running);
    // The last VM kept and the one not started are the window's: the (running + 1)-th VM, not the last one again.
    expect(g.lastUtil).toBe(cold.lastUtil);
    expect(g.nextUtil).toBe(cold.nextUtil);
    expect(g.nextUtil).toBeLessThan(g.lastUtil);
  });
  it("after a drop (a flash passed a minute ago) VMs are counted for the recent level alone: the delay holds the rest", () => {
    const o = obs([...flat(2000, 600), ...flat(25_000, 120), ...flat(2000, 59), 0]);
    const cold = groupFrom1(o, 0);
    expect(groupFrom1(o, 0, byWindow).wantedVms).toBe(cold.wantedVms);
    // Running the ~160 VMs the flash wanted: the level wants no more than a cold controller would.
    const g = groupFrom1(o, 160);
    expect(g.wantedVms).toBe(cold.wantedVms);
    expect(g.wantedVms).toBeLessThan(20);
  });
  it("when the load still here wants as many VMs as the window, the count and its utilisations are the window's", () => {
    // The last 16 s at 1990 req/s after 2000: the load still here is a little lower, the count the same.
    const o = obs([...flat(2000, 600), ...flat(1990, 16)]);
    const g = groupFrom1(o, 0);
    const window = groupFrom1(o, 0, byWindow);
    const now = groupFrom1(o, 0, byNow);
    expect(now.wantedVms).toBe(window.wantedVms);
    expect(now.lastUtil).toBeLessThan(window.lastUtil); // the two loads differ
    expect(g.wantedVms).toBe(window.wantedVms);
    expect(g.lastUtil).toBe(window.lastUtil);
    expect(g.nextUtil).toBe(window.nextUtil);
  });
});

describe("the break-even", () => {
  it("a VM whose utilisation equals the break-even is wanted: free VMs (u* = 0) fill up to vm.max, even at no load", () => {
    const o = obs(flat(0, 600));
    const free = groupConfig({}, { usd_per_hour: 0, max: 7 });
    const g = evaluateGroup(planContext(initialPolicyState(), o, free), o, 1);
    expect(g.feasible).toBe(true);
    expect(g.uStar).toBe(0);
    expect(g.wantedVms).toBe(7);
    expect(g.carriedShare).toBe(0);
  });
});

describe("a group no cheaper than FaaS says so", () => {
  it("VMs whose net saving is below the rounding of the FaaS-only bill cost exactly that bill: not less, and it says so", () => {
    // Stage 0 runs 1e18 ms on FaaS: the bill is so large that what the group from stage 1 saves, and what
    // its VMs cost, are lost in its rounding.
    const o = obs(flat(2000, 600), [5, 10, 30], [1e18, 10, 30]);
    const ctx = planContext(initialPolicyState(), o, groupConfig());
    const g = evaluateGroup(ctx, o, 1);
    expect(g.wantedVms).toBeGreaterThan(0);
    expect(g.costUsdPerS).toBe(ctx.faasOnlyPerS);
    expect(g.why).toMatch(/^\d+ VM\(s\) would cost \$[\d.e+]+\/h, not less than \$[\d.e+]+\/h all on FaaS$/);
  });
});
