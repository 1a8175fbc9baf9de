// A small sweep, as the evaluation runs it: scenarios are a pure function of the seed, every policy runs
// on each, and no scenario's serflow cost is under its bound.
import { describe, expect, it } from "vitest";
import { SLO_TARGET } from "../core/policy.js";
import { POLICIES } from "./policies.js";
import type { RunResult } from "./engine.js";
import { CAUSAL_BASELINES, judge, runSweep, scenarios, sweepMarkdown, sweepSvg } from "./sweep.js";

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

  it("tells, where serflow meets the SLO less well than the best baseline, whether one that sees only the past did", () => {
    expect(CAUSAL_BASELINES).toEqual(["faas-only", "vm-autoscale", "spock", "libra"]);
    const row = (policy: string, slo: number, cost: number) =>
      ({ policy, slo_attainment: slo, cost_usd: cost }) as RunResult;
    const [a, b, c] = scenarios(3, 7, opts);
    const results = (serflow: number, libra: number) => [
      row("faas-only", 0.95, 1),
      row("vm-max", 0.999, 9),
      row("vm-autoscale", 0.97, 3),
      row("spock", 0.96, 2),
      row("libra", libra, 1.5),
      row("serflow", serflow, 2),
      row("oracle-slo", 1, 0.5),
    ];
    // vm-max alone meets the SLO: serflow short of it (by less than two decimals show), yet above every
    // other baseline.
    const onlyVmMax = judge(a, results(0.98999, 0.98));
    expect(onlyVmMax.bestBaselineSlo).toBe(0.999);
    expect(onlyVmMax.bestCausalSlo).toBe(0.98);
    // libra, which sees only the past, does better than serflow.
    const causal = judge(b, results(0.97, 0.985));
    const met = judge(c, results(0.995, 0.98));
    const md = sweepMarkdown([onlyVmMax, causal, met], 7, "sweep.svg");
    expect(md).toContain("meets the SLO as well as the best baseline (or 99.0%) in 1 of 3 scenarios");
    expect(md).toContain(
      "Where serflow meets the SLO less well than the best baseline: #0 98.999% (vm-max 99.90%, the best of the others 98.00%); #1 97.00% (vm-max 99.90%, the best of the others 98.50%).",
    );
    expect(md).toContain("did better in 1 of these 2.");
    expect(sweepMarkdown([met], 7, "sweep.svg")).not.toContain("less well");
  });

  it("runs every policy per scenario and reports serflow over the cheapest baseline and over its bound", () => {
    const rs = runSweep(4, 3, opts);
    expect(rs).toHaveLength(4);
    for (const r of rs) {
      const names = r.results.map((x) => x.policy);
      for (const p of POLICIES.filter((p) => p !== "oracle")) expect(names).toContain(p);
      expect(names).toContain("oracle-noqueue");
      // The bound holds for policies that meet the SLO.
      if (r.serflow.slo_attainment >= SLO_TARGET) expect(r.overBound).toBeGreaterThanOrEqual(1 - 1e-9);
      expect(r.overBaseline).toBeCloseTo(r.serflow.cost_usd / r.baseline.cost_usd, 12);
      if (r.baselineMeetsSlo) expect(r.baseline.slo_attainment).toBeGreaterThanOrEqual(SLO_TARGET);
      expect(judge(r.scenario, r.results).baseline.policy).toBe(r.baseline.policy);
    }
    const md = sweepMarkdown(rs, 3, "sweep.svg");
    expect(md.split("\n").filter((l) => /^\| \d+ \|/.test(l))).toHaveLength(4);
    expect(sweepSvg(rs, 3)).toContain("<polyline");
  }, 60_000);
});
