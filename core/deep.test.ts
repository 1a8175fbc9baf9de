// The deep-stage call: which frames it takes, and how frames queued on a busy model are batched and split.
import { describe, expect, it } from "vitest";
import { DeepBatcher, runDeep, type ModelLookup } from "./deep.js";
import type { StageRunner } from "./engine.js";
import { encodeFrame } from "./frame.js";
import { THREE_STAGE_MANIFEST, TINY_MANIFEST } from "./fixtures.js";
import { parseManifest } from "./manifest.js";

const m = parseManifest(TINY_MANIFEST);
// Stage 1 (the last) answers class 1 with confidence 0.5 + x / 100 for a row whose first value is x.
function tinyRunner(calls: number[][] = []): StageRunner {
  return {
    async run(stage, input, rows) {
      calls.push([stage, rows]);
      const probs = new Float32Array(rows * 2);
      for (let r = 0; r < rows; r++) {
        const c = 0.5 + input[r * 3] / 100;
        probs.set([1 - c, c], r * 2);
      }
      return { probs };
    },
  };
}
const lookup =
  (runner: StageRunner): ModelLookup =>
  (name) =>
    name === "tiny" ? { manifest: m, runner: async () => runner } : undefined;
const frame = (xs: number[], over: Record<string, unknown> = {}) =>
  encodeFrame(
    { model: "tiny", fromStage: 1, shape: [xs.length, 3], ...over },
    new Float32Array(xs.flatMap((x) => [x, 0, 0])),
  );

const stage0 = encodeFrame({ model: "tiny", fromStage: 0, shape: [1, 4] }, new Float32Array(4));

describe("deep-stage frames", () => {
  it("runs the remaining stages and answers each row of the frame by its index", async () => {
    const out = await runDeep(lookup(tinyRunner()), frame([10, 20]));
    expect(out.results.map((r) => [r.row, r.label, r.exitStage])).toEqual([
      [0, 1, 1],
      [1, 1, 1],
    ]);
    expect(out.results[1].confidence).toBeCloseTo(0.7, 6);
    expect(out.timings).toEqual([expect.objectContaining({ stage: 1, rows: 2, exits: 2 })]);
  });

  it.each([
    ["an unknown model", frame([1], { model: "other" }), /unknown model "other"/],
    ["stage 0 where the manifest pins it to the Worker", stage0, /fromStage 0 must be in \[1, 1\]/],
    ["a stage past the last", frame([1], { fromStage: 2 }), /fromStage 2 must be in \[1, 1\]/],
    ["a shape that is not the stage's input", frame([1], { shape: [3, 1] }), /does not match stage 1 input \[3,3\]/],
    [
      "a shape with an extra dimension",
      encodeFrame({ model: "tiny", fromStage: 1, shape: [1, 3, 1] }, new Float32Array(3)),
      /does not match stage 1 input/,
    ],
  ])("refuses %s", async (_what, bytes, msg) => {
    await expect(runDeep(lookup(tinyRunner()), bytes)).rejects.toThrow(msg);
  });

  it("runs every stage from the input when the manifest lets stage 0 leave the Worker", async () => {
    const free = parseManifest({
      ...TINY_MANIFEST,
      stages: [{ ...TINY_MANIFEST.stages[0], placement: "auto" }, TINY_MANIFEST.stages[1]],
    });
    const calls: number[][] = [];
    const runner: StageRunner = {
      async run(stage, input, rows) {
        calls.push([stage, rows, input.length]);
        // Stage 0 is unsure (0.6 < 0.9): every row goes on to stage 1 with a hidden state of 3.
        if (stage === 0) return { probs: new Float32Array(rows * 2).fill(0.5), hidden: new Float32Array(rows * 3) };
        return { probs: new Float32Array(rows * 2).fill(0.5).map((_, i) => (i % 2 ? 0.8 : 0.2)) };
      },
    };
    const out = await runDeep(
      (name) => (name === "tiny" ? { manifest: free, runner: async () => runner } : undefined),
      encodeFrame({ model: "tiny", fromStage: 0, shape: [2, 4] }, new Float32Array(8)),
    );
    expect(calls).toEqual([
      [0, 2, 8],
      [1, 2, 6],
    ]);
    expect(out.results.map((r) => [r.row, r.label, r.exitStage])).toEqual([
      [0, 1, 1],
      [1, 1, 1],
    ]);
  });
});

describe("deep-stage frame shapes", () => {
  it("a frame whose shape is only the first dimensions of a 3-D stage input is refused", async () => {
    const [s0, s1] = TINY_MANIFEST.stages;
    const m3d = parseManifest({ ...TINY_MANIFEST, stages: [{ ...s0, hidden_shape: [-1, 3, 2] }, s1] });
    const models: ModelLookup = (name) =>
      name === "tiny" ? { manifest: m3d, runner: async () => tinyRunner() } : undefined;
    const short = encodeFrame({ model: "tiny", fromStage: 1, shape: [2, 3] }, new Float32Array(6));
    await expect(runDeep(models, short)).rejects.toThrow("frame: shape [2,3] does not match stage 1 input [2,3,2]");
  });
});

describe("deep-stage batching", () => {
  it("frames that arrive while a batch runs go together in the next, each answered with its own rows", async () => {
    const calls: number[][] = [];
    const b = new DeepBatcher(lookup(tinyRunner(calls)), 64);
    const outs = await Promise.all([frame([1]), frame([2, 3]), frame([4, 5, 6])].map((f) => b.run(f)));
    // The first runs alone at once; the two that queued meanwhile run as one batch of 5 rows.
    expect(calls).toEqual([
      [1, 1],
      [1, 5],
    ]);
    expect(b.batches).toBe(2);
    expect(outs.map((o) => o.results.map((r) => r.row))).toEqual([[0], [0, 1], [0, 1, 2]]);
    expect(outs.map((o) => o.results.map((r) => Math.round(r.confidence * 100)))).toEqual([
      [51],
      [52, 53],
      [54, 55, 56],
    ]);
    expect(outs.map((o) => o.timings.map((t) => [t.stage, t.rows, t.exits]))).toEqual([
      [[1, 1, 1]],
      [[1, 2, 2]],
      [[1, 3, 3]],
    ]);
  });

  it("a batch takes queued frames up to maxRows in order; a frame over maxRows alone still runs", async () => {
    const calls: number[][] = [];
    const b = new DeepBatcher(lookup(tinyRunner(calls)), 4);
    await Promise.all(
      [frame([1]), frame([1, 1]), frame([1, 1]), frame([1, 1, 1, 1, 1]), frame([1])].map((f) => b.run(f)),
    );
    // 1 alone; then 2 + 2 = 4 (the next would pass 4); then the 5-row frame alone; then 1.
    expect(calls.map((c) => c[1])).toEqual([1, 4, 5, 1]);
  });

  it("frames of different thresholds are not batched together", async () => {
    const calls: number[][] = [];
    const b = new DeepBatcher(lookup(tinyRunner(calls)), 64);
    await Promise.all([b.run(frame([1])), b.run(frame([2], { exitThreshold: 0.5 })), b.run(frame([3]))]);
    expect(calls.map((c) => c[1]).sort()).toEqual([1, 1, 1]);
  });

  it("a runner failure fails every frame of that batch, and the model serves again after", async () => {
    let fail = true;
    const runner = tinyRunner();
    const flaky: StageRunner = {
      run: (stage, input, rows) => (fail ? Promise.reject(new Error("ort crashed")) : runner.run(stage, input, rows)),
    };
    const b = new DeepBatcher(lookup(flaky), 64);
    const results = await Promise.allSettled([b.run(frame([1])), b.run(frame([2]))]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    fail = false;
    expect((await b.run(frame([3]))).results).toHaveLength(1);
  });

  it("a bad frame is refused alone, before it joins a batch", async () => {
    const b = new DeepBatcher(lookup(tinyRunner()), 64);
    expect(() => b.run(stage0)).toThrow(/fromStage 0/);
    expect((await b.run(frame([1]))).results).toHaveLength(1);
  });
});

describe("deep-stage batching over two stages", () => {
  const m3 = parseManifest(THREE_STAGE_MANIFEST);
  // Stage 1 lets a row out when its first value is >= 50; stage 2 (the last) answers the rest.
  const runner: StageRunner = {
    async run(stage, input, rows) {
      const probs = new Float32Array(rows * 2);
      for (let r = 0; r < rows; r++) probs.set(stage === 1 && input[r * 3] >= 50 ? [0.05, 0.95] : [0.4, 0.6], r * 2);
      return { probs, hidden: stage < 2 ? new Float32Array(rows * 3) : undefined };
    },
  };
  const frame3 = (xs: number[]) =>
    encodeFrame({ model: "tiny", fromStage: 1, shape: [xs.length, 3] }, new Float32Array(xs.flatMap((x) => [x, 0, 0])));

  it("each frame's timings count only its own rows, and list no stage none of its rows reached", async () => {
    const b = new DeepBatcher((name) => (name === "tiny" ? { manifest: m3, runner: async () => runner } : undefined));
    // The first runs alone; the next three run as one batch of 6 rows over stages 1 and 2.
    const [, early, late, mixed] = await Promise.all(
      [frame3([1]), frame3([60, 70]), frame3([1, 2, 3]), frame3([80, 4])].map((f) => b.run(f)),
    );
    expect(b.batches).toBe(2);
    const counts = (o: typeof early) => o.timings.map((t) => [t.stage, t.rows, t.exits]);
    expect(counts(early)).toEqual([[1, 2, 2]]); // all out at stage 1: stage 2 is not theirs
    expect(counts(late)).toEqual([
      [1, 3, 0],
      [2, 3, 3],
    ]);
    expect(counts(mixed)).toEqual([
      [1, 2, 1],
      [2, 1, 1],
    ]);
    expect(mixed.results.map((r) => [r.row, r.exitStage])).toEqual([
      [0, 1],
      [1, 2],
    ]);
    // Each frame's stage times are the batch's (one runtime call per stage for all three).
    expect(late.timings[0].ms).toBe(early.timings[0].ms);
  });
});
