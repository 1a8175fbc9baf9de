// The demo early-exit CNN in tfjs (NHWC). Three stages, each ending in a head; the exported ONNX
// (onnx-export.ts) is the same graph in NCHW.
import * as tf from "@tensorflow/tfjs";

export interface Layer {
  w: tf.Variable;
  b: tf.Variable;
}
export type Params = Record<(typeof LAYERS)[number][0], Layer>;

/** name, weight shape (conv [kh,kw,in,out], dense [in,out]). */
export const LAYERS = [
  ["c0", [3, 3, 1, 16]], // stage 0 body: 28x28x1 -> 14x14x16 (h0)
  ["x0", [3, 3, 16, 16]], // head 0: conv + pool to 7x7x16 ...
  ["d0", [7 * 7 * 16, 10]], // ... then a linear classifier
  ["c1", [3, 3, 16, 32]], // stage 1 body: -> 7x7x32 (h1)
  ["d1", [7 * 7 * 32, 10]], // head 1
  ["c2", [3, 3, 32, 64]], // stage 2: -> 3x3x64
  ["f2", [3 * 3 * 64, 128]],
  ["d2", [128, 10]],
] as const;

/** He-normal weights; tfjs draws them from Math.random, which the build seeds. */
export function initParams(): Params {
  const p = {} as Record<string, Layer>;
  for (const [name, shape] of LAYERS) {
    const fanIn = shape.slice(0, -1).reduce((a: number, b: number) => a * b, 1);
    p[name] = {
      w: tf.variable(tf.randomNormal([...shape], 0, Math.sqrt(2 / fanIn)), true, name + ".w"),
      b: tf.variable(tf.zeros([shape[shape.length - 1]]), true, name + ".b"),
    };
  }
  return p as Params;
}

const conv = (x: tf.Tensor4D, l: Layer) =>
  tf.fused.conv2d({ x, filter: l.w as tf.Tensor4D, bias: l.b, strides: 1, pad: "same", activation: "relu" });
const pool = (x: tf.Tensor4D) => tf.maxPool(x, 2, 2, "valid");
const dense = (x: tf.Tensor2D, l: Layer, activation: "linear" | "relu" = "linear") =>
  tf.fused.matMul({ a: x, b: l.w as tf.Tensor2D, bias: l.b, activation }) as tf.Tensor2D;
const flat = (x: tf.Tensor4D) => x.reshape([x.shape[0], -1]) as tf.Tensor2D;

/** Logits of the three exits for rows of 784 pixels. `dropout` is for training only. */
export function forward(p: Params, x: tf.Tensor2D, dropout = 0): tf.Tensor2D[] {
  const img = x.reshape([-1, 28, 28, 1]) as tf.Tensor4D;
  const h0 = pool(conv(img, p.c0));
  const e0 = dense(flat(pool(conv(h0, p.x0))), p.d0);
  const h1 = pool(conv(h0, p.c1));
  const e1 = dense(flat(h1), p.d1);
  let f = dense(flat(pool(conv(h1, p.c2))), p.f2, "relu");
  if (dropout > 0) f = tf.dropout(f, dropout) as tf.Tensor2D;
  return [e0, e1, dense(f, p.d2)];
}
