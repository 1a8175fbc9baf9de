// The stage signature check every runtime applies to its sessions: messages name model, file and tensor.
import { describe, expect, it } from "vitest";
import { InvalidManifestError } from "./errors.js";
import { parseManifest } from "./manifest.js";
import { checkRunDims, checkStageSignature } from "./stage-check.js";

// mnist's manifest (models/mnist/manifest.json; core/ may not import models/).
const stage = (i: number, input: string, hidden: string | null, shape: number[] | null) => ({
  file: `stage${i}.onnx`,
  input,
  hidden_output: hidden,
  hidden_shape: shape,
  probs_output: `probs${i}`,
  exit: { rule: "max_softmax", threshold: hidden ? 0.9 : 0 },
});
const m = parseManifest({
  name: "mnist",
  version: "2",
  input: { name: "input", datatype: "FP32", shape: [-1, 784] },
  classes: 10,
  stages: [stage(0, "input", "h0", [-1, 16, 14, 14]), stage(1, "h0", "h1", [-1, 32, 7, 7]), stage(2, "h1", null, null)],
});
const sig1 = {
  inputNames: ["h0"],
  outputNames: ["h1", "probs1"],
  inputMetadata: [{ name: "h0", shape: ["N", 16, 14, 14] }],
  outputMetadata: [
    { name: "h1", shape: ["N", 32, 7, 7] },
    { name: "probs1", shape: ["N", 10] },
  ],
};

describe("checkStageSignature", () => {
  it("accepts the real stage 1 signature", () => {
    expect(() => checkStageSignature(m, 1, sig1, "models/mnist/stage1.onnx")).not.toThrow();
  });
  it.each([
    [
      { ...sig1, inputNames: ["x"] },
      /model "mnist": models\/mnist\/stage1.onnx: input "h0" .* inputs are "x"; rename the graph's input to "h0"/,
    ],
    [
      { ...sig1, outputNames: ["hidden", "probs1"] },
      /output "h1" \(manifest stages\[1\]\.hidden_output\) is not an output/,
    ],
    [
      { ...sig1, inputMetadata: [{ name: "h0", shape: ["N", 8, 14, 14] }] },
      /"h0" has shape \[N, 8, 14, 14\] .* stages\[0\]\.hidden_shape says \[-1, 16, 14, 14\]/,
    ],
    [{ ...sig1, outputMetadata: [{ name: "probs1", shape: ["N", 9] }] }, /"probs1" has shape \[N, 9\] .* classes/],
  ])("refuses a mismatch, naming it (%#)", (sig, msg) => {
    expect(() => checkStageSignature(m, 1, sig, "models/mnist/stage1.onnx")).toThrow(msg);
  });
  it("checks the dims a run produced", () => {
    const ok = { h1: { dims: [4, 32, 7, 7] }, probs1: { dims: [4, 10] } };
    expect(() => checkRunDims(m, 1, ok, 4, "f")).not.toThrow();
    expect(() => checkRunDims(m, 1, { ...ok, h1: { dims: [4, 32, 6, 6] } }, 4, "f")).toThrow(
      /"h1" came out as \[4, 32, 6, 6\]/,
    );
  });
  it("names the fix that fits: a rename for stage 0 or a later stage, none when the graph has several inputs", () => {
    const sig0 = { inputNames: ["x"], outputNames: ["h0", "probs0"] };
    expect(() => checkStageSignature(m, 0, sig0, "f")).toThrow(
      'model "mnist": f: input "input" (manifest stages[0].input) is not an input of the graph, whose inputs are "x"; rename the graph\'s input to "input" or set input.name and stages[0].input to "x"',
    );
    expect(() => checkStageSignature(m, 1, { ...sig1, inputNames: ["a", "b"] }, "f")).toThrow(
      /whose inputs are "a", "b"$/,
    );
    // The named input is there, but a stage takes exactly one.
    expect(() => checkStageSignature(m, 1, { ...sig1, inputNames: ["h0", "mask"] }, "f")).toThrow(
      'model "mnist": f: the graph has 2 inputs ("h0", "mask"); a stage takes exactly one, "h0"',
    );
  });
  it("a graph tensor of another rank than the manifest's is refused; symbolic or -1 dimensions fit any size", () => {
    for (const shape of [
      ["N", 16, 14],
      ["N", 16, 14, 14, 1],
    ])
      expect(() => checkStageSignature(m, 1, { ...sig1, inputMetadata: [{ name: "h0", shape }] }, "f")).toThrow(
        `tensor "h0" has shape [${shape.join(", ")}] in the graph, but the manifest's stages[0].hidden_shape says [-1, 16, 14, 14]`,
      );
    for (const shape of [
      [-1, "C", 14, 14],
      [-1, -1, 14, 14],
      [1, 16, 14, 14],
    ])
      expect(() => checkStageSignature(m, 1, { ...sig1, inputMetadata: [{ name: "h0", shape }] }, "f")).not.toThrow();
    // 0 is a size, not a wildcard.
    expect(() =>
      checkStageSignature(m, 1, { ...sig1, inputMetadata: [{ name: "h0", shape: ["N", 0, 14, 14] }] }, "f"),
    ).toThrow(/"h0" has shape \[N, 0, 14, 14\]/);
  });
  it("a later stage's hint names the previous stage's hidden output", () => {
    expect(() => checkStageSignature(m, 2, { inputNames: ["x"], outputNames: ["probs2"] }, "f")).toThrow(
      'model "mnist": f: input "h1" (manifest stages[2].input) is not an input of the graph, whose inputs are "x"; rename the graph\'s input to "h1" (the hidden output of stage 1)',
    );
  });
  it("run dims: the last stage has no hidden output to check; a missing output is named, not a crash", () => {
    expect(() => checkRunDims(m, 2, { probs2: { dims: [3, 10] } }, 3, "f")).not.toThrow();
    expect(() => checkRunDims(m, 2, {}, 3, "f")).toThrow(
      new InvalidManifestError(
        'model "mnist": f: on 3 rows, "probs2" did not come out, but the manifest\'s classes means [3, 10]',
      ),
    );
    expect(() => checkRunDims(m, 1, { probs1: { dims: [2, 10] }, h1: { dims: [2, 32, 7] } }, 2, "f")).toThrow(
      new InvalidManifestError(
        'model "mnist": f: on 2 rows, "h1" came out as [2, 32, 7], but the manifest\'s stages[1].hidden_shape means [2, 32, 7, 7]',
      ),
    );
  });
  it("checks the hidden output's shape and stage 0's input shape, naming the manifest field; undeclared shapes pass", () => {
    const hidden = { ...sig1, outputMetadata: [{ name: "h1", shape: ["N", 32, 7, 8] }] };
    expect(() => checkStageSignature(m, 1, hidden, "f")).toThrow(
      'model "mnist": f: tensor "h1" has shape [N, 32, 7, 8] in the graph, but the manifest\'s stages[1].hidden_shape says [-1, 32, 7, 7]',
    );
    const sig0 = {
      inputNames: ["input"],
      outputNames: ["h0", "probs0"],
      inputMetadata: [{ name: "input", shape: ["N", 783] }],
    };
    expect(() => checkStageSignature(m, 0, sig0, "f")).toThrow(
      'model "mnist": f: tensor "input" has shape [N, 783] in the graph, but the manifest\'s input.shape says [-1, 784]',
    );
    expect(() => checkStageSignature(m, 1, { inputNames: ["h0"], outputNames: ["h1", "probs1"] }, "f")).not.toThrow();
    // The manifest's batch is -1: a graph that fixes it passes here (the sample run is what tries other sizes).
    const fixed = { ...sig1, outputMetadata: [{ name: "probs1", shape: [4, 10] }] };
    expect(() => checkStageSignature(m, 1, fixed, "f")).not.toThrow();
  });
});
