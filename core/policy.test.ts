// The policy ticked control period by control period: no sleeps, time is a number.
import { describe, expect, it } from "vitest";
import { parseControlConfig, type ControlConfig } from "./config.js";
import { initialPolicyState, nthVmUtilisation, plan, reach, type Observations, type PolicyState, type StageObservation } from "./policy.js";

// A stage costs 20 ms on a Worker and 10 ms on a VM; a VM of 4 slots costs $0.50/h: VMs pay off when busy.
const CFG: ControlConfig = parseControlConfig({ vm: { usd_per_hour: 0.5, concurrency: 4, boot_s: 60, min: 0, max: 20 }, slo_ms: 500, control_period_s: 5, scale_down_delay_s: 120 });
const ms = (m: number) => ({ mean: m, p50: m, p95: 2 * m, p99: 3 * m });
const stage = (exitFraction: number, allowed: StageObservation["allowed"] = "auto"): StageObservation => ({ exitFraction, vmMs: ms(10), faasMs: ms(20), stateBytes: 4096, allowed });
const obsAt = (rps: number | number[], exits = [0.5, 0.5, 1], running = 0): Observations => ({
  stages: exits.map((e, i) => stage(e, i === 0 ? "worker" : "auto")),
  rate: { perSecond: Array.isArray(rps) ? rps : Array(600).fill(rps) },
  vms: { running, booting: 0 },
});

/** Ticks the policy every control period over a per-second rate series, returning desired VMs per tick. */
function run(series: number[], cfg = CFG, exits = [0.5, 0.5, 1]) {
  let state: PolicyState = initialPolicyState();
  const out: { t: number; desired: number; plan: ReturnType<typeof plan>["plan"] }[] = [];
  for (let t = cfg.controlPeriodS; t <= series.length; t += cfg.controlPeriodS) {
    const window = series.slice(Math.max(0, t - cfg.windowS), t);
    const r = plan(state, obsAt(window, exits), cfg, t);
    state = r.state;
    out.push({ t, desired: r.plan.desiredVms, plan: r.plan });
  }
  return out;
}

describe("break-even arithmetic", () => {
  it("reach multiplies the survivors of earlier exits", () => {
    expect(reach([stage(0.5), stage(0.2), stage(1)])).toEqual([1, 0.5, 0.4]);
  });
  it("the n-th VM's expected utilisation matches hand computation", () => {
    // L samples 2, 6, 10 slot-seconds/s with k = 4: VM1 fills min(L,4) = 2,4,4 -> 10/12; VM2: 0,2,4 -> 6/12.
    expect(nthVmUtilisation([2, 6, 10], 1, 4)).toBeCloseTo(10 / 12);
    expect(nthVmUtilisation([2, 6, 10], 2, 4)).toBeCloseTo(6 / 12);
    expect(nthVmUtilisation([2, 6, 10], 3, 4)).toBeCloseTo(2 / 12);
  });
  it("plan costs match hand computation", () => {
    // 100 req/s, everything exits at stage 0 except half, which reaches stage 1, then all exit.
    const o = obsAt(100, [0.5, 1]);
    o.stages = [stage(0.5, "worker"), stage(1)];
    const { plan: p } = plan(initialPolicyState(), o, CFG, 0);
    const fee = 0.3 / 1e6;
    const cpu = (m: number) => (m * 0.02) / 1e6;
    const faasOnly = 100 * (fee + cpu(20) + 0.5 * (fee + cpu(20)));
    expect(p.expectedCostUsdPerHour.faasOnlyUsdPerHour).toBeCloseTo(faasOnly * 3600, 6);
    // Group {1}: 50 req/s x 10 ms = 0.5 slot-s/s; u* = (0.5/3600/4) / ((fee + cpu(20)) / 0.010).
    const uStar = 0.5 / 3600 / 4 / ((fee + cpu(20)) / 0.01);
    if (p.vmGroupStart === 1) expect(p.breakEvenUtilisation).toBeCloseTo(uStar, 4);
    expect(p.expectedCostUsdPerHour.totalUsdPerHour).toBeLessThanOrEqual(p.expectedCostUsdPerHour.faasOnlyUsdPerHour + 1e-9);
  });
});

describe("placement (S-CIP)", () => {
  it("a stage reached by few requests stays on Workers, and the reason says why", () => {
    const { plan: p } = plan(initialPolicyState(), obsAt(2), CFG, 0);
    expect(p.vmGroupStart).toBeNull();
    expect(p.desiredVms).toBe(0);
    expect(p.stages.every((s) => s.placement === "worker")).toBe(true);
    expect(p.reason).toMatch(/All stages on Workers \(S-CIP\)/);
    expect(p.reason).toMatch(/break-even/);
  });
  it("enough traffic puts the deep stages on VMs", () => {
    const { plan: p } = plan(initialPolicyState(), obsAt(400), CFG, 0);
    expect(p.vmGroupStart).toBe(1);
    expect(p.desiredVms).toBeGreaterThan(0);
    expect(p.stages.map((s) => s.placement)).toEqual(["worker", "vm", "vm"]);
    expect(p.reason).toMatch(/Stages 1-2 on VMs/);
  });
  it("a change of exit fractions moves the plan", () => {
    // Same entry rate: when most requests exit at stage 0, the deep stages no longer pay for a VM.
    const deep = plan(initialPolicyState(), obsAt(300, [0.2, 0.2, 1]), CFG, 0).plan;
    const shallow = plan(initialPolicyState(), obsAt(300, [0.98, 0.5, 1]), CFG, 0).plan;
    expect(deep.desiredVms).toBeGreaterThan(0);
    expect(shallow.desiredVms).toBe(0);
    expect(shallow.vmGroupStart).toBeNull();
  });
  it("a group that would miss the SLO stays on Workers", () => {
    const tight = parseControlConfig({ vm: { usd_per_hour: 0.5, concurrency: 4, boot_s: 60, max: 20 }, slo_ms: 10 });
    const { plan: p } = plan(initialPolicyState(), obsAt(400), tight, 0);
    expect(p.vmGroupStart).toBeNull();
    expect(p.reason).toMatch(/miss the 10 ms SLO/);
  });
  it("vm.min VMs are used for the deep stages even when they would not pay", () => {
    const cfg = parseControlConfig({ vm: { usd_per_hour: 0.5, concurrency: 4, boot_s: 60, min: 1, max: 3 } });
    const { plan: p } = plan(initialPolicyState(), obsAt(1), cfg, 0);
    expect(p.desiredVms).toBe(1);
    expect(p.vmGroupStart).toBe(1);
  });
});

describe("pool size over time (T-CIP, look-ahead, hysteresis)", () => {
  const low = Array(600).fill(20);
  const high = Array(600).fill(400);

  it("a step up raises VMs within the look-ahead window; Workers carry the boot gap", () => {
    const ticks = run([...low, ...high]);
    const before = ticks.find((t) => t.t === 600)!;
    const after = ticks.find((t) => t.t === 630)!;
    expect(after.desired).toBeGreaterThan(before.desired);
    expect(after.plan.reason).toMatch(/Scaling up|Stages 1-2 on VMs/);
    // The plan routes the share VMs cannot take to Workers: vmShare < 1 while the step is partial.
    expect(after.plan.stages[1].vmShare).toBeGreaterThan(0);
  });

  it("the pool is sized from the rate distribution, not mean + 1 sigma", () => {
    // Rare spikes: mean + 1 sigma would provision for them; the break-even rule does not.
    const spiky = Array.from({ length: 600 }, (_, i) => (i % 60 === 0 ? 4000 : 400));
    const t = run(spiky).at(-1)!;
    const mean = spiky.reduce((a, b) => a + b, 0) / spiky.length;
    const sd = Math.sqrt(spiky.reduce((a, b) => a + (b - mean) ** 2, 0) / spiky.length);
    const libraVms = Math.ceil(((mean + sd) * 0.5 * 0.01 + (mean + sd) * 0.25 * 0.01) / (4 * 0.9));
    expect(t.desired).toBeLessThan(libraVms);
    expect(t.desired).toBeGreaterThan(0);
  });

  it("a drop scales down only after the hysteresis", () => {
    const series = [...high, ...Array(900).fill(5)];
    const ticks = run(series);
    const peak = ticks.find((t) => t.t === 600)!.desired;
    expect(peak).toBeGreaterThan(0);
    // The recent distribution forgets the peak after MIN_DISTRIBUTION_S..2 x boot; then 120 s of hysteresis.
    const firstLower = ticks.find((t) => t.t > 600 && t.desired < peak)!;
    const targetDropped = ticks.find((t) => t.t > 600 && t.plan.targetVms < peak)!;
    expect(firstLower.t - targetDropped.t).toBeGreaterThanOrEqual(CFG.scaleDownDelayS);
    expect(ticks.at(-1)!.desired).toBe(0);
  });

  it("respects vm.max", () => {
    const cfg = parseControlConfig({ vm: { usd_per_hour: 0.5, concurrency: 4, boot_s: 60, max: 2 } });
    expect(run(Array(600).fill(2000)).at(-1)!.desired).toBeGreaterThan(2);
    expect(run(Array(600).fill(2000), cfg).at(-1)!.desired).toBeLessThanOrEqual(2);
  });
});
