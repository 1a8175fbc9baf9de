// Exit rules: when a row's head is confident enough to stop at this stage.
import type { ExitRule } from "./manifest.js";

/** Largest probability of one row. */
export function maxProb(probs: Float32Array, offset: number, classes: number): { label: number; conf: number } {
  let label = 0;
  let conf = probs[offset];
  for (let c = 1; c < classes; c++) {
    if (probs[offset + c] > conf) {
      conf = probs[offset + c];
      label = c;
    }
  }
  return { label, conf };
}

/** Shannon entropy (nats) of one row. */
export function entropy(probs: Float32Array, offset: number, classes: number): number {
  let h = 0;
  for (let c = 0; c < classes; c++) {
    const p = probs[offset + c];
    if (p > 0) h -= p * Math.log(p);
  }
  return h;
}

export interface ExitCriterion {
  rule: ExitRule;
  threshold: number;
}

/**
 * Does the row exit? A max-softmax threshold of 1 or more never exits early (a float32 softmax can round
 * to exactly 1, and "1" is documented to mean "run every stage").
 */
export function shouldExit(probs: Float32Array, offset: number, classes: number, c: ExitCriterion): boolean {
  if (c.rule === "entropy") return entropy(probs, offset, classes) <= c.threshold;
  if (c.threshold >= 1) return false;
  return maxProb(probs, offset, classes).conf >= c.threshold;
}
