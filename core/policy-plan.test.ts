// plan's own steps and its explanation: the error budget over the next scale-down delay, the VMs sized for the SLO
// and for the remembered bursts, the group behind held VMs, the share VMs carry now, and the reason's figures.
import { describe, expect, it } from "vitest";
import { type ControlConfig, parseControlConfig } from "./config.js";
import { burstConfig, burstObs, exactMs, flat, groupConfig, spreadMs } from "./fixtures.js";
import {
  confirmedTarget,
  FIRST_ESTIMATE_SPREAD,
  evaluateGroup,
  faasAttainment,
  initialPolicyState,
  type Observations,
  plan,
  planContext,
  type PolicyState,
  SLO_CONFIRM_PERIODS,
  spentAttainment,
} from "./policy.js";
import type { Placement } from "./manifest.js";

// Three stages (half exit at each: reach 100%, 50%, 25%) with times without spread; `pin` pins stages.
interface Shape {
  vmMs?: number[];
  faasMs?: number[];
  exits?: number[];
  pin?: (Placement | undefined)[];
  running?: number;
}
const obs = (perSecond: number[], shape: Shape = {}): Observations => {
  const { vmMs = [5, 10, 30], exits = [0.5, 0.5, 1], pin = [], running = 0 } = shape;
  const faasMs = shape.faasMs ?? vmMs;
  return {
    stages: exits.map((exitFraction, i) => ({
      exitFraction,
      vmMs: exactMs(vmMs[i]),
      faasMs: exactMs(faasMs[i]),
      stateBytes: 4096,
      ...(pin[i] ? { allowed: pin[i] } : {}),
    })),
    rate: { perSecond },
    vms: { running, booting: 0 },
  };
};
// VMs wanted within the scale-down delay (held by hysteresis) on the group from `vmGroupStart`.
const held = (vmGroupStart: number | null, n = 4): PolicyState => ({
  ...initialPolicyState(),
  wanted: [[590, n]],
  vmGroupStart,
  desiredVms: n,
});
/**
 * The plan where the group from stage 1 has a first VM busier than break-even but not by the start
 * hurdle (so the cost model starts none).
 */
const keptOutByHurdle = (o: Observations, c: ControlConfig) => {
  const g = evaluateGroup(planContext(initialPolicyState(), o, c), o, 1);
  expect(g.wantedVms).toBe(0);
  expect(g.nextUtil).toBeGreaterThan(g.uStar);
  expect(g.nextUtil).toBeLessThan(g.uStar * g.startHurdle);
  return plan(initialPolicyState(), o, c, 600).plan;
};
/** The reason's percentages, as an operator reads them. */
const pct = (x: number) => `${(100 * x).toFixed(x < 0.1 ? 1 : x > 0.99 && x < 1 ? 2 : 0)}%`;

describe("plan: the SLO target this period", () => {
  it("the error budget is spread over the requests of the next scale-down delay at the current rate", () => {
    // 1,500 requests in the next 300 s at 5 req/s; the last day's 1e6 requests are 3 above 99% within:
    // this period needs (0.99 x 1,001,500 - 990,003) / 1,500 = 98.8%.
    const state = { ...initialPolicyState(), slo: { requests: 1e6, within: 990_003, atS: 600 } };
    const p = plan(state, obs(flat(5, 600)), groupConfig(), 600).plan;
    expect(p.reason).toContain("(99.00% expected within it over the last day: this period needs 99% to keep 99%)");
  });
  it("a budget already spent asks for SLO_TARGET and says nothing of the past day", () => {
    const state = { ...initialPolicyState(), slo: { requests: 1e6, within: 0.98e6, atS: 600 } };
    const p = plan(state, obs(flat(5, 600)), groupConfig(), 600).plan;
    expect(p.reason).toContain("meets the 10000 ms SLO for 99% of requests (expected 100% within the SLO)");
    expect(p.reason).not.toContain("over the last day");
  });
  it("an option exactly at the SLO target meets it", () => {
    // 99% exit at stage 0 (2 ms); the 1% going on to stage 1 (50 ms on FaaS) misses the 30-ms SLO there:
    // FaaS alone answers exactly 99% within it, and few requests reach stage 1 (no VM pays off).
    const o = obs(flat(2, 600), { vmMs: [2, 10], faasMs: [2, 50], exits: [0.99, 1] });
    const p = plan(initialPolicyState(), o, groupConfig({ slo_ms: 30 }), 600).plan;
    expect(p.vmGroupStart).toBeNull();
    expect(p.expectedSloAttainment).toBe(0.99);
    expect(p.reason).toMatch(
      /^All 2 stages on Workers at 2\.0 req\/s \(recent, time-weighted\): the cheapest option that meets the 30 ms SLO for 99% of requests \(expected 99% within the SLO\);/,
    );
  });
});

describe("plan: the error budget is spent at what served the last period", () => {
  // One stage behind a router: FaaS (40 ms, p99 80) meets the 60-ms SLO for 91% of requests, a VM nearly
  // always; 1,000 req/s want 6 VMs.
  const cfg = burstConfig(60);
  // `before`: the VMs running at the last tick, where the budget has one.
  const spent = (perSecond: number[], running: number, booting = 0, before?: number) => {
    const o = { ...burstObs(perSecond), vms: { running, booting } };
    const slo = before === undefined ? undefined : { requests: 0, within: 0, atS: 590, running: before };
    const state: PolicyState = { ...initialPolicyState(), vmGroupStart: 0, desiredVms: 6, slo };
    const out = plan(state, o, cfg, 600);
    const b = out.state.slo!;
    return {
      share: b.within / b.requests,
      requests: b.requests,
      running: b.running,
      plan: out.plan,
      faas: faasAttainment(planContext(state, o, cfg)),
    };
  };
  it("VMs running as planned: the plan's own expectation", () => {
    const s = spent(flat(1000, 600), 6);
    expect(s.plan.desiredVms).toBe(6);
    expect(s.requests).toBe(10_000); // the last 10-s period's seconds
    expect(s.share).toBeCloseTo(s.plan.expectedSloAttainment, 5);
    expect(s.share).toBeGreaterThan(0.99);
  });
  it("VMs still booting carry nothing: FaaS's attainment, not the plan's hope", () => {
    const s = spent(flat(1000, 600), 0, 6);
    expect(s.plan.expectedSloAttainment).toBeGreaterThan(0.99);
    expect(s.faas).toBeLessThan(0.92);
    expect(s.share).toBeCloseTo(s.faas, 12);
  });
  it("VMs that came up during the period, or left: it ran on the fewer of those running at its start and end", () => {
    const up = spent(flat(1000, 600), 6, 0, 0);
    expect(up.share).toBeCloseTo(up.faas, 12);
    expect(up.running).toBe(6); // the next period starts with them
    const down = spent(flat(1000, 600), 3, 0, 6);
    expect(down.share).toBeCloseTo(spent(flat(1000, 600), 3).share, 12);
    expect(down.share).toBeLessThan(spent(flat(1000, 600), 6, 0, 6).share - 0.01);
  });
  it("a burst in the last period's seconds: its overflow ran on FaaS, though the window's mean barely moved", () => {
    const burst = flat(1000, 600).map((x, i) => (i >= 590 ? 3000 : x));
    const s = spent(burst, 6);
    const calm = spent(flat(1000, 600), 6);
    expect(s.requests).toBe(30_000);
    expect(s.share).toBeLessThan(calm.share - 0.01);
    expect(s.share).toBeGreaterThan(s.faas);
  });
  it("the seconds seen, however few; without a per-second series, the window's mean over a period", () => {
    expect(spent(flat(1000, 4), 6).requests).toBe(4_000);
    const ewma = { ...burstObs([]), rate: { perSecond: [], meanRps: 500, stdRps: 0 } };
    const b = plan(initialPolicyState(), ewma, cfg, 600).state.slo!;
    expect(b.requests).toBeCloseTo(500 * cfg.controlPeriodS, 9);
  });
  it("the group in force served it, not the first one evaluated", () => {
    // Three stages; FaaS misses a 100-ms SLO for the quarter that reaches stage 2 (165 ms there). At 400
    // req/s one VM of 2 slots is offered 5 slot-seconds a second by a group from stage 1 (200 req/s, 25 ms
    // each) and 3 by one from stage 2 (100 req/s, 30 ms): it carries a different share of each.
    const o = obs(flat(400, 600), { faasMs: [5, 40, 120], running: 1 });
    const c = groupConfig({ slo_ms: 100 });
    const ctx = planContext(initialPolicyState(), o, c);
    const faas = faasAttainment(ctx);
    const share = (j: number) => {
      const b = plan(held(j, 1), o, c, 600).state.slo!;
      expect(b.within / b.requests).toBeCloseTo(spentAttainment(ctx, o, evaluateGroup(ctx, o, j), faas).attainment, 12);
      return b.within / b.requests;
    };
    expect(Math.abs(share(1) - share(2))).toBeGreaterThan(0.01);
  });
});

describe("plan: VMs sized for the SLO", () => {
  // The SLO 80 ms: a request going on to stage 2 meets it only on a VM (5 + 20 + 10 + 30 = 65 ms with the
  // hop; 135 on FaaS). No queue: a request finding the VMs full runs on FaaS.
  const slow = (rps: number) => obs(flat(rps, 600), { faasMs: [15, 30, 90], pin: ["worker"] });
  const cfg = groupConfig({ slo_ms: 80 }, { queue_ms: 0 });
  it("the fewest VMs whose attainment reaches the 99.5% aim: not one fewer, nor one more that still gains", () => {
    // At 180 req/s the cost model wants 2 VMs (97%); 3 reach 99.52%, a fourth would still add 0.4%.
    const at180 = plan(initialPolicyState(), slow(180), cfg, 600).plan;
    expect(evaluateGroup(planContext(initialPolicyState(), slow(180), cfg), slow(180), 1).wantedVms).toBe(2);
    expect(at180.targetVms).toBe(3);
    expect(at180.expectedSloAttainment).toBe(0.99521);
    expect(at180.reason).toContain("3 VMs: the fewest that bring the attainment up to 99.52%");
    // At 190 req/s 3 VMs reach 99.41%, short of the aim although above the SLO: 4.
    const at190 = plan(initialPolicyState(), slow(190), cfg, 600).plan;
    expect(at190.targetVms).toBe(4);
    expect(at190.expectedSloAttainment).toBe(0.99942);
  });
  it("a period the error budget lets take 98% sizes for 98.5%, not 99.5%: 3 VMs at 190 req/s where a fresh day needs 4", () => {
    // A day so far 99.9% within the SLO (a million requests): the next scale-down delay's 57,000 may
    // take 98%, the floor (SLO_BUDGET_SPEND). FaaS alone (75%) still misses it; 2 VMs reach 96.6%.
    const surplus: PolicyState = { ...initialPolicyState(), slo: { requests: 1e6, within: 0.999e6, atS: 600 } };
    const p = plan(surplus, slow(190), cfg, 600).plan;
    expect(p.targetVms).toBe(3);
    expect(p.expectedSloAttainment).toBe(0.99414);
    expect(p.reason).toContain("this period needs 98% to keep 99%");
    expect(plan(initialPolicyState(), slow(190), cfg, 600).plan.targetVms).toBe(4);
  });
  it("at most vm.max: the count at vm.max, though short of the aim", () => {
    const p = plan(initialPolicyState(), slow(190), groupConfig({ slo_ms: 80 }, { queue_ms: 0, max: 3 }), 600).plan;
    expect(p.targetVms).toBe(3);
    expect(p.expectedSloAttainment).toBe(0.99414);
  });
  it("where VMs cannot bring the SLO within reach, the count past which one more VM gains less than a tie", () => {
    // SLO 70 ms: a request exiting at stage 1 meets it only on a VM (15 + 20 + 10 ms; 75 on FaaS), one going
    // on to stage 2 misses it either way: 75% at most. At 100 req/s 2 VMs (the cost optimum) reach 74.27%,
    // 3 reach 74.96%, a fourth would add 0.04%.
    const o = obs(flat(100, 600), { vmMs: [15, 10, 30], faasMs: [15, 60, 90], pin: ["worker"] });
    const p = plan(initialPolicyState(), o, groupConfig({ slo_ms: 70 }, { queue_ms: 0 }), 600).plan;
    expect(p.targetVms).toBe(3);
    expect(p.expectedSloAttainment).toBe(0.74962);
  });
  it("counted from one above the cost optimum: a VM the start hurdle kept out, no worse and cheaper, is taken", () => {
    // SLO 80 ms, 90% exit at stage 0 and meet it on FaaS; 0.2% exit at stage 1 and meet it only on a VM
    // (35 ms with the hop; 105 on FaaS); the rest miss it either way (95 ms on a VM): no option meets the
    // SLO. Each VM adds less than a tie. At 200 req/s the cost model wants 1 VM; a second would beat
    // break-even, not the start hurdle. No queue (a wait where the VM path misses the SLO: the next test).
    const o = obs(flat(200, 600), { vmMs: [5, 10, 60], faasMs: [5, 100, 60], exits: [0.9, 0.02, 1], pin: ["worker"] });
    const c = groupConfig({ slo_ms: 80 }, { queue_ms: 0 });
    const g = evaluateGroup(planContext(initialPolicyState(), o, c), o, 1);
    expect(g.wantedVms).toBe(1);
    expect(g.nextUtil).toBeGreaterThan(g.uStar);
    expect(g.nextUtil).toBeLessThan(g.uStar * g.startHurdle);
    const p = plan(initialPolicyState(), o, c, 600).plan;
    expect(p.targetVms).toBe(2);
    expect(p.expectedSloAttainment).toBe(0.90192);
    expect(p.reason).toContain(
      "2 VMs: the fewest that bring the attainment up to 90% (the cost optimum alone would leave the SLO to FaaS).",
    );
  });
  it("where the VM path misses the SLO at its p99, the count is sized with the wait FaaS's chance allows too: the cheaper that attains no less", () => {
    // One stage behind a router: VM 10 ms (p99 20), FaaS 30 ms (p99 60), SLO 18 ms, VMs at $2/h: none
    // pays for itself, FaaS alone attains 4%, the VM path 97.6%. As a loss system (queue_ms 0) it takes 6
    // VMs to saturate; waiting up to the VM path's 4% quantile (12 ms), 5 VMs attain more.
    const o = burstObs(flat(400, 600), spreadMs(10), spreadMs(30));
    const cfg = (queueMs: number) =>
      parseControlConfig({
        vm: { usd_per_hour: 2, concurrency: 2, boot_s: 60, max: 50, queue_ms: queueMs },
        slo_ms: 18,
        entry: "router",
      });
    const g = evaluateGroup(planContext(initialPolicyState(), o, cfg(1000)), o, 0);
    expect(g.wantedVms).toBe(0);
    expect(g.waitBudgetMs).toBe(0);
    expect(g.even?.waitBudgetMs).toBeCloseTo(12, 0);
    const loss = plan(initialPolicyState(), o, cfg(0), 600).plan;
    const p = plan(initialPolicyState(), o, cfg(1000), 600).plan;
    expect(loss.targetVms).toBe(6);
    expect(p.targetVms).toBe(5);
    expect(p.expectedSloAttainment).toBeGreaterThan(loss.expectedSloAttainment);
    expect(p.waitBudgetMs).toBe(Math.round(g.even!.waitBudgetMs * 10) / 10);
    expect(p.reason).toContain("SLO minus its 4.3% quantile, FaaS's own chance within it");
    expect(p.reason).toContain("5 VMs: the fewest that bring the attainment up to 98%");
  });
  it("where an option meets the SLO, no VM starts that the cost model does not start", () => {
    // 99% exit at stage 0 (5 ms) and meet the 80-ms SLO on FaaS; the 1% going on miss it there (105 ms or
    // more) and meet it on a VM. A first VM would be busier than break-even, yet not by the start hurdle.
    // No queue, as above.
    const o = obs(flat(500, 600), { faasMs: [5, 100, 100], exits: [0.99, 0.5, 1], pin: ["worker"] });
    const c = groupConfig({ slo_ms: 80 }, { queue_ms: 0 });
    const p = keptOutByHurdle(o, c);
    expect(p.vmGroupStart).toBeNull();
    expect(p.targetVms).toBe(0);
    expect(p.expectedSloAttainment).toBe(0.99);
    // Also beside a group that misses the SLO: with stage 0 free to go to a VM, moving a 10-MB input takes 100 ms more than
    // the SLO allows; its cost optimum (2 VMs) is cheaper than FaaS and meets the SLO for 16%.
    const big = { ...obs(flat(500, 600), { faasMs: [5, 100, 100], exits: [0.99, 0.5, 1] }), inputBytes: 1e7 };
    const g0 = evaluateGroup(planContext(initialPolicyState(), big, c), big, 0);
    expect(g0.wantedVms).toBe(2);
    expect(g0.attainment).toBeLessThan(0.99);
    const beside = plan(initialPolicyState(), big, c, 600).plan;
    expect(beside.vmGroupStart).toBeNull();
    expect(beside.expectedSloAttainment).toBe(0.99);
  });
  it("VMs sized for the SLO must bring the attainment above FaaS alone's by more than a tie", () => {
    // SLO 40 ms: a request exiting at stage 1 meets it either way (15 ms on FaaS, 35 with the hop), one
    // going on to stage 2 misses it either way: VMs gain nothing. A first VM would beat break-even but not
    // the start hurdle, and would cost less than FaaS: still FaaS.
    const o = obs(flat(74, 600), { pin: ["worker"] });
    const c = groupConfig({ slo_ms: 40 }, { queue_ms: 0 });
    const p = keptOutByHurdle(o, c);
    expect(p.vmGroupStart).toBeNull();
    expect(p.expectedSloAttainment).toBe(0.75);
    expect(p.reason).toMatch(
      /^All 3 stages on Workers at 74\.0 req\/s \(recent, time-weighted\): no option meets the 40 ms SLO/,
    );
  });
});

describe("plan: the group behind held VMs", () => {
  it("VMs held while FaaS is chosen leave a current group that reaches no request for one that saves", () => {
    // Every request exits by stage 1: the group from stage 2 is reached by none.
    const p = plan(held(2), obs(flat(2, 600), { exits: [0.5, 1, 1], running: 4 }), groupConfig(), 600).plan;
    expect(p.targetVms).toBe(0);
    expect(p.desiredVms).toBe(4);
    expect(p.vmGroupStart).toBe(0);
  });
  it("without a current group the held VMs take the cheapest group, not the first", () => {
    // Separate deep invocations: a group with no VM carrying it pays the hand-over fee on the requests
    // reaching it, so the group from stage 2 (25%) costs less than the one from stage 1 (50%).
    const o = obs(flat(2, 600), { pin: ["worker"], running: 4 });
    const p = plan(held(null), o, groupConfig({ faas_deep: "separate" }), 600).plan;
    expect(p.targetVms).toBe(0);
    expect(p.vmGroupStart).toBe(2);
    // A current group that can run is kept, although the other costs less.
    expect(plan(held(1), o, groupConfig({ faas_deep: "separate" }), 600).plan.vmGroupStart).toBe(1);
  });
  it("held VMs take a group that saves over one that saves nothing at the same cost", () => {
    // Moving stage 0's hidden state (1 MB at $0.01/GB) costs more than stages 1-2 save; stage 1's (4 kB) does not.
    const o = obs(flat(2, 600), { pin: ["worker"], running: 4 });
    o.stages[0].stateBytes = 1e6;
    const cfg = groupConfig({ transfer_usd_per_gb: 0.01 });
    const ctx = planContext(held(null), o, cfg);
    expect(evaluateGroup(ctx, o, 1).feasible).toBe(false);
    expect(evaluateGroup(ctx, o, 2).feasible).toBe(true);
    expect(plan(held(null), o, cfg, 600).plan.vmGroupStart).toBe(2);
  });
  it("with every stage pinned to Workers, the VMs vm.min keeps run no group", () => {
    const o = obs(flat(20, 600), { pin: ["worker", "worker", "worker"] });
    const p = plan(initialPolicyState(), o, groupConfig({}, { min: 1 }), 600).plan;
    expect(p.desiredVms).toBe(1);
    expect(p.vmGroupStart).toBeNull();
    expect(p.stages.map((s) => s.placement)).toEqual(["worker", "worker", "worker"]);
    expect(p.reason).toMatch(
      /^All 3 stages on Workers at 20\.0 req\/s \(recent, time-weighted\): the cheapest option that meets the 10000 ms SLO for 99% of requests \(expected 100% within the SLO\)\. Expected \$0\.0468\/h on FaaS\.$/,
    );
  });
  it("VMs still running above the desired count carry their share until they stop", () => {
    // 200 req/s, 100 reaching stage 1: one VM is wanted (99% busy) and carries less than all of it; three carry more.
    const at = (running: number) =>
      plan(held(1, 1), obs(flat(200, 600), { pin: ["worker"], running }), groupConfig(), 600).plan;
    const one = at(1);
    const three = at(3);
    expect([one.desiredVms, three.desiredVms]).toEqual([1, 1]);
    expect(one.stages[1].vmShare).toBeLessThan(1);
    expect(three.stages[1].vmShare).toBeGreaterThan(one.stages[1].vmShare);
  });
});

describe("plan: the remembered bursts", () => {
  // Router entry; stage 0 (5 ms) pinned to the Worker, meets the 60-ms SLO on FaaS; a request going on
  // to stage 1 (80 ms on FaaS, 20 on a VM) meets it only on a VM. 100 req/s; the window's first 150 s ran at
  // 100x (a burst no VM the window wants would carry).
  const burstCfg = burstConfig(60);
  const burstAt = (exit0: number): Observations => ({
    stages: [
      { exitFraction: exit0, vmMs: exactMs(5), faasMs: exactMs(5), stateBytes: 4096, allowed: "worker" },
      { exitFraction: 1, vmMs: exactMs(20), faasMs: exactMs(80), stateBytes: 0 },
    ],
    rate: { perSecond: flat(100, 600).map((x, i) => (i < 150 ? 100 * x : x)) },
    vms: { running: 0, booting: 0 },
  });
  // A controller whose last estimate was this one's (a shortfall it has confirmed).
  const burst = (exit0: number) =>
    plan({ ...initialPolicyState(), faasAttain: { mean: exit0, atS: 590 } }, burstAt(exit0), burstCfg, 600).plan;
  it("bursts size VMs only where FaaS alone misses the SLO by more than a period's error budget", () => {
    const missed = burst(0.97);
    expect(missed.targetVms).toBe(3);
    expect(missed.reason).toContain(
      "3 VMs: the fewest that would have met the SLO over the last hour's rates, its bursts included (FaaS alone misses it by more than a period's error budget).",
    );
    // FaaS alone at exactly 99% - 1%, and at 98.5%: the VMs the window wants (one, for the SLO).
    for (const exit0 of [0.98, 0.985]) {
      expect(faasAttainment(planContext(initialPolicyState(), burstAt(exit0), burstCfg))).toBe(exit0);
      const p = burst(exit0);
      expect(p.targetVms).toBe(1);
      expect(p.reason).toMatch(
        /1 VM: the fewest that bring the attainment up to [\d.]+% \(the cost optimum alone would leave the SLO to FaaS\)\./,
      );
    }
  });
  it("VMs sized for a burst are judged by what they reach on the window's rates: 3 meeting the SLO beat the aim's 4", () => {
    // As for VMs sized for the SLO at 190 req/s (2 wanted: 96.6%; 3: 99.41%, short of the 99.5% aim; 4:
    // 99.94%), with one second at 500 req/s in the window: the burst it leaves in the rate memory asks
    // the 2 VMs for a third, and 3 VMs meet the SLO on the window's rates.
    const per = flat(190, 600).map((x, i) => (i === 100 ? 500 : x));
    const o = obs(per, { faasMs: [15, 30, 90], pin: ["worker"] });
    const p = plan(initialPolicyState(), o, groupConfig({ slo_ms: 80 }, { queue_ms: 0 }), 600).plan;
    expect(p.targetVms).toBe(3);
    expect(p.expectedSloAttainment).toBe(0.9941);
    expect(p.reason).toContain(
      "3 VMs: the fewest that would have met the SLO over the last hour's rates, its bursts included",
    );
  });
  it("with no per-second series there is no rate memory: the window's own plan", () => {
    const o: Observations = { ...obs([], { pin: ["worker"] }), rate: { perSecond: [], meanRps: 200, stdRps: 10 } };
    const p = plan(initialPolicyState(), o, groupConfig({ slo_ms: 40 }), 600).plan;
    expect(p.vmGroupStart).toBe(1);
    expect(p.targetVms).toBe(2);
  });
});

describe("the plan's reason: figures", () => {
  it("a share below 10% shows a tenth of a percent, 10% and above whole percents", () => {
    // 10% exit at stage 0 (5 ms) and meet the 7-ms SLO on FaaS; every other request misses it.
    const p = plan(initialPolicyState(), obs(flat(5, 600), { exits: [0.1, 0.5, 1] }), groupConfig({ slo_ms: 7 }), 600);
    expect(p.plan.expectedSloAttainment).toBe(0.1);
    expect(p.plan.reason).toContain("(expected 10% within the SLO)");
    expect(p.plan.reason).toContain("from stage 0 (reached by 100%) a first VM would be 6.8% busy");
  });
  it("a break-even that does not exist (no saving) reads n/a", () => {
    const p = plan(held(1), obs(flat(2, 600), { running: 4 }), groupConfig({ prices: "lambda" }), 600).plan;
    expect(p.breakEvenUtilisation).toBeNull();
    expect(p.reason).toContain("Break-even utilisation u* = n/a: the cost model wants 0 VMs");
  });
  it("dollars per hour below $0.1 show four decimals, from $0.1 three", () => {
    const p = plan(held(1, 2), obs(flat(2, 600), { running: 2 }), groupConfig(), 600).plan;
    expect(p.expectedCostUsdPerHour.vmUsdPerHour).toBe(0.1);
    expect(p.reason).toMatch(/\(VMs \$0\.100\/h, FaaS \$0\.\d{4}\/h\) vs \$0\.\d{4}\/h all on FaaS\.$/);
  });
  it("a group of the last stage alone is named as one stage", () => {
    const p = plan(initialPolicyState(), obs(flat(2000, 600), { pin: ["worker", "worker"] }), groupConfig(), 600).plan;
    expect(p.vmGroupStart).toBe(2);
    expect(p.reason).toMatch(/^VM group stage 2 \(reached by 25% of requests at 2000\.0 req\/s/);
    expect(p.reason).toContain("; this plan expects 100%. Stages 0-1 on Workers. A request may wait");
  });
  it("the stages before the group, then the other groups one by one", () => {
    const four = plan(
      initialPolicyState(),
      obs(flat(2000, 600), { vmMs: [5, 10, 30, 30], exits: [0.5, 0.5, 0.5, 1], pin: ["worker"] }),
      groupConfig(),
      600,
    ).plan;
    expect(four.vmGroupStart).toBe(1);
    expect(four.reason).toMatch(
      /Stage 0 on Workers; other groups: from stage 2: \$[\d.]+\/h, SLO 100%; from stage 3: \$[\d.]+\/h, SLO 100%\. A request/,
    );
    const two = plan(
      initialPolicyState(),
      obs(flat(2000, 600), { vmMs: [5, 30], exits: [0.5, 1], pin: ["worker"] }),
      groupConfig(),
      600,
    );
    expect(two.plan.reason).toContain("; this plan expects 100%. Stage 0 on Workers. A request may wait");
  });
  it("a queue of one place per VM is named in the singular", () => {
    // The group from stage 2 (30 ms each): a 20-ms budget on 2 slots, 1 place the router fills (20 x 2 / 30).
    const p = plan(
      initialPolicyState(),
      obs(flat(2000, 600), { pin: ["worker", "worker"] }),
      groupConfig({}, { queue_ms: 20 }),
      600,
    ).plan;
    expect(p.reason).toContain(
      "A request may wait up to 20 ms for a slot on a full VM (SLO minus the path's p99 without waiting; 1 place per VM), mean wait",
    );
  });
  it("where a timed-out request would miss the SLO on FaaS, the reason says why it is admitted for half the budget", () => {
    const p = plan(initialPolicyState(), burstObs(flat(50, 600)), burstConfig(60), 1800).plan;
    expect(p.admitWaitMs).toBe(20);
    // Admitted within 20 ms at 10 ms a request on 2 slots: 4 places (the budget alone would clear 8).
    expect(p.reason).toContain(
      "A request may wait up to 40 ms for a slot on a full VM (SLO minus the path's p99 without waiting; 4 places per VM), mean wait 0.7 ms; it joins a full VM's queue when it expects at most 20 ms (a timed-out request would miss the SLO on FaaS).",
    );
  });
  it("the cost model's count of one VM is in the singular", () => {
    const p = plan(initialPolicyState(), obs(flat(80, 600), { pin: ["worker"] }), groupConfig(), 600).plan;
    expect(p.targetVms).toBe(1);
    expect(p.reason).toContain("Break-even utilisation u* = 35%: the cost model wants 1 VM (the last one 50% busy);");
  });
  it("a first VM not started is shown against u* alone where VMs already run, against u* x the start factor where none does", () => {
    const o = obs(flat(2, 600), { pin: ["worker"], running: 4 });
    const warm = plan(held(1), o, groupConfig(), 600).plan;
    expect(warm.reason).toMatch(
      /other groups: from stage 2 \(reached by 25%\) a first VM would be [\d.]+% busy < break-even u\* 35%\. A request/,
    );
    const cold = initialPolicyState();
    const g = evaluateGroup(planContext(cold, o, groupConfig()), o, 2);
    expect(g.startHurdle).toBeGreaterThan(1);
    const hurdle = `${pct(g.uStar * g.startHurdle)}, break-even u* ${pct(g.uStar)} x ${g.startHurdle.toFixed(2)} to repay`;
    expect(hurdle).toMatch(/^40%, break-even u\* 35% x 1\.16 to repay$/);
    expect(plan(cold, o, groupConfig(), 600).plan.reason).toContain(
      `from stage 2 (reached by 25%) a first VM would be 0.8% busy < ${hurdle}`,
    );
  });
});

describe("plan: a dip of FaaS's estimate below the target starts no VM for the SLO; a shortfall on average does", () => {
  const period = { controlPeriodS: 10 };
  it("the average is exponential over 3 control periods, the first estimate its start", () => {
    expect(SLO_CONFIRM_PERIODS).toBe(3);
    expect(confirmedTarget(0.99, 0.95, undefined, 500, period).avg).toEqual({ mean: 0.95, atS: 500 });
    const next = confirmedTarget(0.99, 0.99, { mean: 0.95, atS: 500 }, 530, period).avg;
    expect(next.atS).toBe(530);
    expect(next.mean).toBeCloseTo(0.95 * Math.exp(-1) + 0.99 * (1 - Math.exp(-1)), 12);
    // No time passed (two plans in one second): the average stays.
    expect(confirmedTarget(0.99, 0.5, { mean: 0.95, atS: 500 }, 500, period).avg.mean).toBe(0.95);
  });
  it("short now and on average: the period's target; short now only: FaaS's own; not short: the target", () => {
    const avg = (mean: number) => ({ mean, atS: 490 });
    expect(confirmedTarget(0.99, 0.95, avg(0.95), 500, period).target).toBe(0.99);
    expect(confirmedTarget(0.99, 0.985, avg(0.995), 500, period).target).toBe(0.985);
    expect(confirmedTarget(0.99, 0.99, avg(0.95), 500, period).target).toBe(0.99);
    // An average exactly at the target is not short of it: this plan's estimate alone is, a dip (an
    // infinite period keeps the average whole).
    expect(confirmedTarget(0.99, 0.95, { mean: 0.99, atS: 500 }, 501, { controlPeriodS: Infinity }).target).toBe(0.95);
    // The first plan has no past: its estimate starts the average; a shortfall of more than a point
    // (FIRST_ESTIMATE_SPREAD) counts at once, a shallower one is a dip.
    expect(FIRST_ESTIMATE_SPREAD).toBe(0.01);
    expect(confirmedTarget(0.99, 0.95, undefined, 500, period).target).toBe(0.99);
    expect(confirmedTarget(0.99, 0.979, undefined, 500, period).target).toBe(0.99);
    expect(confirmedTarget(0.99, 0.981, undefined, 500, period).target).toBe(0.981);
    // Exactly a point short (0.99 - 0.01 is 0.98 in floating point too) is still a dip.
    expect(confirmedTarget(0.99, 0.98, undefined, 500, period).target).toBe(0.98);
  });
  it("a plan in the same second as the last is judged as a first estimate (no new samples), the average kept", () => {
    // The average of earlier plans is short of the target; within a point of it, this plan's is a dip.
    const short = { mean: 0.95, atS: 500 };
    expect(confirmedTarget(0.99, 0.985, short, 500, period)).toEqual({ target: 0.985, avg: short });
    expect(confirmedTarget(0.99, 0.985, short, 501, period).target).toBe(0.99);
    // More than a point short counts at once, as a first estimate's shortfall does.
    const met = { mean: 0.995, atS: 500 };
    expect(confirmedTarget(0.99, 0.97, met, 500, period)).toEqual({ target: 0.99, avg: met });
  });

  // 1.5% of requests reach stage 2, where FaaS (90 ms) misses a 80-ms SLO: FaaS alone meets it for 98.5%
  // of requests, or for all with stage 2 fast. A VM (30 ms there) brings it up (5-s periods).
  const short = obs(flat(5, 600), { faasMs: [5, 10, 90], exits: [0.5, 0.97, 1] });
  const met = obs(flat(5, 600), { exits: [0.5, 0.97, 1] });
  const cfg = groupConfig({ slo_ms: 80 }, { queue_ms: 0 });
  const tick = (state: PolicyState, o: Observations, t: number) => plan(state, o, cfg, t);
  const afterMet = () => {
    let s = initialPolicyState();
    for (let t = 0; t <= 600; t += 5) s = tick(s, met, t).state;
    // Without the error budget it earned (a day at 100% would let this period take 98%).
    return { ...s, slo: undefined };
  };
  it("after a long run meeting the SLO, a plan 1.5 points short starts no VM; the shortfall that lasts does, at its fourth plan", () => {
    const a = tick(afterMet(), short, 605);
    expect(a.plan.desiredVms).toBe(0);
    expect(a.plan.reason).toContain(
      "All 3 stages on Workers at 5.0 req/s (recent, time-weighted): the cheapest option that meets the 80 ms SLO for 99% of requests; FaaS alone expects 98.50% in this plan, 99.57% on average over the last 3 control periods (a dip its estimate may show by chance): no VM starts for the SLO yet (expected 99% within the SLO)",
    );
    // The average after k plans short: 1 - 1.5% (1 - e^(-k/3)): 99.57%, 99.27%, 99.05%, 98.90%.
    let s = a.state;
    const vms = [a.plan.desiredVms];
    for (const t of [610, 615, 620, 625]) {
      const p = tick(s, short, t);
      s = p.state;
      vms.push(p.plan.desiredVms);
    }
    expect(vms).toEqual([0, 0, 0, 1, 1]);
    expect(s.faasAttain?.mean).toBeCloseTo(1 - 0.015 * (1 - Math.exp(-5 / 3)), 9);
  });
  it("a shortfall far below the target counts at once: the average falls short with it", () => {
    const deep = obs(flat(5, 600), { faasMs: [5, 10, 90], exits: [0.5, 0.5, 1] });
    expect(tick(afterMet(), deep, 605).plan.desiredVms).toBe(1);
  });
  it("a fresh controller acts on a first estimate more than a point short at once, on a shallower one at its second plan", () => {
    // 2.5% of requests reach the slow stage 2: FaaS alone 97.5%.
    const deeper = obs(flat(5, 600), { faasMs: [5, 10, 90], exits: [0.5, 0.95, 1] });
    expect(tick(initialPolicyState(), deeper, 600).plan.desiredVms).toBe(1);
    const first = tick(initialPolicyState(), short, 600);
    expect(first.plan.desiredVms).toBe(0);
    expect(first.plan.reason).toContain(
      "FaaS alone expects 98.50% in this plan, the controller's first (a shortfall under 1 point waits for a second estimate): no VM starts for the SLO yet",
    );
    expect(tick(first.state, short, 605).plan.desiredVms).toBe(1);
  });
  it("a stored average that is not a number is forgotten", () => {
    const bad = { ...initialPolicyState(), faasAttain: { mean: Number.NaN, atS: 0 } };
    expect(tick(bad, short, 600).state.faasAttain).toEqual({ mean: 0.985, atS: 600 });
  });
});
