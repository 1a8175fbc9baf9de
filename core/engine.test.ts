import { describe, expect, it } from "vitest";
import { criterionFor, runStages, stageInputShape, type StageRunner } from "./engine.js";
import { parseManifest } from "./manifest.js";
import { TINY_MANIFEST } from "./fixtures.js";

// A deterministic runner: stage 0 is confident for rows whose first input is > 0; stage 1 always answers
// class 1. The hidden state carries the row's first value so compaction can be checked.
const runner: StageRunner = {
  async run(stage, input, rows) {
    const width = stage === 0 ? 4 : 3;
    const probs = new Float32Array(rows * 2);
    const hidden = stage === 0 ? new Float32Array(rows * 3) : undefined;
    for (let r = 0; r < rows; r++) {
      const x = input[r * width];
      if (stage === 0) {
        probs.set(x > 0 ? [0.99, 0.01] : [0.5, 0.5], r * 2);
        hidden!.set([x, x, x], r * 3);
      } else probs.set([0.3 + (x === -7 ? 0.1 : 0), 0.7 - (x === -7 ? 0.1 : 0)], r * 2);
    }
    return { probs, hidden };
  },
};

describe("runStages", () => {
  const m = parseManifest(TINY_MANIFEST);
  const input = new Float32Array([1, 0, 0, 0, -7, 0, 0, 0, 2, 0, 0, 0, -3, 0, 0, 0]);
  const all = { stage: 0, rows: [0, 1, 2, 3], data: input };

  it("stops each row at its exit and compacts the rest", async () => {
    const out = await runStages(runner, m, all, 1);
    expect([...out.results.keys()].sort()).toEqual([0, 2]);
    expect(out.pending!.rows).toEqual([1, 3]);
    expect(Array.from(out.pending!.data)).toEqual([-7, -7, -7, -3, -3, -3]);
    expect(out.timings).toEqual([expect.objectContaining({ stage: 0, rows: 4, exits: 2 })]);
  });

  it("answers every row of a mixed batch correctly", async () => {
    const out = await runStages(runner, m, all, 2);
    expect(out.pending).toBeNull();
    expect(out.results.get(0)).toMatchObject({ exitStage: 0, label: 0 });
    expect(out.results.get(1)).toMatchObject({ exitStage: 1, label: 1 });
    expect(out.results.get(1)!.probs[0]).toBeCloseTo(0.4);
    expect(out.results.get(3)).toMatchObject({ exitStage: 1, label: 1 });
  });

  it("exit_threshold 1 sends every row to the last stage", async () => {
    const out = await runStages(runner, m, all, 2, 1);
    expect([...out.results.values()].every((r) => r.exitStage === 1)).toBe(true);
  });

  it("keys results by the caller's row indices, which need not be 0..n-1 nor sorted", async () => {
    // Rows 7, 3, 12, 5 of some larger batch; 7 and 12 exit at stage 0, 3 and 5 go on.
    const rows = [7, 3, 12, 5];
    const out = await runStages(runner, m, { stage: 0, rows, data: input }, 1);
    expect([...out.results.keys()]).toEqual([7, 12]);
    expect(out.results.get(12)).toMatchObject({ exitStage: 0, label: 0 });
    expect(out.pending!.rows).toEqual([3, 5]);
    expect(Array.from(out.pending!.data)).toEqual([-7, -7, -7, -3, -3, -3]);
    const rest = await runStages(runner, m, out.pending!, 2);
    expect([...rest.results.keys()]).toEqual([3, 5]);
    // Row 3 carried the -7 of its input through the hidden state (its stage-1 answer is 0.4 / 0.6).
    expect(rest.results.get(3)!.probs[0]).toBeCloseTo(0.4);
    expect(rest.results.get(5)!.probs[0]).toBeCloseTo(0.3);
  });

  it("passes a batch through unchanged when no row exits, and counts rows and exits per stage", async () => {
    const none = { stage: 0, rows: [1, 3], data: new Float32Array([-7, 0, 0, 0, -3, 0, 0, 0]) };
    let t = 0;
    const out = await runStages(runner, m, none, 2, undefined, () => (t += 5));
    expect(out.timings).toEqual([
      { stage: 0, rows: 2, exits: 0, ms: 5 },
      { stage: 1, rows: 2, exits: 2, ms: 5 },
    ]);
    expect([...out.results.values()].map((r) => r.exitStage)).toEqual([1, 1]);
  });

  it("stops when every row has exited, with nothing pending and no further stage run", async () => {
    const calls: number[] = [];
    const spy: StageRunner = {
      run: (stage, x, n) => {
        calls.push(stage);
        return runner.run(stage, x, n);
      },
    };
    const out = await runStages(
      spy,
      m,
      { stage: 0, rows: [0, 1], data: new Float32Array([1, 0, 0, 0, 2, 0, 0, 0]) },
      2,
    );
    expect(out.pending).toBeNull();
    expect(calls).toEqual([0]);
    expect(out.results.size).toBe(2);
  });

  it("runs no stage when the range is empty (pending already at `until`)", async () => {
    const out = await runStages(runner, m, { stage: 1, rows: [0], data: new Float32Array(3) }, 1);
    expect(out).toEqual({
      results: new Map(),
      pending: { stage: 1, rows: [0], data: new Float32Array(3) },
      timings: [],
    });
  });

  it("the last stage always exits; an exit_threshold overrides every other stage's rule", () => {
    expect(criterionFor(m, 1, 0.99)).toEqual({ rule: "max_softmax", threshold: 0 });
    expect(criterionFor(m, 0, 0.99)).toEqual({ rule: "max_softmax", threshold: 0.99 });
    expect(criterionFor(m, 0)).toEqual(m.stages[0].exit);
  });

  it("a stage's input shape is the model input for stage 0, else the previous stage's hidden shape", () => {
    expect(stageInputShape(m, 0, 5)).toEqual([5, 4]);
    expect(stageInputShape(m, 1, 2)).toEqual([2, 3]);
  });
});
