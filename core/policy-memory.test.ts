// The rate memory: bursts the window has forgotten still size VMs for the SLO where FaaS alone misses it.
import { describe, expect, it } from "vitest";
import { burstConfig, burstObs } from "./fixtures.js";
import {
  initialPolicyState,
  memoryDistribution,
  plan,
  RATE_MEMORY_S,
  rateLevel,
  rememberRates,
  type Observations,
  workerFromVm,
} from "./policy.js";

describe("the level and the bins", () => {
  it("the level is the window's median (at least 1 req/s), 0 without seconds", () => {
    expect(rateLevel([50, 10, 30])).toBe(30);
    expect(rateLevel([9, 2, 100, 7, 5])).toBe(7);
    expect(rateLevel([0, 0.5])).toBe(1);
    expect(rateLevel([])).toBe(0);
  });
  // Older half [0, 1]; the level (median) is 20: ratios 0 and exactly 0.05.
  it("a second at exactly 5% of the level shares the first bin with the idle seconds", () => {
    const d = memoryDistribution(rememberRates(undefined, [0, 1, 20, 20], 4), 20)!;
    expect(d.rates).toHaveLength(1);
    expect(d.rates[0]).toBeCloseTo(1 / (1 + Math.exp(-1 / RATE_MEMORY_S)), 9);
  });
  it("ratios beyond the last bin's edge (about 390x the level) share the last bin", () => {
    // 400x and 450x the level (1 req/s): the last bin holds both, read back as their mean.
    const d = memoryDistribution(rememberRates(undefined, [400, 450, 1, 1, 1, 1], 6), 1)!;
    expect(d.rates.filter((r) => r > 1)).toHaveLength(1);
    const f = Math.exp(-1 / RATE_MEMORY_S);
    expect(Math.max(...d.rates)).toBeCloseTo((450 + 400 * f) / (1 + f), 6);
  });
  it("an hour without counting weighs what was remembered by e^-1", () => {
    const first = rememberRates(undefined, [10, 10, 10, 10], 4);
    const later = rememberRates(first, [10, 10, 10, 10], 4 + RATE_MEMORY_S);
    const w = (m: typeof first) => m.w.reduce((a, b) => a + b, 0);
    // Two new seconds (the window's older half) on top of the decayed two.
    expect(w(later)).toBeCloseTo(w(first) * Math.exp(-1) + 1 + Math.exp(-1 / RATE_MEMORY_S), 9);
  });
});

describe("the state and the Worker's times", () => {
  it("a first tick's state holds nothing wanted, no group and no VMs", () => {
    expect(initialPolicyState()).toEqual({ version: 1, wanted: [], vmGroupStart: null, desiredVms: 0 });
  });
  it("with the p99 ratio equal to the median's, every figure scales by it (the VM's own p95 and mean kept)", () => {
    const vm = { mean: 12, p50: 10, p95: 11, p99: 30 };
    expect(workerFromVm(vm, 2, 2)).toEqual({ mean: 24, p50: 20, p95: 22, p99: 60 });
    expect(workerFromVm(vm, 2)).toEqual({ mean: 24, p50: 20, p95: 22, p99: 60 });
  });
});

describe("rememberRates", () => {
  it("counts the window's older half at first, then the seconds that reached its middle since, older ones decayed", () => {
    const first = rememberRates(undefined, [10, 10, 100, 10, 10, 10], 6);
    // Remembered over the window's median (10 req/s), read back at the level given.
    const d1 = memoryDistribution(first, 10)!;
    expect(d1.weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(d1.rates.map((r) => Math.round(r))).toEqual([10, 100]);
    // Three seconds counted, the newest with weight 1: the 100 req/s second weighs about a third.
    expect(d1.weights[1]).toBeCloseTo(1 / 3, 3);
    // Ten seconds later with a window of 40 s: only the 10 seconds that crossed its middle are new.
    const next = rememberRates(first, Array(40).fill(10), 16);
    expect(next.w.reduce((a, b) => a + b, 0)).toBeCloseTo(3 * Math.exp(-10 / RATE_MEMORY_S) + 10, 1);
    // The burst is still remembered once the window no longer holds it.
    const later = rememberRates(next, Array(40).fill(10), 26);
    expect(Math.max(...memoryDistribution(later, 10)!.rates)).toBeCloseTo(100, 9);
    // A burst is a multiple of the level it came on: after a ramp to twice the level, twice the rate.
    expect(Math.max(...memoryDistribution(later, 20)!.rates)).toBeCloseTo(200, 9);
  });
  it("remembers a step by the level around it, not as a burst on the level before it", () => {
    // A fresh deployment: the window's older half zeros, then 80 req/s.
    const w = (zeros: number) => [...Array(zeros).fill(0), ...Array(600 - zeros).fill(80)];
    let memory = rememberRates(undefined, w(600), 0);
    for (let t = 10; t <= 600; t += 10) memory = rememberRates(memory, w(600 - t), t);
    // At 80 req/s the memory reads back nothing above it: the load's first seconds are 1x, not 80x (as
    // they would be counted on arrival, against the window's median of 0 floored at 1).
    expect(Math.max(...memoryDistribution(memory, 80)!.rates)).toBeCloseTo(80, 6);
  });
  it("is empty without seconds; a mean weighted as the seconds are", () => {
    expect(memoryDistribution(undefined, 10)).toBeNull();
    expect(memoryDistribution(rememberRates(undefined, [], 0), 10)).toBeNull();
    // Median of [0, 50, 50, 50] is 50: the older half's ratios 0 and 1, the newer weighing 1, the older e^(-1/RATE_MEMORY_S).
    const d = memoryDistribution(rememberRates(undefined, [0, 50, 50, 50], 4), 50)!;
    const w0 = Math.exp(-1 / RATE_MEMORY_S);
    expect(d.mean).toBeCloseTo(50 / (1 + w0), 6);
  });
});

describe("plan with a remembered burst", () => {
  const cfg = burstConfig;
  const obs = burstObs;
  const base = () => Array(600).fill(50);
  const withBurst = () => base().map((x, i) => (i >= 200 && i < 260 ? 500 : x));
  // The burst (in the window's older half) was seen at t = 600; at t = 1800 the window holds only the base rate.
  const vmsAt1800 = (sloMs: number, remember: boolean) => {
    const seen = plan(initialPolicyState(), obs(withBurst()), cfg(sloMs), 600).state;
    const state = remember ? { ...initialPolicyState(), memory: seen.memory } : initialPolicyState();
    return plan(state, obs(base()), cfg(sloMs), 1800).plan.targetVms;
  };
  it("where FaaS alone misses the SLO, VMs are sized for the remembered burst too", () => {
    expect(vmsAt1800(60, true)).toBeGreaterThan(vmsAt1800(60, false));
  });
  it("where FaaS alone meets the SLO, the burst stays FaaS's", () => {
    expect(vmsAt1800(2000, true)).toBe(vmsAt1800(2000, false));
  });
});

describe("a stored memory of another shape", () => {
  const cfg = burstConfig(60);
  const window = Array(600).fill(50);
  const o: Observations = burstObs(window);
  const bins = (n: number) => Array(n).fill(0);
  const good = rememberRates(undefined, window, 590);
  it("is forgotten (counted afresh from the window), the rest of the state kept", () => {
    const held = { ...initialPolicyState(), wanted: [[590, 40]] as [number, number][] };
    const fresh = plan({ ...held, memory: undefined }, o, cfg, 600);
    expect(fresh.plan.desiredVms).toBe(40);
    for (const memory of [
      { ...good, w: "x" },
      { ...good, wr: "x" },
      { ...good, w: bins(95), wr: bins(95) },
      { ...good, atS: Number.NaN },
    ]) {
      const out = plan({ ...held, memory } as unknown as typeof held, o, cfg, 600);
      expect(out.state.memory).toEqual(fresh.state.memory);
      expect(out.plan.desiredVms).toBe(40);
    }
    // A memory of this shape is kept: counted on from its own time.
    expect(plan({ ...held, memory: good }, o, cfg, 600).state.memory).toEqual(rememberRates(good, window, 600));
  });
});
