// Exit thresholds from a labelled validation set (`npm run model:calibrate`). Runtime-free and pure: given
// every stage's probabilities for every row, choose per-stage thresholds that let the most rows exit
// early (weighted by the compute they save) while the chain's accuracy stays at or above a target.
import type { ExitRule } from "./manifest.js";
import { maxProb, shouldExit } from "./exit.js";

export interface StageProbs {
  /** [rows * classes], softmax probabilities of this stage's head. */
  probs: Float32Array;
  rule: ExitRule;
}

export interface ChainOutcome {
  accuracy: number;
  /** Share of all rows that exit at each stage (sums to 1). */
  exitShares: number[];
  /** Share of all rows that reach each stage. */
  reach: number[];
}

/** Candidate thresholds: confidences for max_softmax (higher is stricter), entropies for entropy (lower is). */
export const THRESHOLD_GRID: Record<ExitRule, number[]> = {
  max_softmax: [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999, 0.9999, 1],
  entropy: [2, 1.5, 1, 0.7, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01, 0.001, 0],
};

/** The chain at these thresholds (the last stage always exits). */
export function evaluateChain(
  stages: StageProbs[],
  labels: number[],
  classes: number,
  thresholds: number[],
): ChainOutcome {
  const n = labels.length;
  const exits = new Array(stages.length).fill(0);
  let right = 0;
  for (let r = 0; r < n; r++) {
    let k = 0;
    while (
      k < stages.length - 1 &&
      !shouldExit(stages[k].probs, r * classes, classes, { rule: stages[k].rule, threshold: thresholds[k] })
    )
      k++;
    exits[k]++;
    if (maxProb(stages[k].probs, r * classes, classes).label === labels[r]) right++;
  }
  const exitShares = exits.map((e) => e / n);
  const reach = exitShares.map((_, i) => exitShares.slice(i).reduce((a, b) => a + b, 0));
  return { accuracy: right / n, exitShares, reach };
}

/**
 * Thresholds whose chain accuracy is >= minAccuracy at the lowest expected cost sum_i reach_i * cost_i
 * (`stageCost`, e.g. each stage's service time). Coordinate descent over the grid, from "nobody exits
 * early" (always feasible when the last head meets the target), sweeps until nothing improves.
 */
export function chooseThresholds(
  stages: StageProbs[],
  labels: number[],
  classes: number,
  minAccuracy: number,
  stageCost: number[],
): { thresholds: number[]; outcome: ChainOutcome; feasible: boolean } {
  const last = stages.length - 1;
  const strictest = (rule: ExitRule) => (rule === "max_softmax" ? 1.01 : -1); // never exits
  const t: number[] = stages.map((s, i) => (i === last ? 0 : strictest(s.rule)));
  const cost = (o: ChainOutcome) => o.reach.reduce((a, r, i) => a + r * stageCost[i], 0);
  let best = evaluateChain(stages, labels, classes, t);
  const feasible = best.accuracy >= minAccuracy - 1e-12;
  if (!feasible) return { thresholds: t.map((v, i) => (i === last ? 0 : v > 1 ? 1 : 0)), outcome: best, feasible };
  // Until a sweep improves nothing: each move lowers the cost, over a finite grid, so this ends.
  for (let improved = true; improved; ) {
    improved = false;
    for (let i = 0; i < last; i++) {
      for (const cand of THRESHOLD_GRID[stages[i].rule]) {
        const trial = t.map((v, k) => (k === i ? cand : v));
        const o = evaluateChain(stages, labels, classes, trial);
        if (o.accuracy >= minAccuracy - 1e-12 && cost(o) < cost(best) - 1e-12) {
          best = o;
          t[i] = cand;
          improved = true;
        }
      }
    }
  }
  // 1.01 / -1 meant "never exits": write the grid's strictest value instead.
  return { thresholds: t.map((v) => Math.min(1, Math.max(0, v))), outcome: best, feasible };
}
