import { describe, expect, it } from "vitest";
import { runStages, type StageRunner } from "./engine.js";
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
});
