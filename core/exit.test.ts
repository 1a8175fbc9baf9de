import { describe, expect, it } from "vitest";
import { entropy, maxProb, shouldExit } from "./exit.js";

const rows = (...r: number[][]) => new Float32Array(r.flat());

describe("exit rules at their boundaries", () => {
  it("max softmax: a confidence equal to the threshold exits, the next float32 below does not", () => {
    const at = Math.fround(0.9);
    const below = at - 2 ** -24; // one float32 step below 0.9 (their spacing there is 2^-24)
    const p = rows([0.1, at], [0.1, below]);
    expect(p[3]).toBeLessThan(at);
    expect(shouldExit(p, 0, 2, { rule: "max_softmax", threshold: at })).toBe(true);
    expect(shouldExit(p, 2, 2, { rule: "max_softmax", threshold: at })).toBe(false);
    // An exact tie at 0.5 on two classes: the confidence is 0.5 and exits at 0.5.
    expect(shouldExit(rows([0.5, 0.5]), 0, 2, { rule: "max_softmax", threshold: 0.5 })).toBe(true);
  });

  it("max softmax: threshold 0 always exits, 1 never does, even at a confidence of exactly 1", () => {
    const p = rows([1, 0], [0.3, 0.7]);
    expect(shouldExit(p, 0, 2, { rule: "max_softmax", threshold: 1 })).toBe(false);
    expect(shouldExit(p, 2, 2, { rule: "max_softmax", threshold: 0 })).toBe(true);
  });

  it("entropy: an entropy equal to the threshold exits, a threshold just below it does not", () => {
    const p = rows([0.25, 0.75]);
    const h = entropy(p, 0, 2);
    expect(h).toBeCloseTo(-(0.25 * Math.log(0.25) + 0.75 * Math.log(0.75)), 12);
    expect(shouldExit(p, 0, 2, { rule: "entropy", threshold: h })).toBe(true);
    expect(shouldExit(p, 0, 2, { rule: "entropy", threshold: h * (1 - 1e-12) })).toBe(false);
    // A threshold of 1 or more is a valid entropy bound (nats), not "never exit".
    expect(shouldExit(rows([0.5, 0.5]), 0, 2, { rule: "entropy", threshold: 1 })).toBe(true);
  });

  it("entropy: zero probabilities add nothing; a one-hot row has entropy 0", () => {
    expect(entropy(rows([0, 1, 0]), 0, 3)).toBe(0);
    expect(entropy(rows([0.5, 0, 0.5]), 0, 3)).toBeCloseTo(Math.log(2), 12);
  });

  it("reads the row at its offset only (rows are `classes` wide)", () => {
    const p = rows([0.9, 0.05, 0.05], [0.2, 0.3, 0.5], [0.1, 0.8, 0.1]);
    expect(maxProb(p, 0, 3)).toEqual({ label: 0, conf: Math.fround(0.9) });
    expect(maxProb(p, 3, 3)).toEqual({ label: 2, conf: Math.fround(0.5) });
    expect(maxProb(p, 6, 3)).toEqual({ label: 1, conf: Math.fround(0.8) });
    expect(entropy(p, 3, 3)).toBeCloseTo(-[0.2, 0.3, 0.5].reduce((a, q) => a + q * Math.log(q), 0), 6);
  });

  it("maxProb: the first of equal probabilities wins, and the last class can win", () => {
    expect(maxProb(rows([0.4, 0.4, 0.2]), 0, 3).label).toBe(0);
    expect(maxProb(rows([0.2, 0.4, 0.4]), 0, 3).label).toBe(1);
    expect(maxProb(rows([0.1, 0.2, 0.7]), 0, 3).label).toBe(2);
  });
});
