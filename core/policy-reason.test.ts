// The plan's reason, sentence by sentence: what an operator reads on /plan to learn why. Figures the
// plan states elsewhere are checked against it; the rest match any number.
import { describe, expect, it } from "vitest";
import { exactMs, flat, groupConfig } from "./fixtures.js";
import { initialPolicyState, type Observations, type PlanCost, plan } from "./policy.js";

// Stage 0 pinned to the Worker; half exit at each stage: reach 100%, 50%, 25%.
const obs = (perSecond: number[], faasMs = [5, 10, 30], running = 0, booting = 0): Observations => ({
  stages: [0.5, 0.5, 1].map((exitFraction, i) => ({
    exitFraction,
    vmMs: exactMs([5, 10, 30][i]),
    faasMs: exactMs(faasMs[i]),
    stateBytes: 4096,
    ...(i === 0 ? { allowed: "worker" as const } : {}),
  })),
  rate: { perSecond },
  vms: { running, booting },
});

const ANY = Symbol("any number");
/** A regular expression for the whole reason: text literal, ANY a number, other values as written. */
function reason(text: TemplateStringsArray, ...values: unknown[]): RegExp {
  const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  let src = "^";
  text.forEach((part, i) => {
    src += esc(part);
    if (i < values.length) src += values[i] === ANY ? "[\\d.]+" : esc(String(values[i]));
  });
  return new RegExp(`${src}$`);
}
const usd = (h: number) => `$${h.toFixed(h < 0.1 ? 4 : 3)}/h`;
const costs = (c: PlanCost) =>
  `Expected ${usd(c.totalUsdPerHour)} (VMs ${usd(c.vmUsdPerHour)}, FaaS ${usd(c.faasUsdPerHour)}) vs ${usd(c.faasOnlyUsdPerHour)} all on FaaS.`;

describe("the plan's reason", () => {
  it("a VM group: the choice, its SLO, the stages before it, other groups, the wait, the count, hold, bounds, the gap, the bill", () => {
    const state = { ...initialPolicyState(), wanted: [[590, 30]] as Array<[number, number]>, vmGroupStart: 1 };
    const p = plan(state, obs(flat(2000, 600), undefined, 3, 2), groupConfig({}, { max: 20, min: 1 }), 600).plan;
    const c = p.expectedCostUsdPerHour;
    expect(p.reason).toMatch(
      reason`VM group stages 1-2 (reached by 50% of requests at 2000.0 req/s (recent, time-weighted)) on 20 VMs of 2 slots: the cheapest option that meets the 10000 ms SLO for 99% of requests. All on FaaS would cost ${usd(c.faasOnlyUsdPerHour)} with 100% within the SLO; this plan expects 100%. Stage 0 on Workers; other groups: from stage 2: $${ANY}/h, SLO 100%. A request may wait up to 100 ms for a slot on a full VM (SLO minus the path's p99 without waiting; 8 places per VM), mean wait ${ANY} ms; it joins a full VM's queue when it expects at most 100 ms. Break-even utilisation u* = 35%: the cost model wants ${p.targetVms} VMs (the last one ${ANY}% busy); another would be ${ANY}% busy (T-CIP: the rest of the load and its bursts go to FaaS). Scale-down hysteresis keeps 30 (wanted within the last 300 s). Bounded by vm.min 1 / vm.max 20. 3 running, 2 booting: FaaS carries the gap until they register (VM share now ${ANY}%). ${costs(c)}`,
    );
  });
  it("a group held by hysteresis that costs more than FaaS at its own optimum says why it is kept", () => {
    const state = { ...initialPolicyState(), wanted: [[590, 4]] as Array<[number, number]>, vmGroupStart: 1 };
    const cfg = groupConfig({ prices: "lambda", faas_deep: "separate", slo_ms: 300 });
    const p = plan(state, obs(flat(300, 600), [15, 30, 90], 4), cfg, 600).plan;
    expect(p.targetVms).toBe(0);
    expect(p.desiredVms).toBe(4);
    expect(p.reason).toMatch(
      reason`VM group stages 1-2 (reached by 50% of requests at 300.0 req/s (recent, time-weighted)) on 4 VMs of 2 slots: the cheapest option that meets the 300 ms SLO for 99% of requests. All on FaaS would cost ${usd(p.expectedCostUsdPerHour.faasOnlyUsdPerHour)} with 100% within the SLO; this plan expects 100%. Stage 0 on Workers; other groups: from stage 2: 1 VM(s) would cost $${ANY}/h, not less than $${ANY}/h all on FaaS. Kept although 2 VM(s) would cost $${ANY}/h, not less than $${ANY}/h all on FaaS. A request may wait up to 100 ms for a slot on a full VM (SLO minus the path's p99 without waiting; 8 places per VM), mean wait ${ANY} ms; it joins a full VM's queue when it expects at most 100 ms. Break-even utilisation u* = 25%: the cost model wants 0 VMs; another would be ${ANY}% busy (T-CIP: the rest of the load and its bursts go to FaaS). Scale-down hysteresis keeps 4 (wanted within the last 300 s). ${costs(p.expectedCostUsdPerHour)}`,
    );
  });
  it("sized for the SLO: the fewest VMs that bring the attainment up, one VM, none running yet", () => {
    const p = plan(
      initialPolicyState(),
      obs(flat(5, 600), [15, 30, 90]),
      groupConfig({ slo_ms: 80 }, { queue_ms: 0 }),
      600,
    ).plan;
    expect(p.reason).toMatch(
      reason`VM group stages 1-2 (reached by 50% of requests at 5.0 req/s (recent, time-weighted)) on 1 VM of 2 slots: the cheapest option that meets the 80 ms SLO for 99% of requests. All on FaaS would cost ${usd(p.expectedCostUsdPerHour.faasOnlyUsdPerHour)} with 75% within the SLO; this plan expects ${ANY}%. Stage 0 on Workers; other groups: from stage 2 (reached by 25%) a first VM would be ${ANY}% busy < ${ANY}%, break-even u* 12% x 1.16 to repay its boot while the load lasts. A request may wait up to 0 ms for a slot on a full VM (SLO minus the path's p99 without waiting; 0 places per VM), mean wait 0.0 ms; it joins a full VM's queue when it expects at most 0 ms. 1 VM: the fewest that bring the attainment up to ${ANY}% (the cost optimum alone would leave the SLO to FaaS). 0 running, 0 booting: FaaS carries the gap until they register (VM share now 0.0%). ${costs(p.expectedCostUsdPerHour)}`,
    );
  });
  it("all on Workers: the groups that save nothing, and the SLO none meets", () => {
    const p = plan(initialPolicyState(), obs(flat(2, 600)), groupConfig({ prices: "lambda" }), 600).plan;
    expect(p.reason).toMatch(
      reason`All 3 stages on Workers at 2.0 req/s (recent, time-weighted): the cheapest option that meets the 10000 ms SLO for 99% of requests (expected 100% within the SLO); no VM group does better (S-CIP): from stage 1 (reached by 50%): a VM saves nothing per request there; from stage 2 (reached by 25%): a VM saves nothing per request there. Expected ${usd(p.expectedCostUsdPerHour.faasOnlyUsdPerHour)} on FaaS.`,
    );
    const none = plan(
      initialPolicyState(),
      obs(flat(5, 600), [15, 30, 90]),
      groupConfig({ slo_ms: 60 }, { queue_ms: 0 }),
      600,
    );
    expect(none.plan.reason).toMatch(
      reason`All 3 stages on Workers at 5.0 req/s (recent, time-weighted): no option meets the 60 ms SLO for 99% of requests: the best attainment, then the lowest cost (expected 75% within the SLO); no VM group does better (S-CIP): from stage 1 (reached by 50%) a first VM would be ${ANY}% busy < ${ANY}%, break-even u* 12% x 1.16 to repay its boot while the load lasts; from stage 2 (reached by 25%) a first VM would be ${ANY}% busy < ${ANY}%, break-even u* 12% x 1.16 to repay its boot while the load lasts. Expected ${usd(none.plan.expectedCostUsdPerHour.faasOnlyUsdPerHour)} on FaaS.`,
    );
  });
  it("a level shift and a rising trend are named with the rate; a spent error budget with the SLO", () => {
    // 40 s rising from 1000 by 10 req/s each second: the level is the last 15 s (1250-1390).
    const rising = [...flat(10, 600), ...Array.from({ length: 40 }, (_, i) => 1000 + 10 * i)];
    const p = plan(initialPolicyState(), obs(rising), groupConfig({ forecast: true }), 640).plan;
    expect(p.reason).toMatch(
      reason`All 3 stages on Workers at ${ANY} req/s (level shift: the last periods at 1320.0 req/s for 40 s, weighed by the chance it outlasts a boot and hold), +${ANY} req/s rising trend over the boot time: the cheapest option that meets the 10000 ms SLO for 99% of requests (expected 100% within the SLO); no VM group does better (S-CIP): from stage 1 (reached by 50%) a first VM would be ${ANY}% busy < ${ANY}%, break-even u* 35% x ${ANY} to repay its boot while the load lasts; from stage 2 (reached by 25%) a first VM would be ${ANY}% busy < ${ANY}%, break-even u* 35% x ${ANY} to repay its boot while the load lasts. Expected ${usd(p.expectedCostUsdPerHour.faasOnlyUsdPerHour)} on FaaS.`,
    );
    const budget = { ...initialPolicyState(), slo: { requests: 1e6, within: 0.995e6, atS: 600 } };
    const spent = plan(budget, obs(flat(5, 600), [15, 30, 90]), groupConfig({ slo_ms: 80 }, { queue_ms: 0 }), 600).plan;
    expect(spent.reason).toMatch(
      /meets the 80 ms SLO for 99% of requests \(99\.50% expected within it over the last day: this period needs 9[\d.]+% to keep 99%\)\./,
    );
  });
});

describe("plan: the group behind held VMs, and the plan's fields", () => {
  const held = (vmGroupStart: number | null) => ({
    ...initialPolicyState(),
    wanted: [[590, 4]] as Array<[number, number]>,
    vmGroupStart,
    desiredVms: 4,
  });
  it("VMs held while FaaS is chosen keep the current group if it can run, else the cheapest that saves, else the cheapest", () => {
    const quiet = obs(flat(2, 600), undefined, 4);
    const kept = plan(held(2), quiet, groupConfig(), 600).plan;
    expect(kept.targetVms).toBe(0);
    expect(kept.desiredVms).toBe(4);
    expect(kept.vmGroupStart).toBe(2);
    expect(kept.stages.map((s) => s.placement)).toEqual(["worker", "worker", "vm"]);
    // No current group: the cheapest group that saves (from stage 1 here).
    const cheapest = plan(held(null), quiet, groupConfig(), 600).plan;
    expect(cheapest.vmGroupStart).toBe(1);
    expect(cheapest.breakEvenUtilisation).toBeCloseTo((0.05 / 3600 / 2) * (0.0125 / (12.5 * 0.02e-6)), 4);
    // At Lambda prices no group saves anything: still one runs the held VMs, with no break-even to show.
    const none = plan(held(null), quiet, groupConfig({ prices: "lambda" }), 600).plan;
    expect(none.vmGroupStart).toBe(1);
    expect(none.desiredVms).toBe(4);
    expect(none.breakEvenUtilisation).toBeNull();
  });
  it("the share carried now is what the running VMs carry; without VMs no group, no budget, no admission", () => {
    const running = plan(held(1), obs(flat(2, 600), undefined, 4), groupConfig(), 600).plan;
    expect(running.stages.map((s) => s.vmShare)).toEqual([0, 1, 1]);
    expect(running.waitBudgetMs).toBe(100);
    expect(running.admitWaitMs).toBe(100);
    const booting = plan(held(1), obs(flat(2, 600), undefined, 0, 4), groupConfig(), 600).plan;
    expect(booting.stages.map((s) => s.vmShare)).toEqual([0, 0, 0]);
    expect(booting.stages.map((s) => s.placement)).toEqual(["worker", "vm", "vm"]);
    // vm.min VMs take a group too.
    const floor = plan(initialPolicyState(), obs(flat(2, 600)), groupConfig({}, { min: 2 }), 600).plan;
    expect(floor.desiredVms).toBe(2);
    expect(floor.vmGroupStart).toBe(1);
    const faas = plan(initialPolicyState(), obs(flat(2, 600)), groupConfig(), 600).plan;
    expect(faas.vmGroupStart).toBeNull();
    expect([faas.desiredVms, faas.waitBudgetMs, faas.admitWaitMs, faas.breakEvenUtilisation]).toEqual([0, 0, 0, null]);
    expect(faas.stages.map((s) => s.placement)).toEqual(["worker", "worker", "worker"]);
  });
  it("sized for the SLO: the fewest VMs that reach the target with its margin (99.5%), at most vm.max", () => {
    // SLO 80 ms: a request going to stage 2 meets it only on a VM (75 ms; 135 on FaaS).
    const o = obs(flat(50, 600), [15, 30, 90]);
    const sized = plan(initialPolicyState(), o, groupConfig({ slo_ms: 80 }, { queue_ms: 0 }), 600).plan;
    expect(sized.targetVms).toBe(2);
    expect(sized.expectedSloAttainment).toBeGreaterThanOrEqual(0.995);
    expect(sized.reason).toMatch(/2 VMs: the fewest that bring the attainment up to/);
    const one = plan(initialPolicyState(), o, groupConfig({ slo_ms: 80 }, { queue_ms: 0, max: 1 }), 600).plan;
    expect(one.targetVms).toBe(1);
    expect(one.expectedSloAttainment).toBeLessThan(0.995);
  });
  it("sized for the SLO where VMs cannot reach it: the count past which one more VM gains less than a tie", () => {
    // VM times with a long tail (p99 three times the median): a VM path misses a 100-ms SLO for a few %.
    const tail = (m: number, k: number) => ({ mean: m, p50: m, p95: m * (1 + (k - 1) * 0.7), p99: m * k });
    const o: Observations = {
      ...obs(flat(50, 600)),
      stages: obs(flat(50, 600)).stages.map((s, i) => ({
        ...s,
        vmMs: tail([5, 10, 30][i], 3),
        faasMs: tail([15, 30, 90][i], 1.2),
      })),
    };
    const at = (max: number) =>
      plan(initialPolicyState(), o, groupConfig({ slo_ms: 100 }, { queue_ms: 0, max }), 600).plan;
    const sized = at(50);
    expect(sized.targetVms).toBe(2);
    expect(sized.expectedSloAttainment).toBeLessThan(0.99);
    expect(sized.reason).toMatch(/2 VMs: the fewest that bring the attainment up to/);
    expect(sized.expectedSloAttainment - at(1).expectedSloAttainment).toBeGreaterThan(1e-3);
    expect(Math.abs(at(3).expectedSloAttainment - sized.expectedSloAttainment)).toBeLessThan(1e-3);
  });
});
