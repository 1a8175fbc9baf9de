// The load reading's edge rules, each at the value where it turns: a second exactly at a bar (the shift's,
// the blip's, the drop's, the trend's), a run back to the series' first second, a shift longer than the
// trend's span, views that stay one distribution under a forecast, and a stage never timed (groupConfig:
// boot 60 s, period 5 s, so a shift spans 15 s; the window's recency constant is 150 s).
import { describe, expect, it } from "vitest";
import { exactMs, flat, groupConfig } from "./fixtures.js";
import {
  levelShift,
  type Observations,
  planContext,
  initialPolicyState,
  rateDistribution,
  readLoad,
  trendRise,
} from "./policy.js";

const CFG = groupConfig();
const FORECAST = groupConfig({ forecast: true });
const TAU_S = CFG.windowS / 4;
const D = Math.exp(-1 / TAU_S);
/** The recency-weighted window's mean age, before the cap at half the series. */
const LAG_S = D / (1 - D);
const obs = (perSecond: number[], ms = [5, 10, 30]): Observations => ({
  stages: [0.5, 0.5, 1].map((exitFraction, i) => ({
    exitFraction,
    vmMs: exactMs(ms[i]),
    faasMs: exactMs(ms[i]),
    stateBytes: 4096,
  })),
  rate: { perSecond },
  vms: { running: 0, booting: 0 },
});

describe("level shift: the run", () => {
  it("with the bar given, a run above it from the series' first second counts every second", () => {
    expect(levelShift([150, 150, 150, 150], 2, 100)).toEqual({ levelRps: 150, lastedS: 4 });
    expect(levelShift([150, 150, 150, 150, 150, 150], 2, 100)).toEqual({ levelRps: 150, lastedS: 6 });
  });
});

describe("trend", () => {
  it("a second that is not a number never makes the projected rise NaN", () => {
    for (let at = 0; at < 10; at++) {
      const y = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
      y[at] = Number.NaN;
      const rise = trendRise(y, 10, 10, 0);
      expect(Number.isFinite(rise)).toBe(true);
      expect(rise).toBeGreaterThanOrEqual(0);
    }
  });

  it("a median slope of 0 is no rise, however far ahead it is projected", () => {
    // 12 of 13 seconds rising in pairs; the not-a-number second leaves a flat pair's slope at the median.
    const y = [0, 0, 1, 1, 2, 2, 3, 7, 8, Number.NaN, 10, 11, 12];
    expect(trendRise(y, 13, 10, 0)).toBe(0);
    expect(trendRise(y, 13, Number.POSITIVE_INFINITY, 0)).toBe(0);
  });
});

describe("readLoad at the bars", () => {
  it("a drop's second exactly at the drop's bar is not below it; a hair lower it is", () => {
    // 585 s at 100, then 15 s at x where x is the window's bar (mean - 3 sqrt(mean) - 1) for that very
    // series: the fixed point, reached exactly by iterating.
    const series = (x: number) => [...flat(100, 585), ...flat(x, 15)];
    const barOf = (per: number[]) => {
      const m = rateDistribution(per, 0, 0, TAU_S).mean;
      return m - 3 * Math.sqrt(m) - 1;
    };
    let x = 60;
    for (let k = 0; k < 100 && barOf(series(x)) !== x; k++) x = barOf(series(x));
    expect(barOf(series(x))).toBe(x);
    const at = series(x);
    const load = readLoad(obs(at), CFG);
    expect(load.shift).toBeNull();
    expect(load.dist).toEqual(rateDistribution(at, 0, 0, TAU_S));
    // 1e-6 lower moves the bar by a tenth of that: the 15 s are below it, a drop mixed in at 15 / (15 + 60).
    const below = series(x - 1e-6);
    const p = 15 / (15 + 60);
    expect(readLoad(obs(below), CFG).dist.mean).toBeCloseTo(
      p * (x - 1e-6) + (1 - p) * rateDistribution(below, 0, 0, TAU_S).mean,
      9,
    );
  });

  it("a drop that fills the whole window weighs every second of it, the oldest too", () => {
    // Counts below 0 read as 0: the window's mean is 0, its drop bar -1, and all 600 s sit below it.
    const load = readLoad(obs(flat(-5, 600)), CFG);
    const p = 600 / (600 + 60);
    expect(load.dist.rates).toEqual([0, 0]);
    expect(load.dist.weights).toEqual([p, 1 - p]);
  });

  it("a newest second exactly at the shift's bar is no blip: cost sees the window itself", () => {
    // Steady 100: the bar is 100 + 3 x sqrt(100) + 1 = 131.
    const load = readLoad(obs([...flat(100, 599), 131]), CFG);
    expect(load.shift).toBeNull();
    expect(load.costDist).toBe(load.dist);
    // Just above it, it is a blip clipped at the bar for cost.
    const above = readLoad(obs([...flat(100, 599), 131.5]), CFG);
    expect(above.costDist).not.toBe(above.dist);
    expect(above.costDist).toEqual(rateDistribution([...flat(100, 599), 131], 0, 0, TAU_S));
  });

  it("the trend without a shift keeps a second exactly at the older window's bar", () => {
    // A convex rise (100 to 106 over 599 s), narrow enough that the bar is median + 3 sqrt(median) + 1;
    // the newest second exactly at it.
    const rise = Array.from({ length: 599 }, (_, i) => 100 + (i * i) / 60_000);
    const older = rise.slice(0, 600 - 15);
    const med = older[older.length >> 1];
    const bar = med + 3 * Math.sqrt(med) + 1;
    const per = [...rise, bar];
    const load = readLoad(obs(per), FORECAST);
    expect(load.shift).toBeNull();
    expect(load.costDist).toBe(load.dist); // not above the bar: no blip
    const want = trendRise(per, 120, 60, LAG_S);
    expect(load.trendRps).toBe(want);
    expect(want).not.toBe(trendRise(rise, 120, 60, LAG_S)); // the second changes the reading
  });

  it("a window too short for a bar reads the trend on every second", () => {
    // 20 s rising 1 req/s each second: no older window, so nothing is a burst; aged half the series.
    const load = readLoad(obs(Array.from({ length: 20 }, (_, i) => 10 + i)), FORECAST);
    expect(load.shift).toBeNull();
    expect(load.trendRps).toBeCloseTo(1 * (60 + 10), 9);
  });
});

describe("readLoad under a shift", () => {
  it("under a shift the trend is read over the shift's whole age up to two boots, not one boot", () => {
    // 100 s of a convex rise from 200: a shift that has lasted 100 s (more than one boot, less than two);
    // its trend is read over all 100.
    const per = [...flat(10, 600), ...Array.from({ length: 100 }, (_, i) => 200 + (i * i) / 100)];
    const load = readLoad(obs(per), FORECAST);
    expect(load.shift?.lastedS).toBe(100);
    const p = 100 / (100 + 60 + 300);
    const want = trendRise(per, 100, 60, (1 - p) * LAG_S);
    expect(load.trendRps).toBe(want);
    expect(want).not.toBe(trendRise(per, 60, 60, (1 - p) * LAG_S)); // a shorter span reads another slope
  });

  it("VMs start for the new level itself, even when the seconds before its newest run lower", () => {
    // 19 s at 100 and a newest at 130: the level is their 15-s mean, 102; the 15 s before the newest
    // average 100, but a shift's start is not scaled down to them.
    const load = readLoad(obs([...flat(10, 600), ...flat(100, 19), 130]), CFG);
    expect(load.shift).toEqual({ levelRps: 102, lastedS: 20 });
    expect(load.costDist.mean).toBe(102);
    expect(load.startDist).toBe(load.costDist);
  });
});

describe("readLoad's start view", () => {
  it("a load as high now as the window remembers starts VMs by the window itself: one distribution", () => {
    // 16 req/s throughout (a power of two, so the weighted mean is exactly 16): the last seconds' mean
    // is exactly the window's, nothing to scale down.
    const load = readLoad(obs(flat(16, 600)), CFG);
    expect(load.costDist.mean).toBe(16);
    expect(load.startDist).toBe(load.costDist);
  });
});

describe("readLoad's views under a forecast", () => {
  it("with nothing clipped or scaled, cost and start share the SLO's raised distribution", () => {
    const load = readLoad(obs(Array.from({ length: 600 }, (_, i) => 100 + i / 5)), FORECAST);
    expect(load.trendRps).toBeGreaterThan(0);
    expect(load.costDist).toBe(load.dist);
    expect(load.startDist).toBe(load.costDist);
  });
});

describe("stage times never measured", () => {
  it("a stage without a time on VMs or FaaS is a zero-time lognormal: mu -Infinity, sigma 0", () => {
    const ctx = planContext(initialPolicyState(), obs(flat(10, 600), [5, 10, 0]), CFG);
    expect(ctx.vmLn[2]).toEqual({ mu: Number.NEGATIVE_INFINITY, sigma: 0 });
    expect(ctx.faasLn[2]).toEqual({ mu: Number.NEGATIVE_INFINITY, sigma: 0 });
    const nan = planContext(initialPolicyState(), obs(flat(10, 600), [5, 10, Number.NaN]), CFG);
    expect(nan.vmLn[2]).toEqual({ mu: Number.NEGATIVE_INFINITY, sigma: 0 });
  });
});
