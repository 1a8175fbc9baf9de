// `npm run model:build`: trains the demo early-exit CNN (net.ts) on the `mnist` package's 10,000 real
// digits with tfjs on its WASM backend, exports one ONNX file per stage, picks the exit thresholds on the
// validation split, checks the ONNX chain against tfjs on the test split with onnxruntime-node, and
// writes models/mnist/{stage*.onnx, manifest.json, metrics.json, heldout.json}. Progress goes to stderr.
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { parseManifest, type ModelManifest } from "../core/manifest.js";
import { encodeHeldout } from "./heldout-codec.js";
import { forward, initParams, type Params } from "./net.js";
import { exportStages, type Weights } from "./onnx-export.js";
import { mulberry32, shuffled } from "./prng.js";
import { checkWasmConvGradients, registerWasmConvGradients } from "./wasm-conv-grad.js";

// SERFLOW_MODEL_DIR: build elsewhere (trials) without touching the committed model.
const OUT =
  process.env.SERFLOW_MODEL_DIR?.replace(/\/?$/, "/") ?? fileURLToPath(new URL("../models/mnist/", import.meta.url));
const BUILD = {
  seed: 20261128,
  split: { train: 7_000, val: 1_000, test: 2_000 },
  epochs: Number(process.env.SERFLOW_EPOCHS ?? 20),
  batchSize: 64,
  /** Adam, cosine-decayed from `learningRate` to `learningRate / 20` over the epochs. */
  learningRate: 0.002,
  /** Every exit trains the shared layers; the last head counts most. */
  exitLossWeights: [0.6, 0.8, 1.0],
  dropout: 0.3,
  /** Training digits are shifted by up to this many pixels (only 7,000 of them: it curbs overfitting). */
  maxShift: 2,
  /** Early exits may cost at most this much validation accuracy against running every digit to the end. */
  maxAccuracyLoss: 0,
  /** Thresholds tried. None below 0.9: on 1,000 validation digits, lower ones win by a digit or two (noise)
   * and then lose accuracy on the test split. */
  thresholdGrid: [0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9995, 0.9999],
  heldoutDigits: 500,
};

interface Split {
  px: Uint8Array;
  x: Float32Array;
  y: Int32Array;
  n: number;
}

/** The 10,000 digits as 0..255 bytes (the package stores byte/255 rounded to 3 decimals), shuffled. */
function loadSplits(): Split[] {
  const require = createRequire(import.meta.url);
  const rows: { px: Uint8Array; y: number }[] = [];
  for (let d = 0; d < 10; d++) {
    const raw: number[] = require(`mnist/src/digits/${d}.json`).data;
    for (let i = 0; i + 784 <= raw.length; i += 784)
      rows.push({ px: Uint8Array.from(raw.slice(i, i + 784), (v) => Math.round(v * 255)), y: d });
  }
  const order = shuffled(rows.length, mulberry32(BUILD.seed)); // its own stream: the split never moves
  let at = 0;
  return [BUILD.split.train, BUILD.split.val, BUILD.split.test].map((n) => {
    const s: Split = { px: new Uint8Array(n * 784), x: new Float32Array(n * 784), y: new Int32Array(n), n };
    for (let i = 0; i < n; i++) {
      const r = rows[order[at++]];
      s.px.set(r.px, i * 784);
      s.y[i] = r.y;
    }
    s.px.forEach((v, i) => (s.x[i] = v / 255));
    return s;
  });
}

/** Copies a digit shifted by (dx, dy) pixels, zero-filled. */
function shiftInto(dst: Float32Array, at: number, src: Float32Array, dx: number, dy: number) {
  dst.fill(0, at, at + 784);
  for (let r = Math.max(0, dy); r < Math.min(28, 28 + dy); r++) {
    const from = (r - dy) * 28 + Math.max(0, -dx);
    const len = 28 - Math.abs(dx);
    dst.set(src.subarray(from, from + len), at + r * 28 + Math.max(0, dx));
  }
}

function train(p: Params, tr: Split, va: Split) {
  const opt = tf.train.adam(BUILD.learningRate);
  const { batchSize: bs, maxShift: ms } = BUILD;
  const bx = new Float32Array(bs * 784);
  for (let epoch = 0; epoch < BUILD.epochs; epoch++) {
    const t0 = Date.now();
    const lr = BUILD.learningRate * (0.05 + 0.95 * 0.5 * (1 + Math.cos((Math.PI * epoch) / BUILD.epochs)));
    (opt as unknown as { learningRate: number }).learningRate = lr; // Adam reads it at every step
    const order = shuffled(tr.n, Math.random);
    let lossSum = 0;
    let steps = 0;
    for (let s = 0; s + bs <= tr.n; s += bs) {
      const idx = order.slice(s, s + bs);
      idx.forEach((r, i) => {
        const shift = () => Math.floor(Math.random() * (2 * ms + 1)) - ms;
        shiftInto(bx, i * 784, tr.x.subarray(r * 784, (r + 1) * 784), shift(), shift());
      });
      const loss = tf.tidy(() => {
        const xb = tf.tensor2d(bx, [bs, 784]);
        const yb = tf.oneHot(
          tf.tensor1d(
            idx.map((r) => tr.y[r]),
            "int32",
          ),
          10,
        );
        return opt.minimize(() => {
          const logits = forward(p, xb, BUILD.dropout);
          return tf.addN(
            logits.map((l, k) => tf.losses.softmaxCrossEntropy(yb, l).mul(BUILD.exitLossWeights[k])),
          ) as tf.Scalar;
        }, true)!;
      });
      lossSum += loss.dataSync()[0];
      loss.dispose();
      steps++;
    }
    const acc = headAccuracy(predict(p, va), va.y);
    console.error(
      `epoch ${String(epoch + 1).padStart(2)}/${BUILD.epochs}  lr ${lr.toFixed(5)}  loss ${(lossSum / steps).toFixed(4)}  ` +
        `val acc exits 0/1/2 ${acc.map((a) => (100 * a).toFixed(1)).join(" / ")}%  ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
  }
}

/** Softmax probabilities of the three exits, [n * 10] each. */
function predict(p: Params, set: Split): Float32Array[] {
  const out = [0, 1, 2].map(() => new Float32Array(set.n * 10));
  for (let s = 0; s < set.n; s += 500) {
    const n = Math.min(500, set.n - s);
    tf.tidy(() =>
      forward(p, tf.tensor2d(set.x.subarray(s * 784, (s + n) * 784), [n, 784])).forEach((l, k) =>
        out[k].set(tf.softmax(l).dataSync(), s * 10),
      ),
    );
  }
  return out;
}

function argmax(p: Float32Array, r: number): [label: number, confidence: number] {
  let b = 0;
  for (let c = 1; c < 10; c++) if (p[r * 10 + c] > p[r * 10 + b]) b = c;
  return [b, p[r * 10 + b]];
}
const headAccuracy = (probs: Float32Array[], y: Int32Array) =>
  probs.map((p) => y.filter((l, r) => argmax(p, r)[0] === l).length / y.length);

/** The chain at these thresholds (the last stage always exits): where digits exit and how well. */
function measure(probs: Float32Array[], y: Int32Array, thresholds: number[]) {
  const exits = [0, 0, 0];
  const right = [0, 0, 0];
  for (let r = 0; r < y.length; r++) {
    let k = 0;
    while (k < 2 && argmax(probs[k], r)[1] < thresholds[k]) k++;
    exits[k]++;
    if (argmax(probs[k], r)[0] === y[r]) right[k]++;
  }
  const heads = headAccuracy(probs, y);
  return {
    final_stage_accuracy: heads[2],
    overall_accuracy: right.reduce((a, b) => a + b) / y.length,
    exit_fractions_by_stage: exits.map((e) => e / y.length),
    accuracy_of_exits_by_stage: exits.map((e, k) => (e ? right[k] / e : null)),
    head_accuracy_by_stage: heads,
  };
}

/** The thresholds (last stage 0) that let the most validation digits exit early while the chain's accuracy
 * stays within maxAccuracyLoss of the last head's. */
function chooseThresholds(probs: Float32Array[], y: Int32Array): number[] {
  const floor = headAccuracy(probs, y)[2] - BUILD.maxAccuracyLoss;
  let best = { t: [1, 1, 0], early: -1, acc: 0 };
  for (const t0 of BUILD.thresholdGrid) {
    for (const t1 of BUILD.thresholdGrid) {
      const m = measure(probs, y, [t0, t1, 0]);
      const early = 1 - m.exit_fractions_by_stage[2];
      if (
        m.overall_accuracy >= floor - 1e-9 &&
        (early > best.early || (early === best.early && m.overall_accuracy > best.acc))
      ) {
        best = { t: [t0, t1, 0], early, acc: m.overall_accuracy };
      }
    }
  }
  return best.t;
}

async function runOnnxChain(x: Float32Array, n: number): Promise<Float32Array[]> {
  const s = await Promise.all([0, 1, 2].map((k) => ort.InferenceSession.create(readFileSync(`${OUT}stage${k}.onnx`))));
  const a = await s[0].run({ input: new ort.Tensor("float32", x, [n, 784]) });
  const b = await s[1].run({ h0: a.h0 });
  const c = await s[2].run({ h1: b.h1 });
  return [a.probs0.data, b.probs1.data, c.probs2.data] as Float32Array[];
}

async function main() {
  const t0 = Date.now();
  setWasmPaths(fileURLToPath(new URL("../node_modules/@tensorflow/tfjs-backend-wasm/dist/", import.meta.url)));
  registerWasmConvGradients();
  const gradDiff = await checkWasmConvGradients();
  console.error(`wasm conv gradients vs the cpu backend: max relative diff ${gradDiff.toExponential(1)}`);
  if (!(gradDiff < 1e-4)) throw new Error("the wasm conv gradient kernels disagree with the cpu backend");
  await tf.setBackend("wasm");
  Math.random = mulberry32(BUILD.seed ^ 0x5eed); // tfjs seeds its initial weights and dropout from Math.random

  const [tr, va, te] = loadSplits();
  console.error(
    `digits: ${tr.n} train / ${va.n} validation / ${te.n} test, seed ${BUILD.seed}, tfjs backend ${tf.getBackend()}`,
  );
  const p = initParams();
  const tTrain = Date.now();
  train(p, tr, va);
  const trainSeconds = (Date.now() - tTrain) / 1000;

  const thresholds = chooseThresholds(predict(p, va), va.y);
  console.error(`thresholds from the validation split: ${thresholds.join(" / ")}`);

  mkdirSync(OUT, { recursive: true });
  const weights: Weights = Object.fromEntries(
    Object.entries(p).map(([k, l]) => [
      k,
      { w: l.w.dataSync() as Float32Array, wShape: l.w.shape, b: l.b.dataSync() as Float32Array },
    ]),
  );
  const manifest: ModelManifest = {
    name: "mnist",
    version: "2",
    input: { name: "input", datatype: "FP32", shape: [-1, 784] },
    classes: 10,
    stages: exportStages(weights, OUT).map((s, k) => ({
      ...s,
      exit: { rule: "max_softmax", threshold: thresholds[k] },
      placement: k === 0 ? "worker" : "auto",
      // Worker/VM CPU per stage: medians of sim/profiles/mnist.json (npm run profile), WASM over native;
      // its onnxruntime-node times are the controller's until a VM has served.
      worker_cpu_ratio: [3.55, 4.02, 4.75][k],
      vm_ms: [
        { median: 0.0229, p99: 0.0612 },
        { median: 0.0228, p99: 0.7692 },
        { median: 0.0217, p99: 0.0574 },
      ][k],
    })),
  };
  parseManifest(JSON.parse(JSON.stringify(manifest)), "models/mnist/manifest.json"); // the runtime's own check
  writeFileSync(`${OUT}manifest.json`, JSON.stringify(manifest, null, 2) + "\n");

  // The figures come from the ONNX files, as served; tfjs is the reference they must match.
  const ref = predict(p, te);
  const onnx = await runOnnxChain(te.x, te.n);
  let maxDiff = 0;
  onnx.forEach((o, k) => o.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - ref[k][i])))));
  const nh = BUILD.heldoutDigits;
  const metrics = {
    test_digits: te.n,
    ...measure(onnx, te.y, thresholds),
    thresholds,
    heldout_exit_fractions_by_stage: measure(
      onnx.map((o) => o.subarray(0, nh * 10)),
      te.y.subarray(0, nh),
      thresholds,
    ).exit_fractions_by_stage,
    max_abs_diff_vs_tfjs: maxDiff,
    train_seconds: Math.round(trainSeconds),
    build_seconds: Math.round((Date.now() - t0) / 1000),
    epochs: BUILD.epochs,
    seed: BUILD.seed,
  };
  writeFileSync(`${OUT}metrics.json`, JSON.stringify(metrics, null, 2) + "\n");
  writeFileSync(
    `${OUT}heldout.json`,
    JSON.stringify(encodeHeldout(Array.from(te.y.subarray(0, nh)), te.px.subarray(0, nh * 784))) + "\n",
  );
  console.log(JSON.stringify(metrics, null, 2));
}

await main();
