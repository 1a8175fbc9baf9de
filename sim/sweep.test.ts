// A small sweep, as the evaluation runs it: scenarios are a pure function of the seed, every policy runs
// on each, and no scenario's serflow cost is under its bound.
import { describe, expect, it } from "vitest";
import { POLICIES } from "./policies.js";
import { judge, runSweep, scenarios, sweepMarkdown, sweepSvg } from "./sweep.js";

describe("sweep", () => {
  const opts = { traceS: 600, meanRps: [2, 40] as [number, number] };
  it("draws the same scenarios from the same seed, and others from another", () => {
    const a = scenarios(4, 7, opts).map((s) => s.settings);
    const b = scenarios(4, 7, opts).map((s) => s.settings);
    expect(a).toEqual(b);
    expect(scenarios(4, 8, opts).map((s) => s.settings)).not.toEqual(a);
    for (const s of a) {
      expect(s.profile.stages.length).toBeGreaterThanOrEqual(2);
      expect(s.profile.stages.length).toBeLessThanOrEqual(8);
      expect(s.trace).toHaveLength(600);
    }
  });

  it("runs every policy per scenario and reports serflow over the cheapest baseline and over its bound", () => {
    const rs = runSweep(4, 3, opts);
    expect(rs).toHaveLength(4);
    for (const r of rs) {
      const names = r.results.map((x) => x.policy);
      for (const p of POLICIES.filter((p) => p !== "oracle")) expect(names).toContain(p);
      expect(names).toContain("oracle-noqueue");
      expect(r.overBound).toBeGreaterThanOrEqual(1 - 1e-9);
      expect(r.overBaseline).toBeCloseTo(r.serflow.cost_usd / r.baseline.cost_usd, 12);
      if (r.baselineMeetsSlo) expect(r.baseline.slo_attainment).toBeGreaterThanOrEqual(0.99);
      expect(judge(r.scenario, r.results).baseline.policy).toBe(r.baseline.policy);
    }
    const md = sweepMarkdown(rs, 3, "sweep.svg");
    expect(md.split("\n").filter((l) => /^\| \d+ \|/.test(l))).toHaveLength(4);
    expect(sweepSvg(rs, 3)).toContain("<polyline");
  }, 60_000);
});
