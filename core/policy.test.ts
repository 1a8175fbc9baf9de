// The policy ticked control period by control period: no sleeps, time is a number.
import { describe, expect, it } from "vitest";
import { parseControlConfig, type ControlConfig } from "./config.js";
import type { Placement } from "./manifest.js";
import {
  erlangB,
  initialPolicyState,
  plan,
  reach,
  type Observations,
  type Plan,
  type PolicyState,
  type StageObservation,
} from "./policy.js";

const ms = (m: number) => ({ mean: m, p50: m, p95: 1.5 * m, p99: 2 * m });
const stage = (
  exitFraction: number,
  vmMs = 20,
  faasMs = 40,
  allowed?: StageObservation["allowed"],
): StageObservation => ({
  exitFraction,
  vmMs: ms(vmMs),
  faasMs: ms(faasMs),
  stateBytes: 4096,
  ...(allowed ? { allowed } : {}),
});

// Workers prices; a cheap VM of 4 slots: deep stages pay off on VMs when many requests reach them.
const CFG = parseControlConfig({
  vm: { usd_per_hour: 0.05, concurrency: 4, boot_s: 60, min: 0, max: 50 },
  slo_ms: 500,
  control_period_s: 5,
  scale_down_delay_s: 300,
});

function obs(perSecond: number[], exits: number[], running = 0, booting = 0): Observations {
  return { stages: exits.map((e) => stage(e)), rate: { perSecond }, vms: { running, booting } };
}

interface Tick {
  t: number;
  plan: Plan;
  running: number;
  booting: number;
}

/**
 * Ticks the policy every control period over a per-second rate series, with a provider that starts the
 * VMs the plan desires and has them running bootTimeS later (removals are immediate).
 */
function run(series: number[], exitsAt: (t: number) => number[], cfg: ControlConfig = CFG): Tick[] {
  let state: PolicyState = initialPolicyState();
  let vms: number[] = []; // ready times
  const out: Tick[] = [];
  for (let t = cfg.controlPeriodS; t <= series.length; t += cfg.controlPeriodS) {
    const running = vms.filter((r) => r <= t).length;
    const booting = vms.length - running;
    const window = series.slice(Math.max(0, t - cfg.windowS), t);
    const r = plan(state, obs(window, exitsAt(t), running, booting), cfg, t);
    state = JSON.parse(JSON.stringify(r.state)); // the DO stores it as JSON
    const want = r.plan.desiredVms;
    if (want > vms.length) vms = vms.concat(Array(want - vms.length).fill(t + cfg.vm.bootTimeS));
    else if (want < vms.length) vms = vms.sort((a, b) => b - a).slice(vms.length - want); // booting ones go first
    out.push({ t, plan: r.plan, running, booting });
  }
  return out;
}

const constant = (rps: number, s: number) => Array<number>(s).fill(rps);

describe("arithmetic", () => {
  it("reach multiplies the survivors of earlier exits", () => {
    expect(reach([stage(0.5), stage(0.2), stage(1)])).toEqual([1, 0.5, 0.4]);
  });
  it("Erlang-B matches hand computation", () => {
    // B(1,1) = 1/2, B(2,1) = (1/2)/(2+1/2) = 1/5, B(3,1) = (1/5)/(3+1/5) = 1/16.
    const b = erlangB(1, 3);
    expect(b[1]).toBeCloseTo(0.5, 12);
    expect(b[2]).toBeCloseTo(0.2, 12);
    expect(b[3]).toBeCloseTo(1 / 16, 12);
  });
  it("costs of the plan match hand computation", () => {
    // One stage, 100 req/s, 10 ms on both tiers, 1 slot per VM: offered load A = 1 Erlang.
    // Saving per request on a VM = fee + CPU = 0.3e-6 + 10 * 0.02e-6 = 0.5e-6 $; W = 0.01 s.
    // VM at $0.036/h = 1e-5 $/s -> u* = 1e-5 * 0.01 / 0.5e-6 = 0.2.
    // n-th VM utilisation: 1 - B(1) = 0.5; B(1) - B(2) = 0.3; B(2) - B(3) = 0.1375 < 0.2 -> 2 VMs.
    const cfg = parseControlConfig({
      vm: { usd_per_hour: 0.036, concurrency: 1, boot_s: 0, max: 10 },
      entry: "router",
      slo_ms: 100,
    });
    const o: Observations = {
      stages: [stage(1, 10, 10)],
      rate: { perSecond: constant(100, 600) },
      vms: { running: 2, booting: 0 },
    };
    const { plan: p } = plan(initialPolicyState(), o, cfg, 0);
    expect(p.breakEvenUtilisation).toBeCloseTo(0.2, 4);
    expect(p.targetVms).toBe(2);
    expect(p.vmGroupStart).toBe(0);
    // FaaS-only: 100 * 0.5e-6 $/s. With 2 VMs, B(2,1) = 0.2 of the requests overflow to FaaS.
    expect(p.expectedCostUsdPerHour.faasOnlyUsdPerHour).toBeCloseTo(100 * 0.5e-6 * 3600, 9);
    expect(p.expectedCostUsdPerHour.vmUsdPerHour).toBeCloseTo(0.072, 9);
    expect(p.expectedCostUsdPerHour.faasUsdPerHour).toBeCloseTo(100 * 0.2 * 0.5e-6 * 3600, 9);
    expect(p.expectedCostUsdPerHour.totalUsdPerHour).toBeCloseTo(0.072 + 0.036, 9);
    expect(p.stages[0].vmShare).toBeCloseTo(0.8, 4);
  });
  it("with separate deep invocations, the group's overflow pays one more fee", () => {
    // Stage 0 on the Worker (entry), stage 1 reached by half the requests. Group {1}:
    // saving per request reaching 1 = fee + CPU(40 ms) = 0.3e-6 + 0.8e-6; W = 0.5 * 0.02 s.
    const o = obs(constant(100, 600), [0.5, 1]);
    const { plan: p } = plan(initialPolicyState(), o, { ...CFG, faasDeep: "separate" }, 0);
    const fee = 0.3e-6;
    const cpu = 40 * 0.02e-6;
    expect(p.expectedCostUsdPerHour.faasOnlyUsdPerHour).toBeCloseTo(100 * (fee + cpu + 0.5 * cpu) * 3600, 9);
    expect(p.vmGroupStart).toBe(1);
    const uStar = ((0.05 / 3600 / 4) * (0.5 * 0.02)) / (0.5 * (fee + cpu));
    expect(p.breakEvenUtilisation).toBeCloseTo(uStar, 4);
    // Expected cost = VMs + FaaS-only + overflow fee - carried savings, with A = 50 * 0.02 = 1 Erlang.
    const n = p.targetVms;
    const B = erlangB(1, n * 4)[n * 4];
    const faas = 100 * (fee + cpu + 0.5 * cpu) + 100 * 0.5 * fee - 100 * 0.5 * (1 - B) * (fee + cpu);
    expect(p.expectedCostUsdPerHour.faasUsdPerHour).toBeCloseTo(faas * 3600, 5);
    expect(p.expectedCostUsdPerHour.totalUsdPerHour).toBeLessThan(p.expectedCostUsdPerHour.faasOnlyUsdPerHour);
  });
});

describe("placement (S-CIP)", () => {
  it("with inline deep stages, a VM saves only the deep stages' compute", () => {
    const o = obs(constant(100, 600), [0.5, 1]);
    const { plan: p } = plan(initialPolicyState(), o, CFG, 0);
    const uStar = ((0.05 / 3600 / 4) * (0.5 * 0.02)) / (0.5 * 40 * 0.02e-6);
    expect(p.breakEvenUtilisation).toBeCloseTo(uStar, 4);
  });
  it("a stage reached by few requests stays on FaaS; the same rate reaching it goes to VMs", () => {
    const few = plan(initialPolicyState(), obs(constant(100, 600), [0.97, 0, 1]), CFG, 0).plan;
    expect(few.vmGroupStart).toBeNull();
    expect(few.desiredVms).toBe(0);
    expect(few.stages.map((s) => s.placement)).toEqual(["worker", "worker", "worker"]);
    expect(few.reason).toMatch(/S-CIP/);
    expect(few.reason).toMatch(/reached by 3\.0%/);
    const many = plan(initialPolicyState(), obs(constant(100, 600), [0, 0, 1]), CFG, 0).plan;
    expect(many.vmGroupStart).toBe(1);
    expect(many.desiredVms).toBeGreaterThan(0);
    expect(many.stages.map((s) => s.placement)).toEqual(["worker", "vm", "vm"]);
    expect(many.reason).toMatch(/VM group stages 1-2/);
  });
  it("the group starts where it is cheapest: a big hidden state keeps the hand-over after stage 1", () => {
    // Stage 0 hands 1 MB of hidden state to stage 1, stage 1 hands 4 KB to stage 2; the hop is priced.
    // Starting the group at 2 moves 250x fewer bytes than starting it at 1.
    const o: Observations = {
      stages: [stage(0, 5, 10), stage(0.5, 5, 10), stage(1, 50, 100)],
      rate: { perSecond: constant(200, 600) },
      vms: { running: 0, booting: 0 },
    };
    o.stages[0].stateBytes = 1e6;
    const cfg = parseControlConfig({
      vm: { usd_per_hour: 0.05, concurrency: 4, max: 50 },
      slo_ms: 2000,
      transfer_usd_per_gb: 0.09,
    });
    const p = plan(initialPolicyState(), o, cfg, 0).plan;
    expect(p.vmGroupStart).toBe(2);
    expect(p.reason).toMatch(/stages 0-1 on Workers/);
  });
  it("the manifest's placement is honoured: worker pins keep a stage off VMs, vm pins pull the group", () => {
    const pinned = obs(constant(100, 600), [0, 0, 1]);
    pinned.stages[2].allowed = "worker";
    expect(plan(initialPolicyState(), pinned, CFG, 0).plan.vmGroupStart).toBeNull();
    // Stage 1 costs a Worker 1 ms and a VM 20 ms: left free, the group starts at stage 2.
    const free = { ...obs(constant(100, 600), [0, 0, 1]), stages: [stage(0), stage(0, 20, 1), stage(1)] };
    expect(plan(initialPolicyState(), free, CFG, 0).plan.vmGroupStart).toBe(2);
    const forced = { ...free, allowedPlacement: ["auto", "vm", "auto"] as Placement[] };
    expect(plan(initialPolicyState(), forced, CFG, 0).plan.vmGroupStart).toBe(1);
  });
  it("a group whose tail latency misses the SLO is not used", () => {
    const cfg = parseControlConfig({ vm: { usd_per_hour: 0.05, concurrency: 4, max: 50 }, slo_ms: 60 });
    const p = plan(initialPolicyState(), obs(constant(100, 600), [0, 0, 1]), cfg, 0).plan;
    expect(p.vmGroupStart).toBeNull();
    expect(p.reason).toMatch(/exceeds the 60 ms SLO/);
  });
});

describe("scaling over time (T-CIP, look-ahead, hysteresis)", () => {
  const exits = () => [0, 0, 1];
  it("a step up raises VMs only once the new level has lasted, and FaaS carries the gap until they boot", () => {
    const series = [...constant(20, 1200), ...constant(200, 1200)];
    const ticks = run(series, exits);
    const before = ticks.filter((t) => t.t <= 1200).at(-1)!.plan.desiredVms;
    const after = ticks.at(-1)!.plan.desiredVms;
    expect(after).toBeGreaterThan(before);
    // Not at the first tick after the step: a burst shorter than a boot is not worth a VM.
    const first = ticks.find((t) => t.t > 1200)!;
    expect(first.plan.desiredVms).toBe(before);
    const up = ticks.find((t) => t.t > 1200 && t.plan.desiredVms > before)!;
    expect(up.t - 1200).toBeGreaterThanOrEqual(10);
    expect(up.t - 1200).toBeLessThanOrEqual(CFG.vm.bootTimeS * 3);
    // Until the new VMs run, the plan's VM share is below what the desired count will carry.
    const boot = ticks.filter((t) => t.t > up.t && t.t < up.t + CFG.vm.bootTimeS);
    expect(boot.length).toBeGreaterThan(0);
    for (const t of boot) expect(t.running).toBeLessThan(t.plan.desiredVms);
    const settled = ticks.at(-1)!;
    expect(settled.running).toBe(settled.plan.desiredVms);
    expect(boot[0].plan.stages[1].vmShare).toBeLessThan(settled.plan.stages[1].vmShare);
    expect(boot[0].plan.reason).toMatch(/FaaS carries the gap/);
  });
  it("a drop scales down only after the hysteresis delay", () => {
    const series = [...constant(200, 1200), ...constant(20, 1200)];
    const ticks = run(series, exits);
    const high = ticks.find((t) => t.t === 1200)!.plan.desiredVms;
    const lowTarget = ticks.at(-1)!.plan.desiredVms;
    expect(lowTarget).toBeLessThan(high);
    const firstLowerTarget = ticks.find((t) => t.t > 1200 && t.plan.targetVms < high)!;
    const firstLowerDesired = ticks.find((t) => t.t > 1200 && t.plan.desiredVms < high)!;
    // The last tick that wanted the high count was one period before the first lower target.
    expect(firstLowerDesired.t - (firstLowerTarget.t - CFG.controlPeriodS)).toBeGreaterThanOrEqual(CFG.scaleDownDelayS);
    expect(ticks.find((t) => t.t === firstLowerDesired.t - CFG.controlPeriodS)!.plan.reason).toMatch(
      /hysteresis keeps/,
    );
  });
  it("a change of exit fractions moves the plan", () => {
    // At t = 1200 most requests start to exit at stage 0: the deep group no longer pays.
    const ticks = run(constant(100, 2400), (t) => (t <= 1200 ? [0, 0, 1] : [0.97, 0, 1]));
    expect(ticks.find((t) => t.t === 1200)!.plan.vmGroupStart).toBe(1);
    expect(ticks.find((t) => t.t === 1205)!.plan.targetVms).toBe(0);
    const last = ticks.at(-1)!.plan;
    expect(last.vmGroupStart).toBeNull();
    expect(last.desiredVms).toBe(0);
  });
  it("steady load gives a steady plan (no flapping)", () => {
    let seed = 7;
    const noisy = Array.from({ length: 3600 }, () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return 100 + ((seed / 2 ** 31) * 20 - 10);
    });
    const ticks = run(noisy, exits).filter((t) => t.t > 900);
    const counts = new Set(ticks.map((t) => t.plan.desiredVms));
    expect(counts.size).toBeLessThanOrEqual(2);
    expect(new Set(ticks.map((t) => t.plan.vmGroupStart)).size).toBe(1);
  });
  it("vm.min and vm.max bound the count", () => {
    const min = parseControlConfig({ vm: { usd_per_hour: 0.05, concurrency: 4, min: 2, max: 3 }, slo_ms: 500 });
    const idle = plan(initialPolicyState(), obs(constant(0, 600), [0, 0, 1]), min, 0).plan;
    expect(idle.desiredVms).toBe(2);
    expect(idle.vmGroupStart).not.toBeNull();
    const busy = plan(initialPolicyState(), obs(constant(500, 600), [0, 0, 1]), min, 0).plan;
    expect(busy.desiredVms).toBe(3);
  });
  it("the state is JSON and an old or missing state is tolerated", () => {
    const { state } = plan(initialPolicyState(), obs(constant(100, 600), [0, 0, 1]), CFG, 10);
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
    const legacy = { desiredVms: 3, lowerSinceS: null } as unknown as PolicyState;
    const p = plan(legacy, obs(constant(0, 600), [0, 0, 1]), CFG, 20).plan;
    expect(p.desiredVms).toBe(0);
    const empty = plan(
      initialPolicyState(),
      { stages: [stage(1)], rate: { perSecond: [] }, vms: { running: 0, booting: 0 } },
      CFG,
      0,
    ).plan;
    expect(empty.desiredVms).toBe(0);
    expect(empty.reason.length).toBeGreaterThan(20);
  });
});
