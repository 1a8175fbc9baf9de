// readLoad's rules, each stated on a rate series whose answer follows from the rule (boot 60 s, period
// 5 s: a level shift spans 15 s; the rate distribution's recency constant is a quarter of the window).
import { describe, expect, it } from "vitest";
import { parseControlConfig } from "./config.js";
import { type Observations, rateDistribution, readLoad } from "./policy.js";

const CFG = parseControlConfig({
  vm: { usd_per_hour: 0.05, boot_s: 60 },
  slo_ms: 500,
  control_period_s: 5,
  scale_down_delay_s: 300,
  forecast: false,
});
const TAU_S = CFG.windowS / 4;
const flat = (rps: number, s: number) => Array<number>(s).fill(rps);
const ms = (m: number) => ({ mean: m, p50: m, p95: 1.5 * m, p99: 2 * m });
const obs = (perSecond: number[]): Observations => ({
  stages: [0, 0, 1].map((exitFraction) => ({ exitFraction, vmMs: ms(20), faasMs: ms(40), stateBytes: 4096 })),
  rate: { perSecond },
  vms: { running: 0, booting: 0 },
});
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe("readLoad", () => {
  it("under a shift the SLO plans for the new level by the chance it outlasts a boot and a hold; cost for the level", () => {
    const per = [...flat(10, 300), ...flat(100, 20)];
    const load = readLoad(obs(per), CFG);
    expect(load.shift).toEqual({ levelRps: 100, lastedS: 20 });
    const p = 20 / (20 + 60 + 300);
    expect(load.dist.mean).toBeCloseTo(p * 100 + (1 - p) * rateDistribution(per, 0, 0, TAU_S).mean, 9);
    expect(sum(load.dist.weights)).toBeCloseTo(1, 12);
    expect(load.costDist).toEqual({ rates: [100], weights: [1], mean: 100 });
    expect(load.startDist).toBe(load.costDist);
  });
  it("a newest second not fully counted yet is left out of the new level", () => {
    const load = readLoad(obs([...flat(10, 300), ...flat(100, 20), 5]), CFG);
    expect(load.shift?.levelRps).toBe(100);
    expect(load.costDist.mean).toBe(100);
  });
  it("after a drop the low level gains weight as it lasts, over one boot", () => {
    const per = [...flat(100, 300), ...flat(10, 30)];
    const load = readLoad(obs(per), CFG);
    expect(load.shift).toBeNull();
    const p = 30 / (30 + 60);
    expect(load.dist.mean).toBeCloseTo(p * 10 + (1 - p) * rateDistribution(per, 0, 0, TAU_S).mean, 9);
    expect(sum(load.dist.weights)).toBeCloseTo(1, 12);
    // Lasting less than a shift's span (15 s), the drop is not yet mixed in.
    const short = [...flat(100, 300), ...flat(10, 14)];
    expect(readLoad(obs(short), CFG).dist.mean).toBe(rateDistribution(short, 0, 0, TAU_S).mean);
  });
  it("a blip counts at the older window's bar when VMs are sized for cost; the SLO sees it whole", () => {
    const per = [...flat(10, 300), ...flat(200, 5)];
    const bar = 10 + 3 * Math.sqrt(10) + 1; // median + 3 x max(MAD 0, Poisson sqrt(median)) + 1
    const load = readLoad(obs(per), CFG);
    expect(load.shift).toBeNull();
    const clipped = [...flat(10, 300), ...flat(bar, 5)];
    expect(load.costDist.mean).toBeCloseTo(rateDistribution(clipped, 0, 0, TAU_S).mean, 9);
    expect(load.dist.mean).toBe(rateDistribution(per, 0, 0, TAU_S).mean);
    // The same five seconds, passed out of the last 15, are no longer a blip: one distribution.
    const passed = readLoad(obs([...per, ...flat(10, 20)]), CFG);
    expect(passed.costDist).toBe(passed.dist);
  });
  it("the forecast reads the last two boot times and projects over a boot plus the window's age", () => {
    const forecast = { ...CFG, forecast: true };
    const lagS = 1 / (Math.exp(1 / TAU_S) - 1); // the recency-weighted window's mean age
    // A ramp of 0.2 req/s per second across the whole window: that slope, over boot + age.
    const ramp = Array.from({ length: 600 }, (_, i) => 100 + i / 5);
    const full = 0.2 * (60 + lagS);
    expect(readLoad(obs(ramp), forecast).trendRps).toBeCloseTo(full, 6);
    // Flat until 80 s ago, then the same slope (too gentle for a shift): read over 120 s, a third of
    // it flat, the median slope is lower.
    const late = readLoad(obs([...flat(100, 520), ...Array.from({ length: 80 }, (_, i) => 100 + i / 5)]), forecast);
    expect(late.shift).toBeNull();
    expect(late.trendRps).toBeGreaterThan(0);
    expect(late.trendRps).toBeLessThan(0.98 * full);
  });
  it("VMs start for the mean of the last seconds before the newest, the window's shape scaled to it", () => {
    const per = [...flat(20, 600), ...flat(250, 120), ...flat(20, 59), 0];
    const load = readLoad(obs(per), CFG);
    const f = 20 / load.costDist.mean;
    expect(load.startDist.mean).toBe(20);
    expect(load.startDist.rates).toEqual(load.costDist.rates.map((x) => x * f));
    expect(load.startDist.weights).toEqual(load.costDist.weights);
    // A steady load: one distribution.
    const steady = readLoad(obs(flat(20, 600)), CFG);
    expect(steady.startDist).toBe(steady.costDist);
  });
});
