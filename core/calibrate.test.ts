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

// Three stages, 4 rows (labels 0, 0, 1, 1), probabilities [p(class 0), p(class 1)] per row:
//   A: sure and right everywhere.            Y: stage 0 sure (0.95) and wrong; right later.
//   X: the last stage is wrong; stage 1 sure and right.   B: right everywhere, never sure.
// Stage 0 may let only A out until stage 1 lets X out (accuracy 3/4 -> 1); then the accuracy to spare
// lets stage 0 loosen to 0.6 (Y out, wrong) in a second sweep.
const chain3 = (rules: Array<"max_softmax" | "entropy"> = ["max_softmax", "max_softmax", "max_softmax"]) =>
  [
    [0.99, 0.01, 0.05, 0.95, 0.55, 0.45, 0.4, 0.6],
    [0.9, 0.1, 0.52, 0.48, 0.02, 0.98, 0.4, 0.6],
    [0.9, 0.1, 0.9, 0.1, 0.9, 0.1, 0.4, 0.6],
  ].map((p, i) => ({ probs: Float32Array.from(p), rule: rules[i] }));
const labels3 = [0, 0, 1, 1];

describe("calibration rules", () => {
  it("the last stage always exits, whatever threshold it is given", () => {
    const o = evaluateChain(stages, labels, 2, [1, 1]);
    expect(o.exitShares).toEqual([0, 1]);
    expect(o.reach).toEqual([1, 1]);
    expect(o.accuracy).toBe(1);
    expect(evaluateChain(chain3(), labels3, 2, [1, 1, 1]).exitShares).toEqual([0, 0, 1]);
  });

  it("a target exactly met is feasible; one just above the whole chain's accuracy is not", () => {
    expect(evaluateChain(chain3(), labels3, 2, [1, 1, 0]).accuracy).toBe(0.75);
    expect(chooseThresholds(chain3(), labels3, 2, 0.75, [1, 1, 1]).feasible).toBe(true);
    // A target within 1e-12 of the accuracy (float rounding of a sum of shares) is met.
    const rounded = chooseThresholds(chain3(), labels3, 2, 0.75 + 1e-12, [1, 1, 1]);
    expect([rounded.feasible, rounded.thresholds]).toEqual([true, [0.6, 0.5, 0]]);
    const r = chooseThresholds(chain3(["max_softmax", "entropy", "max_softmax"]), labels3, 2, 0.76, [1, 1, 1]);
    // Infeasible: nobody exits early, reported as each rule's strictest grid value (1, entropy 0), last 0.
    expect(r.feasible).toBe(false);
    expect(r.thresholds).toEqual([1, 0, 0]);
    expect(r.outcome.exitShares).toEqual([0, 0, 1]);
  });

  it("descends until no stage improves: a later stage's gain lets an earlier one loosen", () => {
    const r = chooseThresholds(chain3(), labels3, 2, 0.75, [1, 1, 1]);
    expect(r.thresholds).toEqual([0.6, 0.5, 0]);
    expect(r.outcome.exitShares).toEqual([0.75, 0.25, 0]); // A, Y, B at stage 0; X at stage 1
    expect(r.outcome.reach).toEqual([1, 0.25, 0]);
    expect(r.outcome.accuracy).toBe(0.75);
  });

  it("stage 0's cost does not change the choice (every row runs it)", () => {
    const at = (c0: number) => chooseThresholds(chain3(), labels3, 2, 0.75, [c0, 2, 3]).thresholds;
    expect(at(0)).toEqual(at(5));
    expect(at(0)).toEqual([0.6, 0.5, 0]);
  });

  it("a stage no threshold can loosen reports its rule's strictest grid value, not 'never exits'", () => {
    // Stage 0 is sure and wrong on every row: any early exit loses accuracy.
    const wrong = Float32Array.from([0.01, 0.99, 0.01, 0.99]);
    const right = Float32Array.from([0.9, 0.1, 0.9, 0.1]);
    for (const [rule, strictest] of [
      ["max_softmax", 1],
      ["entropy", 0],
    ] as const) {
      const r = chooseThresholds(
        [
          { probs: wrong, rule },
          { probs: right, rule },
        ],
        [0, 0],
        2,
        1,
        [1, 1],
      );
      expect([r.feasible, r.thresholds, r.outcome.exitShares]).toEqual([true, [strictest, 0], [0, 1]]);
    }
  });
});
