// The benchmark's heavier model is a valid Serflow model: its manifest parses, onnxruntime-node loads
// every stage, and mnist's hidden state runs through its deep stages to a distribution over 10 classes.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { writeWideModel } from "./wide-model.js";
import { loadModel } from "../vm-service/models.js";
import { runStages } from "../core/engine.js";
import { loadHeldout } from "../model/heldout.js";

const root = mkdtempSync(join(tmpdir(), "serflow-wide-test-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

it("writes a model whose deep stages take mnist's hidden state", async () => {
  const model = await loadModel(writeWideModel(root));
  const m = model.manifest;
  expect(m.name).toBe("mnist-wide");
  expect(m.stages[1].hidden_shape).toEqual([-1, 128, 7, 7]);
  const { rows } = loadHeldout();
  const h0 = (
    await runStages(
      model.runner,
      m,
      { stage: 0, rows: [0, 1], data: Float32Array.from([...rows[0], ...rows[1]]) },
      1,
      1,
    )
  ).pending!;
  const out = await runStages(model.runner, m, h0, m.stages.length, 1);
  expect([...out.results.keys()].sort()).toEqual([0, 1]);
  for (const r of out.results.values()) {
    expect(r.exitStage).toBe(2);
    expect(r.probs).toHaveLength(10);
    expect(r.probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
  }
});
