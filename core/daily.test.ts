import { describe, expect, it } from "vitest";
import { DAILY_RING, type DailyMemory, dailyRise, lastMinuteRps, rememberMinutes } from "./daily.js";
import { flat } from "./fixtures.js";

const DAY_S = 86_400;
const NINE_S = 9 * 3600;

/** A memory of every minute from second `fromS` up to (not including) second `toS`, each at `rps(second)`. */
function memoryOf(rps: (s: number) => number, toS: number, fromS = 0): DailyMemory {
  const lastMin = Math.floor(toS / 60) - 1;
  const counts = new Array<number>(DAILY_RING).fill(-1);
  for (let m = lastMin - DAILY_RING + 1; m <= lastMin; m++)
    if (m * 60 >= fromS) counts[((m % DAILY_RING) + DAILY_RING) % DAILY_RING] = 60 * rps(m * 60);
  return { lastMin, counts };
}
/** 20 req/s, 120 from 09:00 to 17:00 on the given days (day 0 first). */
const office =
  (days: number[], base = 20, high = 120) =>
  (s: number) => {
    const day = Math.floor(s / DAY_S);
    const t = s - day * DAY_S;
    return days.includes(day) && t >= NINE_S && t < 17 * 3600 ? high : base;
  };

describe("rememberMinutes", () => {
  it("counts the minutes the window holds whole, not the one its newest second is in, and keeps the object until a minute completes", () => {
    // Window of 300 s ending at second 1199 (now 1200): seconds 900..1199, 1 request each, 3 in minute 17.
    const per = flat(1, 300).map((x, i) => (900 + i >= 1020 && 900 + i < 1080 ? 3 : x));
    const d = rememberMinutes(undefined, per, 1200.4);
    // Minute 19 (1140..1199) holds the newest second: not counted yet; minutes 15..18 are.
    expect(d.lastMin).toBe(18);
    const at = (m: number) => d.counts[m % DAILY_RING];
    expect([at(15), at(16), at(17), at(18)]).toEqual([60, 60, 180, 60]);
    expect(at(14)).toBe(-1); // before the window
    expect(rememberMinutes(d, per, 1200.9)).toBe(d);
    expect(rememberMinutes(d, [...per.slice(1), 1], 1201).lastMin).toBe(19);
    // A tick after a gap: minutes the window no longer holds are marked not counted.
    const later = rememberMinutes(d, flat(2, 300), 3000);
    expect(later.lastMin).toBe(48);
    expect(later.counts[30]).toBe(-1);
    expect(later.counts[48]).toBe(120);
    expect(later.counts[17]).toBe(180);
  });
  it("lastMinuteRps leaves the newest second out", () => {
    expect(lastMinuteRps([...flat(5, 100), ...flat(10, 60), 0])).toBe(10);
  });
});

describe("dailyRise", () => {
  const beforeNine = (day: number, aheadS = 60) => day * DAY_S + NINE_S - aheadS;
  it("expects the rise that came at this time on each of the last two days, from a boot time before it", () => {
    const now = beforeNine(2, 90);
    const d = memoryOf(office([0, 1]), Math.floor(now / 60) * 60);
    expect(dailyRise(d, now, 100, 20)).toBeCloseTo(100, 9);
    // Not yet within the boot time: nothing.
    expect(dailyRise(d, now - 60, 100, 20)).toBe(0);
  });
  it("scales the rise by today's last ten minutes against those days' ten before", () => {
    const now = beforeNine(2, 30);
    const today = (s: number) => (s >= 2 * DAY_S ? office([])(s) / 2 : office([0, 1])(s));
    const d = memoryOf(today, Math.floor(now / 60) * 60);
    expect(dailyRise(d, now, 60, 10)).toBeCloseTo(50, 9);
  });
  it("needs two days that each had it: one day's event, or a day without it, is no shape", () => {
    const now = beforeNine(2);
    expect(dailyRise(memoryOf(office([1]), now), now, 60, 20)).toBe(0);
    // Three days kept: the day before yesterday without the rise cancels it.
    const now3 = beforeNine(3);
    expect(dailyRise(memoryOf(office([0, 1, 2]), now3), now3, 60, 20)).toBeGreaterThan(0);
    expect(dailyRise(memoryOf(office([1, 2]), now3), now3, 60, 20)).toBe(0);
    // Only yesterday remembered (a fresh controller a day ago): no shape yet.
    expect(dailyRise(memoryOf(office([0, 1]), now, DAY_S), now, 60, 20)).toBe(0);
    expect(dailyRise(memoryOf(office([0, 1]), now, 0), now, 60, 20)).toBeGreaterThan(0);
  });
  it("nothing when today's rise came early (the level shift has it), or on a flat load with noise", () => {
    const now = beforeNine(2);
    // Today's rise an hour early: today's last minutes are 6x the days' before, yet no 6x of their peak.
    const early = (s: number) => (s >= 2 * DAY_S + NINE_S - 3600 ? 120 : office([0, 1])(s));
    expect(dailyRise(memoryOf(early, now), now, 60, 120)).toBe(0);
    // Poisson-like noise of +-2 sqrt(20) around 20 req/s at every minute: no rise clears 3 deviations.
    const noisy = (s: number) => 20 + 2 * Math.sqrt(20 / 60) * Math.sin(s / 60);
    expect(dailyRise(memoryOf(noisy, now), now, 60, 20)).toBe(0);
  });
  it("a small rise (under 10% of the level) is not one", () => {
    const now = beforeNine(2);
    expect(dailyRise(memoryOf(office([0, 1], 200, 215), now), now, 60, 200)).toBe(0);
    expect(dailyRise(memoryOf(office([0, 1], 200, 240), now), now, 60, 200)).toBeCloseTo(40, 9);
  });
});
