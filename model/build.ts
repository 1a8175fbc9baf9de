// `npm run model:build`: trains the demo early-exit CNN on the `mnist` package's 10,000 real digits and
// exports one ONNX file per stage plus the manifest, held-out digits and measured figures.
//
// Convolutions are written as im2col (shifted slices, concatenated) + matMul, and pooling as reshape +
// mean, so that every gradient exists on tfjs's WASM backend (it lacks Conv2DBackpropFilter and the
// pure-JS backend is ~100x slower). The exported ONNX uses the ordinary Conv/AveragePool operators.
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { exportStages, type Weights } from "./onnx-export.js";
import { encodeHeldout } from "./heldout-codec.js";
import { mulberry32, shuffled } from "./prng.js";

const require = createRequire(import.meta.url);
const OUT = fileURLToPath(new URL("../models/mnist/", import.meta.url));

export const BUILD = {
  seed: 20261128,
  trainDigits: 7_000,
  valDigits: 1_000,
  testDigits: 2_000,
  epochs: Number(process.env.SERFLOW_EPOCHS ?? 12),
  batchSize: 64,
  learningRate: 0.002,
  /** The learning rate is divided by 4 for the last third of the epochs (a plateau otherwise). */
  decayAtFraction: 2 / 3,
  /** Loss weights of the exits: the early heads matter, the last one most. */
  exitLossWeights: [0.5, 0.7, 1.0],
  heldoutDigits: 500,
  /** Early exits must cost at most this much accuracy against the last stage (issue target: 1 point). */
  maxAccuracyLoss: 0.003,
};

function loadDigits(): { x: Float32Array; y: Int32Array; n: number } {
  const xs: number[][] = [];
  const ys: number[] = [];
  for (let d = 0; d < 10; d++) {
    const raw: number[] = require(`mnist/src/digits/${d}.json`).data;
    for (let i = 0; i + 784 <= raw.length; i += 784) {
      xs.push(raw.slice(i, i + 784));
      ys.push(d);
    }
  }
  const order = shuffled(xs.length, mulberry32(BUILD.seed));
  const x = new Float32Array(xs.length * 784);
  const y = new Int32Array(xs.length);
  order.forEach((src, dst) => {
    x.set(xs[src], dst * 784);
    y[dst] = ys[src];
  });
  return { x, y, n: xs.length };
}

// ---- the network, NHWC ----
function conv3x3(x: tf.Tensor4D, w: tf.Variable, b: tf.Variable): tf.Tensor4D {
  const [n, h, wd, c] = x.shape;
  const p = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]);
  const cols: tf.Tensor4D[] = [];
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) cols.push(tf.slice(p, [0, i, j, 0], [n, h, wd, c]));
  const patches = tf.concat(cols, 3).reshape([n * h * wd, 9 * c]);
  const co = w.shape[1] as number;
  return tf.add(tf.matMul(patches, w as tf.Tensor2D), b).reshape([n, h, wd, co]) as tf.Tensor4D;
}
function pool2(x: tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const hh = Math.floor(h / 2) * 2;
  const ww = Math.floor(w / 2) * 2;
  const cropped = hh === h && ww === w ? x : tf.slice(x, [0, 0, 0, 0], [n, hh, ww, c]);
  return cropped.reshape([n, hh / 2, 2, ww / 2, 2, c]).mean([2, 4]) as tf.Tensor4D;
}
function dense(x: tf.Tensor2D, w: tf.Variable, b: tf.Variable): tf.Tensor2D {
  return tf.add(tf.matMul(x, w as tf.Tensor2D), b) as tf.Tensor2D;
}

function init(rand: () => number): Record<string, tf.Variable> {
  const he = (shape: number[], fanIn: number) => {
    const v = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const s = Math.sqrt(2 / fanIn);
    for (let i = 0; i < v.length; i += 2) {
      // Box-Muller from the seeded generator: reproducible weights.
      const r = Math.sqrt(-2 * Math.log(1 - rand()));
      const t = 2 * Math.PI * rand();
      v[i] = r * Math.cos(t) * s;
      if (i + 1 < v.length) v[i + 1] = r * Math.sin(t) * s;
    }
    return tf.variable(tf.tensor(v, shape));
  };
  const zeros = (n: number) => tf.variable(tf.zeros([n]));
  return {
    c0w: he([9 * 1, 16], 9), c0b: zeros(16),
    h0w: he([7 * 7 * 16, 10], 784), h0b: zeros(10),
    c1w: he([9 * 16, 32], 144), c1b: zeros(32),
    h1w: he([7 * 7 * 32, 10], 1568), h1b: zeros(10),
    c2w: he([9 * 32, 64], 288), c2b: zeros(64),
    d2w: he([7 * 7 * 64, 128], 3136), d2b: zeros(128),
    h2w: he([128, 10], 128), h2b: zeros(10),
  };
}

/** Logits of the three exits. */
function forward(v: Record<string, tf.Variable>, x: tf.Tensor2D): tf.Tensor2D[] {
  const n = x.shape[0];
  const img = x.reshape([n, 28, 28, 1]) as tf.Tensor4D;
  const h0 = pool2(tf.relu(conv3x3(img, v.c0w, v.c0b))); // [n,14,14,16]
  const e0 = dense(pool2(h0).reshape([n, 7 * 7 * 16]) as tf.Tensor2D, v.h0w, v.h0b);
  const h1 = pool2(tf.relu(conv3x3(h0, v.c1w, v.c1b))); // [n,7,7,32]
  const e1 = dense(h1.reshape([n, 7 * 7 * 32]) as tf.Tensor2D, v.h1w, v.h1b);
  const f2 = tf.relu(conv3x3(h1, v.c2w, v.c2b)).reshape([n, 7 * 7 * 64]) as tf.Tensor2D;
  const e2 = dense(tf.relu(dense(f2, v.d2w, v.d2b)), v.h2w, v.h2b);
  return [e0, e1, e2];
}

async function main() {
  const t0 = Date.now();
  const dist = fileURLToPath(new URL("../node_modules/@tensorflow/tfjs-backend-wasm/dist/", import.meta.url));
  setWasmPaths(dist);
  await tf.setBackend("wasm");
  const rand = mulberry32(BUILD.seed);
  Math.random = rand; // tfjs draws from Math.random (e.g. in initialisers): keep the build reproducible

  const { x, y } = loadDigits();
  const { trainDigits: nTr, valDigits: nVa, testDigits: nTe } = BUILD;
  const split = (from: number, n: number) => ({ x: x.subarray(from * 784, (from + n) * 784), y: y.subarray(from, from + n), n });
  const train = split(0, nTr);
  const val = split(nTr, nVa);
  const test = split(nTr + nVa, nTe);
  console.error(`digits: ${train.n} train / ${val.n} validation / ${test.n} test (seed ${BUILD.seed})`);

  const v = init(rand);
  let opt = tf.train.adam(BUILD.learningRate);
  for (let epoch = 0; epoch < BUILD.epochs; epoch++) {
    if (epoch === Math.round(BUILD.epochs * BUILD.decayAtFraction)) opt = tf.train.adam(BUILD.learningRate / 4);
    const te = Date.now();
    const order = shuffled(train.n, rand);
    let lossSum = 0;
    let steps = 0;
    for (let s = 0; s + BUILD.batchSize <= train.n; s += BUILD.batchSize) {
      const idx = order.slice(s, s + BUILD.batchSize);
      const bx = new Float32Array(idx.length * 784);
      idx.forEach((r, i) => bx.set(train.x.subarray(r * 784, (r + 1) * 784), i * 784));
      const by = tf.oneHot(tf.tensor1d(idx.map((r) => train.y[r]), "int32"), 10);
      const xb = tf.tensor2d(bx, [idx.length, 784]);
      const loss = opt.minimize(() => {
        const outs = forward(v, xb);
        return tf.addN(outs.map((o, k) => tf.losses.softmaxCrossEntropy(by, o).mul(BUILD.exitLossWeights[k]))) as tf.Scalar;
      }, true)!;
      lossSum += (await loss.data())[0];
      steps++;
      tf.dispose([loss, by, xb]);
    }
    const acc = evaluate(v, val).accuracy;
    console.error(`epoch ${epoch + 1}/${BUILD.epochs}  loss ${(lossSum / steps).toFixed(4)}  val acc per exit ${acc.map((a) => (100 * a).toFixed(2)).join(" / ")}%  ${((Date.now() - te) / 1000).toFixed(1)}s`);
  }
  const trainS = (Date.now() - t0) / 1000;

  // Thresholds on the validation split: the lowest max-softmax threshold per early exit whose exiting
  // rows lose at most maxAccuracyLoss overall against running every row to the last stage.
  const valProbs = evaluate(v, val).probs;
  const thresholds = chooseThresholds(valProbs, val.y);
  console.error(`thresholds (validation): ${thresholds.join(", ")}`);

  const weights: Weights = Object.fromEntries(Object.entries(v).map(([k, t]) => [k, { data: t.dataSync() as Float32Array, shape: t.shape }]));
  mkdirSync(OUT, { recursive: true });
  const manifest = exportStages(weights, thresholds, OUT);
  writeFileSync(`${OUT}manifest.json`, JSON.stringify(manifest, null, 2) + "\n");

  // Check the ONNX chain against tfjs on the test split, and measure it there.
  const tfProbs = evaluate(v, test).probs;
  const onnxProbs = await runOnnxChain(test.x, test.n);
  let maxDiff = 0;
  for (let k = 0; k < 3; k++) for (let i = 0; i < tfProbs[k].length; i++) maxDiff = Math.max(maxDiff, Math.abs(tfProbs[k][i] - onnxProbs[k][i]));
  const m = measure(onnxProbs, test.y, thresholds);
  const metrics = { ...m, test_digits: test.n, thresholds, max_abs_diff_vs_tfjs: maxDiff, train_seconds: Math.round(trainS), seed: BUILD.seed, epochs: BUILD.epochs };
  writeFileSync(`${OUT}metrics.json`, JSON.stringify(metrics, null, 2) + "\n");
  writeFileSync(`${OUT}heldout.json`, JSON.stringify(encodeHeldout(Array.from(test.y.subarray(0, BUILD.heldoutDigits)), test.x.subarray(0, BUILD.heldoutDigits * 784))) + "\n");
  console.log(JSON.stringify(metrics, null, 2));
}

function evaluate(v: Record<string, tf.Variable>, set: { x: Float32Array; y: Int32Array; n: number }) {
  const probs = [0, 1, 2].map(() => new Float32Array(set.n * 10));
  for (let s = 0; s < set.n; s += 500) {
    const n = Math.min(500, set.n - s);
    tf.tidy(() => {
      const outs = forward(v, tf.tensor2d(set.x.subarray(s * 784, (s + n) * 784), [n, 784]));
      outs.forEach((o, k) => probs[k].set(tf.softmax(o).dataSync() as Float32Array, s * 10));
    });
  }
  const accuracy = probs.map((p) => argmaxAll(p).filter((l, i) => l === set.y[i]).length / set.n);
  return { probs, accuracy };
}

function argmaxAll(p: Float32Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < p.length; i += 10) {
    let b = 0;
    for (let c = 1; c < 10; c++) if (p[i + c] > p[i + b]) b = c;
    out.push(b);
  }
  return out;
}
const maxAt = (p: Float32Array, r: number) => Math.max(...p.subarray(r * 10, r * 10 + 10));

/** Exit fractions and accuracy of the chain at these thresholds. */
export function measure(probs: Float32Array[], y: Int32Array, thresholds: number[]) {
  const n = y.length;
  const labels = probs.map(argmaxAll);
  const exitCounts = [0, 0, 0];
  const exitCorrect = [0, 0, 0];
  let correct = 0;
  for (let r = 0; r < n; r++) {
    let k = 0;
    while (k < 2 && !(thresholds[k] < 1 && maxAt(probs[k], r) >= thresholds[k])) k++;
    exitCounts[k]++;
    if (labels[k][r] === y[r]) {
      correct++;
      exitCorrect[k]++;
    }
  }
  const stageAcc = labels.map((l) => l.filter((v, i) => v === y[i]).length / n);
  return {
    final_stage_accuracy: stageAcc[2],
    overall_accuracy: correct / n,
    exit_fractions_by_stage: exitCounts.map((c) => c / n),
    accuracy_of_rows_exiting_at_stage: exitCounts.map((c, k) => (c ? exitCorrect[k] / c : null)),
    head_accuracy_per_stage: stageAcc,
  };
}

function chooseThresholds(probs: Float32Array[], y: Int32Array): number[] {
  const grid = [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999];
  const base = measure(probs, y, [1, 1, 0]).overall_accuracy;
  let best = [0.999, 0.999, 0];
  let bestEarly = -1;
  for (const t0 of grid) {
    for (const t1 of grid) {
      const m = measure(probs, y, [t0, t1, 0]);
      const early = 1 - m.exit_fractions_by_stage[2];
      if (base - m.overall_accuracy <= BUILD.maxAccuracyLoss && early > bestEarly) {
        bestEarly = early;
        best = [t0, t1, 0];
      }
    }
  }
  return best;
}

async function runOnnxChain(x: Float32Array, n: number): Promise<Float32Array[]> {
  const sessions = await Promise.all([0, 1, 2].map((k) => ort.InferenceSession.create(readFileSync(`${OUT}stage${k}.onnx`))));
  const a = await sessions[0].run({ input: new ort.Tensor("float32", x, [n, 784]) });
  const b = await sessions[1].run({ h0: a.h0 });
  const c = await sessions[2].run({ h1: b.h1 });
  return [a.probs0.data, b.probs1.data, c.probs2.data] as Float32Array[];
}

await main();
