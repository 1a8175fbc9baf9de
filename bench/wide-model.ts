// A heavier model for the benchmark: mnist's stage 0 with wider deep stages (128 and 256 channels, two
// convolutions each, untrained He-normal weights: 76 M multiply-adds per row, half a CIFAR ResNet-56's). The
// hidden state that crosses to the VM is mnist's 12.5 kB per row. It shows vm-service's fixed cost per
// request against stages that cost what a real model's do.
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { save, stage, valueInfo, type Weights } from "../model/onnx-export.js";
import { mulberry32 } from "../model/prng.js";
import { readManifest } from "../vm-service/models.js";

const MNIST = fileURLToPath(new URL("../models/mnist", import.meta.url));

/** name, tfjs weight shape (conv [kh,kw,in,out], dense [in,out]) */
const [C1, C2] = [128, 256];
const LAYERS: Array<[string, number[]]> = [
  ["a1", [3, 3, 16, C1]],
  ["b1", [3, 3, C1, C1]],
  ["d1", [7 * 7 * C1, 10]],
  ["a2", [3, 3, C1, C2]],
  ["b2", [3, 3, C2, C2]],
  ["d2", [3 * 3 * C2, 10]],
];

function heWeights(seed: number): Weights {
  const rand = mulberry32(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const out: Weights = {};
  for (const [name, shape] of LAYERS) {
    const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const w = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => normal() * Math.sqrt(2 / fanIn));
    out[name] = { w, wShape: shape, b: new Float32Array(shape[shape.length - 1]) };
  }
  return out;
}

/** Writes `<root>/mnist-wide/` (manifest and three stages) and returns the model's directory. */
export function writeWideModel(root: string): string {
  const dir = join(root, "mnist-wide");
  mkdirSync(dir, { recursive: true });
  const w = heWeights(7);
  copyFileSync(join(MNIST, "stage0.onnx"), join(dir, "stage0.onnx"));

  const s1 = stage(w);
  const h1 = s1.conv(s1.conv("h0", "a1", false), "b1", true, "h1");
  s1.next("Softmax", [s1.gemm(h1, "d1", [7, 7, C1])], undefined, "probs1");
  save(
    join(dir, "stage1.onnx"),
    s1,
    [valueInfo("h0", ["N", 16, 14, 14])],
    [valueInfo("h1", ["N", C1, 7, 7]), valueInfo("probs1", ["N", 10])],
  );

  const s2 = stage(w);
  const h2 = s2.conv(s2.conv("h1", "a2", false), "b2", true);
  s2.next("Softmax", [s2.gemm(h2, "d2", [3, 3, C2])], undefined, "probs2");
  save(join(dir, "stage2.onnx"), s2, [valueInfo("h1", ["N", C1, 7, 7])], [valueInfo("probs2", ["N", 10])]);

  const m = readManifest(MNIST);
  const manifest = {
    ...m,
    name: "mnist-wide",
    stages: m.stages.map((s, i) => (i === 1 ? { ...s, hidden_shape: [-1, C1, 7, 7] } : s)),
  };
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest, null, 2));
  return dir;
}
