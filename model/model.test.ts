// The committed demo model: manifest valid, held-out digits decode, and the ONNX chain reproduces the
// figures the build measured. Plus the wasm gradient kernels the build relies on.
import { readFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { parseManifest } from "../core/manifest.js";
import { decodeHeldout } from "./heldout-codec.js";
import { loadHeldout } from "./heldout.js";

const dir = new URL("../models/mnist/", import.meta.url);
const read = (f: string) => readFileSync(new URL(f, dir));
const metrics = JSON.parse(read("metrics.json").toString());

describe("models/mnist", () => {
  it("has 500 held-out digits, the same through both loaders", () => {
    const h = loadHeldout();
    expect(h.labels).toHaveLength(500);
    expect(h.rows).toHaveLength(500);
    expect(new Set(h.labels)).toEqual(new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    expect(Math.max(...h.rows[0])).toBeLessThanOrEqual(1);
    expect(decodeHeldout(JSON.parse(read("heldout.json").toString())).rows[7]).toEqual(h.rows[7]);
  });

  it("runs the chain of the manifest with the exits metrics.json reports", async () => {
    const m = parseManifest(JSON.parse(read("manifest.json").toString()));
    const { labels, rows } = loadHeldout();
    const sessions = await Promise.all(m.stages.map((s) => ort.InferenceSession.create(read(s.file))));
    let t: ort.Tensor = new ort.Tensor("float32", Float32Array.from(rows.flatMap((r) => [...r])), [rows.length, 784]);
    const exits = [0, 0, 0];
    const exited = new Array<boolean>(rows.length).fill(false);
    let right = 0;
    for (const [k, s] of m.stages.entries()) {
      const out = await sessions[k].run({ [s.input]: t });
      const p = out[s.probs_output].data as Float32Array;
      for (let r = 0; r < rows.length; r++) {
        if (exited[r]) continue;
        const row = Array.from(p.subarray(r * 10, r * 10 + 10));
        if (Math.max(...row) < s.exit.threshold) continue;
        exited[r] = true;
        exits[k]++;
        if (row.indexOf(Math.max(...row)) === labels[r]) right++;
      }
      if (s.hidden_output) {
        expect(out[s.hidden_output].dims).toEqual([rows.length, ...s.hidden_shape!.slice(1)]);
        t = out[s.hidden_output];
      }
    }
    expect(exits.map((e) => e / rows.length)).toEqual(metrics.heldout_exit_fractions_by_stage);
    expect(right / rows.length).toBeGreaterThan(0.96);
  });
});

describe("wasm conv gradient kernels", () => {
  it("match the cpu backend", async () => {
    const tf = await import("@tensorflow/tfjs");
    const { setWasmPaths } = await import("@tensorflow/tfjs-backend-wasm");
    const { checkWasmConvGradients, registerWasmConvGradients } = await import("./wasm-conv-grad.js");
    setWasmPaths(new URL("../node_modules/@tensorflow/tfjs-backend-wasm/dist/", import.meta.url).pathname);
    registerWasmConvGradients();
    expect(await checkWasmConvGradients()).toBeLessThan(1e-5);
    expect(tf.memory().numTensors).toBe(0);
  });
});
