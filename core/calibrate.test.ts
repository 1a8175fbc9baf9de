// Threshold calibration on hand-made heads: the chosen thresholds meet the accuracy target at the lowest cost.
import { describe, expect, it } from "vitest";
import { chooseThresholds, evaluateChain } from "./calibrate.js";

// 4 rows, 2 classes, 2 stages. Stage 0 is confident and right on rows 0-1, unsure on row 2, confidently
// wrong on row 3; stage 1 is right everywhere.
const s0 = Float32Array.from([0.99, 0.01, 0.02, 0.98, 0.6, 0.4, 0.96, 0.04]);
const s1 = Float32Array.from([0.9, 0.1, 0.1, 0.9, 0.2, 0.8, 0.1, 0.9]);
const labels = [0, 1, 1, 1];
const stages = [
  { probs: s0, rule: "max_softmax" as const },
  { probs: s1, rule: "max_softmax" as const },
];

describe("calibration", () => {
  it("evaluates a chain: exits, reach and accuracy", () => {
    const o = evaluateChain(stages, labels, 2, [0.9, 0]);
    expect(o.exitShares).toEqual([0.75, 0.25]); // rows 0, 1, 3 exit at stage 0
    expect(o.reach).toEqual([1, 0.25]);
    expect(o.accuracy).toBe(0.75); // row 3 exits wrong at stage 0; row 2 goes on and is right
  });
  it("keeps full accuracy by exiting only rows 0 and 1 (threshold above 0.96)", () => {
    const r = chooseThresholds(stages, labels, 2, 1, [1, 10]);
    expect(r.feasible).toBe(true);
    expect(r.outcome.accuracy).toBe(1);
    expect(r.thresholds[0]).toBeGreaterThan(0.96);
    expect(r.thresholds[0]).toBeLessThanOrEqual(0.98);
    expect(r.outcome.exitShares).toEqual([0.5, 0.5]);
  });
  it("trades accuracy for cost when the target allows it", () => {
    const r = chooseThresholds(stages, labels, 2, 0.75, [1, 10]);
    expect(r.outcome.accuracy).toBeGreaterThanOrEqual(0.75);
    expect(r.outcome.exitShares[0]).toBe(0.75);
  });
});
