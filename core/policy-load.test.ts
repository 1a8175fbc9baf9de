// readLoad's rules, each stated on a rate series whose answer follows from the rule (boot 60 s, period
// 5 s: a level shift spans 15 s; the rate distribution's recency constant is a quarter of the window).
import { describe, expect, it } from "vitest";
import { parseControlConfig } from "./config.js";
import { flat } from "./fixtures.js";
import { type Observations, rateDistribution, readLoad } from "./policy.js";

const CFG = parseControlConfig({
  vm: { usd_per_hour: 0.05, boot_s: 60 },
  slo_ms: 500,
  control_period_s: 5,
  scale_down_delay_s: 300,
  forecast: false,
});
const TAU_S = CFG.windowS / 4;
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
  it("after a drop the low level gains weight as it lasts, over one boot; VMs are counted for it alone", () => {
    const per = [...flat(100, 300), ...flat(10, 30)];
    const load = readLoad(obs(per), CFG);
    expect(load.shift).toBeNull();
    expect(load.costDist).toEqual({ rates: [10], weights: [1], mean: 10 });
    expect(load.startDist).toBe(load.costDist);
    const p = 30 / (30 + 60);
    expect(load.dist.mean).toBeCloseTo(p * 10 + (1 - p) * rateDistribution(per, 0, 0, TAU_S).mean, 9);
    expect(sum(load.dist.weights)).toBeCloseTo(1, 12);
    // Lasting less than a shift's span (15 s), the drop is not yet mixed in.
    const short = [...flat(100, 300), ...flat(10, 14)];
    expect(readLoad(obs(short), CFG).dist.mean).toBe(rateDistribution(short, 0, 0, TAU_S).mean);
    expect(readLoad(obs(short), CFG).costDist.mean).toBe(rateDistribution(short, 0, 0, TAU_S).mean);
  });
  it("a drop must clear the window's noise (3 Poisson deviations and 1 req/s) and last a shift's span", () => {
    const window = (per: number[]) => rateDistribution(per, 0, 0, TAU_S);
    // 30 s at 64 req/s after 100: the window's mean is 93.4, its bar 93.4 - 3 x 9.7 - 1 = 63.4: noise.
    const dip = [...flat(100, 600), ...flat(64, 30)];
    expect(readLoad(obs(dip), CFG).dist).toEqual(window(dip));
    // At 63 req/s (bar 63.2) it is a drop; mixed in as soon as it has lasted the 15 s of a shift.
    for (const lastedS of [15, 30]) {
      const per = [...flat(100, 600), ...flat(63, lastedS)];
      const p = lastedS / (lastedS + 60);
      const level = rateDistribution(flat(63, lastedS), 0, 0, Number.POSITIVE_INFINITY);
      const load = readLoad(obs(per), CFG);
      expect(load.dist.mean).toBeCloseTo(p * 63 + (1 - p) * window(per).mean, 9);
      expect(load.dist.rates).toEqual([...level.rates, ...window(per).rates]);
    }
  });
  it("the level of a shift leaves out a newest second below half of it, and only then", () => {
    // 14 s at 29 then a newest second at 14, exactly half the 15 s mean (28): kept.
    const half = readLoad(obs([...flat(1, 600), ...flat(29, 14), 14]), CFG);
    expect(half.shift).toEqual({ levelRps: 28, lastedS: 15 });
    expect(half.costDist.mean).toBe(28);
    // A newest second at 80 after 100s is counted; one at 40 is left out, and does not end the shift's age.
    expect(readLoad(obs([...flat(10, 600), ...flat(100, 14), 80]), CFG).costDist.mean).toBeCloseTo(1480 / 15, 9);
    const dip = readLoad(obs([...flat(10, 600), ...flat(100, 14), 40]), CFG);
    expect(dip.costDist.mean).toBe(100);
    expect(dip.shift?.lastedS).toBe(15);
  });
  it("a window shorter than two shift spans has no bar: neither a shift nor a blip", () => {
    const per = [...flat(10, 10), ...flat(200, 10)];
    const load = readLoad(obs(per), CFG);
    expect(load.shift).toBeNull();
    expect(load.costDist).toBe(load.dist);
    expect(load.dist).toEqual(rateDistribution(per, 0, 0, TAU_S));
  });
  it("a blip is clipped in the last seconds only: an older burst counts whole", () => {
    // A 5-s burst 200 s ago (an older second above the bar), then a blip at the first of the last 15 s.
    const per = [...flat(10, 400), ...flat(200, 5), ...flat(10, 195), 200, ...flat(10, 14)];
    const bar = 10 + 3 * Math.sqrt(10) + 1;
    const clipped = [...flat(10, 400), ...flat(200, 5), ...flat(10, 195), bar, ...flat(10, 14)];
    const load = readLoad(obs(per), CFG);
    expect(load.shift).toBeNull();
    expect(load.costDist.mean).toBeCloseTo(rateDistribution(clipped, 0, 0, TAU_S).mean, 9);
  });
  it("with no per-second series the EWMA's mean and deviation describe the load", () => {
    const load = readLoad({ ...obs([]), rate: { perSecond: [], meanRps: 50, stdRps: 5 } }, CFG);
    expect(load.dist).toEqual(rateDistribution([], 50, 5, TAU_S));
    expect(load.dist.mean).toBeCloseTo(50, 9);
    expect(readLoad({ ...obs([]), rate: { perSecond: [] } }, CFG).dist.mean).toBe(0);
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
  it("the forecast's age is at most half the series, and under a shift only the old window's share of it", () => {
    const forecast = { ...CFG, forecast: true };
    const lagS = 1 / (Math.exp(1 / TAU_S) - 1);
    // A 200-s ramp: the series is younger than the window's mean age.
    const short = Array.from({ length: 200 }, (_, i) => 100 + i / 5);
    expect(readLoad(obs(short), forecast).trendRps).toBeCloseTo(0.2 * (60 + 100), 6);
    // A level shift still rising 1 req/s each second for 40 s: read within the shift, aged (1 - p) x lag.
    const rising = [...flat(10, 600), ...Array.from({ length: 40 }, (_, i) => 100 + i)];
    const load = readLoad(obs(rising), forecast);
    expect(load.shift?.lastedS).toBe(40);
    const p = 40 / (40 + 60 + 300);
    expect(load.trendRps).toBeCloseTo(1 * (60 + (1 - p) * lagS), 6);
  });
  it("VMs start for the mean of the last seconds before the newest, the window's shape scaled to it", () => {
    // 30 req/s, then 59 s at 20: above the drop's bar (the window's mean 26.8 - 3 x 5.2 - 1 = 10.2).
    const per = [...flat(30, 600), ...flat(20, 59), 0];
    const load = readLoad(obs(per), CFG);
    expect(load.costDist).toBe(load.dist);
    const f = 20 / load.costDist.mean;
    expect(load.startDist.mean).toBe(20);
    expect(load.startDist.rates).toEqual(load.costDist.rates.map((x) => x * f));
    expect(load.startDist.weights).toEqual(load.costDist.weights);
    // A steady load: one distribution.
    const steady = readLoad(obs(flat(20, 600)), CFG);
    expect(steady.startDist).toBe(steady.costDist);
  });
});
