// The policy ticked control period by control period: no sleeps, time is a number.
import { describe, expect, it } from "vitest";
import { parseControlConfig, type ControlConfig } from "./config.js";
import { LAMBDA_PRICES } from "./cost.js";
import { rememberMinutes } from "./daily.js";
import {
  fentonWilkinson,
  lognormalCdf,
  lognormalFromMedianP99,
  lognormalMean,
  lognormalQuantile,
} from "./lognormal.js";
import type { Placement } from "./manifest.js";
import {
  admitWaitMs,
  applyBounds,
  boundedQueue,
  chooseGroup,
  erlangB,
  holdForScaleDown,
  initialPolicyState,
  levelShift,
  PathSampler,
  trendRise,
  plan,
  readLoad,
  workerFromVm,
  reach,
  type Observations,
  type Plan,
  type PolicyState,
  QUEUE_ADMIT_SHARE,
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
const RAW_CFG = {
  vm: { usd_per_hour: 0.05, concurrency: 4, boot_s: 60, min: 0, max: 50 },
  slo_ms: 500,
  control_period_s: 5,
  scale_down_delay_s: 300,
};
const CFG = parseControlConfig(RAW_CFG);

// Stage 0 pinned to the Worker, as the bundled models' manifests do (the Worker runs it where requests enter).
function obs(perSecond: number[], exits: number[], running = 0, booting = 0): Observations {
  return {
    stages: exits.map((e, i) => stage(e, 20, 40, i === 0 ? "worker" : undefined)),
    rate: { perSecond },
    vms: { running, booting },
  };
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
function run(
  series: number[],
  exitsAt: (t: number) => number[],
  cfg: ControlConfig = CFG,
  from = cfg.controlPeriodS,
  state0 = initialPolicyState(),
): Tick[] {
  let state: PolicyState = state0;
  let vms: number[] = []; // ready times
  const out: Tick[] = [];
  for (let t = from; t <= series.length; t += cfg.controlPeriodS) {
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
      vm: { usd_per_hour: 0.036, concurrency: 1, boot_s: 0, max: 10, queue_ms: 0 },
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
    const cfg = { ...CFG, faasDeep: "separate" as const, vm: { ...CFG.vm, queueMs: 0 } };
    const { plan: p } = plan(initialPolicyState(), o, cfg, 0);
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
      stages: [stage(0, 5, 10, "worker"), stage(0.5, 5, 10), stage(1, 50, 100)],
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
    expect(p.reason).toMatch(/Stages 0-1 on Workers/);
  });
  it("the manifest's placement is honoured: worker pins keep a stage off VMs, vm pins pull the group", () => {
    const pinned = obs(constant(100, 600), [0, 0, 1]);
    pinned.stages[2].allowed = "worker";
    expect(plan(initialPolicyState(), pinned, CFG, 0).plan.vmGroupStart).toBeNull();
    // Stage 1 costs a Worker 1 ms and a VM 20 ms: left free, the group starts at stage 2.
    const free = {
      ...obs(constant(100, 600), [0, 0, 1]),
      stages: [stage(0, 20, 40, "worker"), stage(0, 20, 1), stage(1)],
    };
    expect(plan(initialPolicyState(), free, CFG, 0).plan.vmGroupStart).toBe(2);
    const forced = { ...free, allowedPlacement: ["auto", "vm", "auto"] as Placement[] };
    expect(plan(initialPolicyState(), forced, CFG, 0).plan.vmGroupStart).toBe(1);
  });
  it("the SLO is judged on the path's distribution: a 7-stage group whose p99s add up past the SLO is used", () => {
    // Seven stages of median 10 ms, p99 40 ms on a VM: the p99s add to 280 ms, the p99 of the sum is far
    // lower. FaaS (median 30, p99 120 per stage) misses a 200 ms SLO for most requests.
    const seven: StageObservation[] = Array.from({ length: 7 }, (_, i) => ({
      exitFraction: i === 6 ? 1 : 0,
      vmMs: { mean: 13, p50: 10, p95: 25, p99: 40 },
      faasMs: { mean: 40, p50: 30, p95: 80, p99: 120 },
      stateBytes: 4096,
    }));
    const cfg = parseControlConfig({
      vm: { usd_per_hour: 0.05, concurrency: 4, max: 50 },
      entry: "router",
      slo_ms: 200,
    });
    const o: Observations = { stages: seven, rate: { perSecond: constant(100, 600) }, vms: { running: 0, booting: 0 } };
    const p = plan(initialPolicyState(), o, cfg, 0).plan;
    expect(p.vmGroupStart).toBe(0);
    expect(p.desiredVms).toBeGreaterThan(0);
    expect(p.expectedSloAttainment).toBeGreaterThan(0.9);
    expect(p.waitBudgetMs).toBeGreaterThan(0);
    expect(p.reason).toMatch(/All on FaaS would cost .* with \d+% within the SLO/);
  });
  it("when no option meets the SLO it takes the best attainment, then the lowest cost, and says so", () => {
    // SLO 110 ms: neither FaaS (3 x 40 ms) nor the group (40 ms FaaS + 20 ms hop + 2 x 20 ms) meets it for
    // 99% of requests; the VM path is faster, so the group wins on attainment although it costs more.
    const cfg = parseControlConfig({ vm: { usd_per_hour: 5, concurrency: 4, max: 50 }, slo_ms: 110 });
    const p = plan(initialPolicyState(), obs(constant(100, 600), [0, 0, 1]), cfg, 0).plan;
    expect(p.reason).toMatch(/no option meets the 110 ms SLO .*: the best attainment, then the lowest cost/);
    expect(p.vmGroupStart).toBe(1);
    expect(p.expectedCostUsdPerHour.totalUsdPerHour).toBeGreaterThan(p.expectedCostUsdPerHour.faasOnlyUsdPerHour);
  });
});

describe("choosing among options", () => {
  const g = (start: number) => ({ start }) as unknown as import("./policy.js").GroupEval;
  it("never takes one worse on both cost and attainment", () => {
    const faas = { group: null, vms: 0, costUsdPerS: 1, attainment: 0.93 };
    const vms = { group: g(1), vms: 2, costUsdPerS: 0.4, attainment: 0.97 };
    // Neither meets 99%: the better attainment wins (and it is cheaper too).
    expect(chooseGroup([faas, vms], null, 1)).toBe(vms);
    // Both meet: the cheaper.
    const a = { ...faas, attainment: 0.995 };
    const b = { ...vms, attainment: 0.999 };
    expect(chooseGroup([a, b], null, 1)).toBe(b);
    // Only the dearer meets it: the dearer.
    const c = { ...vms, attainment: 0.98 };
    expect(chooseGroup([a, c], null, 1)).toBe(a);
  });
  it("keeps the current group unless another is more than 1% of FaaS-only cheaper", () => {
    const cur = { group: g(1), vms: 2, costUsdPerS: 0.505, attainment: 0.999 };
    const other = { group: g(2), vms: 2, costUsdPerS: 0.5, attainment: 0.999 };
    expect(chooseGroup([other, cur], 1, 1)).toBe(cur);
    expect(chooseGroup([other, { ...cur, costUsdPerS: 0.52 }], 1, 1)).toBe(other);
  });
});

describe("queueing within the wait budget", () => {
  it("M/M/c/K blocking and wait match hand computation", () => {
    // M/M/1/2 at a = 1: states 0, 1, 2 equally likely; blocked 1/3; an admitted arrival finds state 1
    // half the time and waits one service time: mean wait 0.5.
    const E = erlangB(1, 1)[1];
    const q = boundedQueue(E, 1, 1, 1);
    expect(q.blocked).toBeCloseTo(1 / 3, 12);
    expect(q.waitS).toBeCloseTo(0.5, 12);
    // M/M/1/3 at a = 2: states 1, 2, 4, 8 / 15; blocked 8/15; waits (1 * 2 + 2 * 4) / 15 / (7 / 15) = 10/7.
    const E2 = erlangB(2, 1)[1];
    const q2 = boundedQueue(E2, 2, 1, 2);
    expect(q2.blocked).toBeCloseTo(8 / 15, 12);
    expect(q2.waitS).toBeCloseTo(10 / 7, 12);
    // No queue: Erlang-B.
    expect(boundedQueue(E2, 2, 1, 0).blocked).toBeCloseTo(E2, 12);
  });
  it("a wait budget lets fewer VMs carry the group: the pool is sized for the bounded wait", () => {
    const o = obs(constant(100, 600), [0, 0, 1]);
    const noWait = plan(initialPolicyState(), o, { ...CFG, vm: { ...CFG.vm, queueMs: 0 } }, 0).plan;
    const wait = plan(initialPolicyState(), o, CFG, 0).plan;
    expect(noWait.waitBudgetMs).toBe(0);
    // SLO 500 ms; a request whose wait runs out finishes on FaaS (3 x 40 ms, lognormal sum, + 20 ms hop):
    // the budget leaves it that time, and the VM path (40 + 20 + 2 x 20 ms) less.
    expect(wait.waitBudgetMs).toBeGreaterThan(250);
    expect(wait.waitBudgetMs).toBeLessThan(500 - 140);
    expect(wait.expectedCostUsdPerHour.totalUsdPerHour).toBeLessThan(noWait.expectedCostUsdPerHour.totalUsdPerHour);
    expect(wait.reason).toMatch(/may wait up to \d+ ms for a slot/);
  });
  it("a request joins a full VM's queue up to the whole budget where a timed-out one meets the SLO on FaaS, else half", () => {
    expect(QUEUE_ADMIT_SHARE).toBe(0.5);
    expect(admitWaitMs(100, true)).toBe(100);
    expect(admitWaitMs(100, false)).toBe(50);
    const o = obs(constant(100, 600), [0, 0, 1]);
    // SLO 500 ms: the budget leaves a timed-out request time to finish on FaaS, so a timeout costs only
    // the FaaS run: the whole budget admits.
    const roomy = plan(initialPolicyState(), o, CFG, 0).plan;
    expect(roomy.waitBudgetMs).toBeGreaterThan(0);
    expect(roomy.admitWaitMs).toBe(roomy.waitBudgetMs);
    // SLO 180 ms: the path on FaaS (3 x 40 ms, p99 80 ms each) after the hop misses it at p99, yet the VM
    // path leaves a budget: a request that outwaits it misses the SLO, so only half of it admits.
    const tight = plan(initialPolicyState(), o, { ...CFG, sloMs: 180 }, 0).plan;
    expect(tight.waitBudgetMs).toBeGreaterThan(0);
    expect(tight.admitWaitMs).toBeCloseTo(tight.waitBudgetMs * QUEUE_ADMIT_SHARE, 1);
    // No budget, no admission.
    const none = plan(initialPolicyState(), o, { ...CFG, vm: { ...CFG.vm, queueMs: 0 } }, 0).plan;
    expect(none.admitWaitMs).toBe(0);
  });
  it("on Lambda a waiting prefix bills its wait", () => {
    const lambda = { ...CFG, prices: LAMBDA_PRICES };
    const o = obs(constant(100, 600), [0, 0, 1]);
    const p = plan(initialPolicyState(), o, lambda, 0).plan;
    const capped = plan(initialPolicyState(), o, { ...lambda, vm: { ...lambda.vm, queueMs: 0 } }, 0).plan;
    // Both plans are priced; the wait is part of the FaaS bill, so the queueing plan is not free of it.
    expect(p.expectedCostUsdPerHour.totalUsdPerHour).toBeGreaterThan(0);
    expect(capped.waitBudgetMs).toBe(0);
  });
});

describe("reading the load", () => {
  it("a level shift is the last few seconds all above the older window's spread", () => {
    expect(levelShift([...constant(0, 60), ...constant(150, 6)], 6)).toEqual({ levelRps: 150, lastedS: 6 });
    expect(levelShift([...constant(0, 60), ...constant(150, 20)], 6)).toEqual({ levelRps: 150, lastedS: 20 });
    // A newest second not fully counted yet is tolerated (stats arrive in batches); two low seconds are not.
    expect(levelShift([...constant(0, 60), ...constant(150, 5), 0], 6)).toEqual({ levelRps: 150, lastedS: 6 });
    expect(levelShift([...constant(0, 60), ...constant(150, 4), 0, 0], 6)).toBeNull();
    // Noise around a level is no shift.
    expect(levelShift([...constant(100, 60), 110, 112, 108, 111, 109, 113], 6)).toBeNull();
    // Too little history.
    expect(levelShift(constant(150, 8), 6)).toBeNull();
  });
  it("a significant rise is projected over the boot time; noise is not", () => {
    const ramp = Array.from({ length: 120 }, (_, i) => 10 + i);
    expect(trendRise(ramp, 120, 60, 0)).toBeCloseTo(60, 6);
    let seed = 3;
    const flat = Array.from({ length: 120 }, () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return 100 + ((seed / 2 ** 31) * 20 - 10);
    });
    expect(trendRise(flat, 120, 60, 0)).toBe(0);
  });
  it("a shift's age is the time at its current level: a jump on a smaller rise is judged by the jump", () => {
    expect(levelShift([...constant(0, 60), ...constant(40, 40), ...constant(250, 10)], 6)).toEqual({
      levelRps: 250,
      lastedS: 10,
    });
    expect(levelShift([...constant(0, 60), ...constant(40, 50)], 6)).toEqual({ levelRps: 40, lastedS: 50 });
  });
  it("neither the step of a shift nor a blip is a trend: the forecast adds the ramp's rise only", () => {
    // Boot 30 s, period 10 s: a shift spans 30 s, the trend is read over 60 s; the ramp rises 0.1 req/s/s.
    const cfg = parseControlConfig({ vm: { usd_per_hour: 0.05, boot_s: 30 }, slo_ms: 500, control_period_s: 10 });
    const ramp = Array.from({ length: 600 }, (_, i) => 100 + i / 10);
    const load = (per: number[]) => readLoad(obs(per, [0, 0, 1]), cfg);
    const rampOnly = load(ramp).trendRps;
    expect(rampOnly).toBeGreaterThan(0.1 * 30);
    // A step of +300 req/s held for 40 s: a shift, whose level has no trend of its own beyond the ramp.
    const step = load([...ramp, ...Array.from({ length: 40 }, (_, i) => 460 + i / 10)]);
    expect(step.shift?.lastedS).toBe(40);
    expect(step.trendRps).toBeLessThan(2 * rampOnly);
    // A 28-s blip of +3000 req/s (shorter than a shift): cost sizing sees it clipped, the forecast not at all.
    const blip = load([...ramp, ...Array.from({ length: 28 }, (_, i) => 3160 + i / 10)]);
    expect(blip.shift).toBeNull();
    expect(blip.trendRps).toBeLessThan(2 * rampOnly);
  });
  it("on a slow ramp the forecast starts VMs earlier than the time-weighted window alone", () => {
    const ramp = Array.from({ length: 1200 }, (_, i) => i / 4); // +0.25 req/s each second
    const firstVm = (forecast: boolean) =>
      run(ramp, () => [0, 0, 1], { ...CFG, forecast }).find((t) => t.plan.desiredVms > 0)!;
    const withF = firstVm(true);
    const without = firstVm(false);
    expect(withF.t).toBeLessThan(without.t);
    expect(withF.plan.reason).toMatch(/rising trend over the boot time/);
    expect(without.plan.reason).not.toMatch(/rising trend/);
  });
  it("hysteresis and bounds are steps of their own", () => {
    let wanted: Array<[number, number]> = [];
    const held: number[] = [];
    for (const [t, v] of [
      [0, 3],
      [5, 1],
      [10, 1],
      [15, 1],
    ] as Array<[number, number]>) {
      const h = holdForScaleDown(wanted, t, v, 10);
      wanted = h.wanted;
      held.push(h.held);
    }
    // 3 wanted at t = 0 is held while it lies within the last 10 s: through t = 5, gone at t = 10.
    expect(held).toEqual([3, 3, 1, 1]);
    expect(applyBounds(0, { min: 1, max: 4 })).toBe(1);
    expect(applyBounds(9, { min: 1, max: 4 })).toBe(4);
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
  it("a cold controller sees a sustained step at the first tick whose last three periods are all high", () => {
    // Cheap VMs (boot 10 s, period 2 s): recentS = max(3 x 2 s, 10 s / 4) = 6 s. The step to 150 req/s
    // starts at t = 60; the tick at t = 66 is the first whose window ends with 6 s at the new level, and a
    // level worth this many VMs repays a boot and a 60-s hold even if it has lasted only 6 s.
    const cheap = parseControlConfig({
      vm: { usd_per_hour: 0.05, concurrency: 4, boot_s: 10, max: 50 },
      slo_ms: 500,
      control_period_s: 2,
      scale_down_delay_s: 60,
    });
    const ticks = run([...constant(0, 60), ...constant(150, 60)], exits, cheap);
    const first = ticks.find((t) => t.plan.desiredVms > 0)!;
    expect(first.t).toBe(66);
    expect(first.plan.reason).toMatch(/level shift: the last periods at 150\.0 req\/s/);
    expect(first.plan.reason).toMatch(/level shift/);
    expect(ticks.find((t) => t.t === 64)!.plan.desiredVms).toBe(0);
  });
  it("the daily shape boots VMs a boot time before a rise that came at this time on each of the last two days", () => {
    // 20 req/s, 200 from 09:00 to 10:00 every day; boot 60 s, period 5 s. Two days remembered minute by
    // minute from windows of the series (as ticks do), then ticked from 08:55 on the third day.
    const DAY = 86_400;
    const nine = 2 * DAY + 9 * 3600;
    const series = Array.from({ length: nine + 120 }, (_, s) =>
      s % DAY >= 9 * 3600 && s % DAY < 10 * 3600 ? 200 : 20,
    );
    let state = initialPolicyState();
    for (let t = 600; t <= nine - 300; t += 540)
      state = { ...state, daily: rememberMinutes(state.daily, series.slice(t - 600, t), t) };
    const first = (cfg: ControlConfig) => {
      const ticks = run(series, exits, cfg, nine - 300, state);
      const base = ticks[0].plan.desiredVms;
      return { ticks, base, up: ticks.find((t) => t.plan.desiredVms > base)! };
    };
    const daily = first(CFG);
    // The first tick whose look-ahead (now + boot) reaches the minute of 09:00: the VMs run from 09:00.
    expect(daily.up.t).toBe(nine - 60);
    expect(daily.ticks.find((t) => t.t === nine - 65)!.plan.desiredVms).toBe(daily.base);
    expect(daily.up.plan.reason).toMatch(/req\/s the daily shape expects within the boot time/);
    expect(daily.ticks.find((t) => t.t === nine)!.running).toBe(daily.up.plan.desiredVms);
    // Without a forecast the rise is seen once it has lasted: VMs come a level shift and a boot later.
    const none = first(parseControlConfig({ ...RAW_CFG, forecast: false }));
    expect(none.up.t).toBeGreaterThan(nine);
    expect(none.ticks.find((t) => t.t === nine + 60)!.running).toBe(none.ticks[0].plan.desiredVms);
  });
  it("at real prices a 10-s burst on a quiet trace starts no VM; the same rise sustained does", () => {
    // c6i.large, boot 60 s, period 5 s; deep stages heavy enough (200 ms of FaaS CPU) to pay at 150 req/s.
    const real = parseControlConfig({ vm: { usd_per_hour: 0.085, concurrency: 4, boot_s: 60, max: 50 }, slo_ms: 2000 });
    const runHeavy = (series: number[]) => {
      let state: PolicyState = initialPolicyState();
      const out: number[] = [];
      for (let t = real.controlPeriodS; t <= series.length; t += real.controlPeriodS) {
        const o = obs(series.slice(Math.max(0, t - real.windowS), t), [0, 0, 1]);
        o.stages = o.stages.map((s, i) => (i === 0 ? s : { ...s, vmMs: ms(60), faasMs: ms(100) }));
        const r = plan(state, o, real, t);
        state = r.state;
        out.push(r.plan.desiredVms);
      }
      return out;
    };
    const quiet = constant(5, 1200);
    const burst = quiet.slice();
    for (let t = 900; t < 910; t++) burst[t] = 150;
    expect(Math.max(...runHeavy(burst))).toBe(0);
    const step = [...constant(5, 900), ...constant(150, 300)];
    expect(Math.max(...runHeavy(step))).toBeGreaterThan(0);
  });
  it("a fall within the window's noise scales down only after the hysteresis delay", () => {
    // 2000 -> 1900 req/s: above the drop's bar (2000 - 3 sqrt(2000) - 1 = 1865), so not a drop.
    const series = [...constant(2000, 1200), ...constant(1900, 1200)];
    const ticks = run(series, exits);
    const high = ticks.find((t) => t.t === 1200)!.plan.desiredVms;
    expect(ticks.at(-1)!.plan.desiredVms).toBeLessThan(high);
    const firstLowerTarget = ticks.find((t) => t.t > 1200 && t.plan.targetVms < high)!;
    const firstLowerDesired = ticks.find((t) => t.t > 1200 && t.plan.desiredVms < high)!;
    // The last tick that wanted the high count was one period before the first lower target.
    expect(firstLowerDesired.t - (firstLowerTarget.t - CFG.controlPeriodS)).toBe(CFG.scaleDownDelayS);
    expect(ticks.find((t) => t.t === firstLowerDesired.t - CFG.controlPeriodS)!.plan.reason).toMatch(
      /hysteresis keeps/,
    );
  });
  it("after a drop the old level's VMs are held for a boot time, not the whole delay", () => {
    // 200 -> 20 req/s: below the drop's bar from the first second. The drop counts once it has lasted a
    // shift's span (15 s: the tick at t = 1215); the count the old level wanted at t = 1210 is held
    // until one boot (60 s) has passed since.
    const series = [...constant(200, 1200), ...constant(20, 1200)];
    const ticks = run(series, exits);
    const high = ticks.find((t) => t.t === 1200)!.plan.desiredVms;
    const at = (t: number) => ticks.find((x) => x.t === t)!.plan;
    expect(at(1210).targetVms).toBe(high);
    expect(at(1215).targetVms).toBeLessThan(high);
    expect(at(1215).reason).toMatch(/\(drop: the last periods at 20\.0 req\/s for 15 s; VMs counted for it\)/);
    expect(at(1265).desiredVms).toBe(high);
    expect(at(1265).reason).toContain(`hysteresis keeps ${high} (wanted within the last 60 s)`);
    expect(at(1270).desiredVms).toBe(at(1270).targetVms);
    expect(at(1270).desiredVms).toBeLessThan(high);
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

describe("path latency", () => {
  const ln = (median: number, p99: number) => lognormalFromMedianP99(median, p99);
  it("a one-stage path is its lognormal: the sampled CDF is within a stratum of the exact one", () => {
    const p = ln(10, 40);
    const s = new PathSampler([p], [p], 1);
    for (const x of [5, 10, 20, 40, 80]) expect(Math.abs(s.cdf(null, 0, x) - lognormalCdf(p, x))).toBeLessThan(2e-3);
    expect(s.cdf(null, 0, lognormalQuantile(p, 0.99))).toBeCloseTo(0.99, 2);
  });
  it("a wide stage beside a narrow one: the sum's tail is what sampling finds, where Fenton-Wilkinson overstates it", () => {
    // A stage of median 0.2 ms whose p99 is 90 ms (sigma 2.6) before one of median 12 ms, p99 70 ms.
    const wide = ln(0.2344, 87.22);
    const narrow = ln(11.95, 69.68);
    const s = new PathSampler([wide, narrow], [wide, narrow], 2);
    // Reference: a dense Monte-Carlo of the sum (fixed seed), 400k draws.
    let seed = 7;
    const u = () => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return (seed + 0.5) / 2 ** 32;
    };
    let over = 0;
    const n = 400_000;
    for (let i = 0; i < n; i++) {
      const x = lognormalQuantile(wide, u()) + lognormalQuantile(narrow, u());
      if (x > 150) over++;
    }
    const truth = 1 - over / n;
    expect(Math.abs(s.cdf(null, 1, 150) - truth)).toBeLessThan(2e-3);
    expect(lognormalCdf(fentonWilkinson([wide, narrow]), 150)).toBeLessThan(truth - 0.005);
  });
  it("a path mixes tiers: stages before j on FaaS, j..e on the VM", () => {
    const slow = ln(100, 100);
    const fast = ln(1, 1);
    const s = new PathSampler([slow, slow], [fast, fast], 2);
    expect(s.cdf(1, 1, 100.5)).toBe(0); // 100 + 1 > 100.5
    expect(s.cdf(1, 1, 101.5)).toBe(1);
    expect(s.cdf(0, 1, 2.5)).toBe(1);
    expect(s.cdf(null, 1, 199)).toBe(0);
  });
  it("Worker times from a VM's by the measured median and p99 ratios", () => {
    const vm = { mean: 2, p50: 0.66, p95: 8, p99: 22.36 };
    expect(workerFromVm(vm, 18)).toEqual({ mean: 36, p50: 0.66 * 18, p95: 144, p99: 22.36 * 18 });
    const w = workerFromVm(vm, 18, 69.68 / 22.36);
    expect(w.p50).toBeCloseTo(11.88, 6);
    expect(w.p99).toBeCloseTo(69.68, 6);
    expect(w.mean).toBeCloseTo(lognormalMean(ln(11.88, 69.68)), 9);
    expect(w.p95).toBeCloseTo(lognormalQuantile(ln(11.88, 69.68), 0.95), 2);
  });
});
