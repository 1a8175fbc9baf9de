// Loading models on a VM, and the onnxruntime adapter (core/ort-runner.ts) over real onnxruntime-node
// sessions of mnist: rows in, each stage's probabilities (and hidden state) out, and a manifest naming
// an output the graph does not have fails naming it instead of handing on undefined.
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { ortRunner } from "../core/ort-runner.js";
import { MODELS_ROOT, nodeSessions, readModelFolder } from "../models/folder.js";
import { loadModels, readManifest } from "./models.js";

const dir = join(MODELS_ROOT, "mnist");
const { manifest, files } = readModelFolder(dir);
const sessions = await nodeSessions(dir, manifest, files);

describe("vm-service models", () => {
  it("loads only the models named, each with its manifest", async () => {
    expect([...(await loadModels(MODELS_ROOT, ["mnist"])).keys()]).toEqual(["mnist"]);
    expect((await loadModels(MODELS_ROOT, ["no-such-model"])).size).toBe(0);
    expect(readManifest(dir)).toEqual(manifest);
  });
});

describe("ortRunner over onnxruntime-node", () => {
  it("runs a stage on any number of rows: probabilities per row, hidden state of the stage's shape", async () => {
    const runner = ortRunner(ort.Tensor, sessions, manifest);
    const three = await runner.run(0, new Float32Array(3 * 784), 3);
    expect(three.probs).toHaveLength(3 * 10);
    expect(three.hidden).toHaveLength(3 * 16 * 14 * 14);
    for (let r = 0; r < 3; r++)
      expect(three.probs.slice(r * 10, r * 10 + 10).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    const last = await runner.run(2, new Float32Array(32 * 7 * 7), 1);
    expect(last.probs).toHaveLength(10);
    expect(last.hidden).toBeUndefined();
  });

  it("a named output the graph does not produce fails the run, naming stage and output", async () => {
    const renamed = (i: number, over: Record<string, string>) => ({
      ...manifest,
      stages: manifest.stages.map((s, j) => (j === i ? { ...s, ...over } : s)),
    });
    await expect(
      ortRunner(ort.Tensor, sessions, renamed(1, { probs_output: "p" })).run(1, new Float32Array(16 * 14 * 14), 1),
    ).rejects.toThrow('stage 1 produced no "p" output');
    await expect(
      ortRunner(ort.Tensor, sessions, renamed(0, { hidden_output: "h" })).run(0, new Float32Array(784), 1),
    ).rejects.toThrow('stage 0 produced no "h" output');
  });
});
