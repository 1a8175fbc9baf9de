import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { registerWasmConv2DBackpropFilter } from "./wasm-conv-grad.js";
setWasmPaths("/work/main/node_modules/@tensorflow/tfjs-backend-wasm/dist/");
registerWasmConv2DBackpropFilter();
async function grads(backend: string, pad: "same" | "valid", shape: number[], fshape: number[]) {
  await tf.setBackend(backend);
  let s = 1;
  const r = (n: number) => Array.from({ length: n }, () => ((s = (s * 16807) % 2147483647) / 2147483647) - 0.5);
  const x = tf.tensor4d(r(shape.reduce((a, b) => a * b)), shape as any);
  const w = tf.tensor4d(r(fshape.reduce((a, b) => a * b)), fshape as any);
  const g = tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, pad).square().sum())([x, w]);
  return g.map((t) => t.dataSync());
}
for (const [pad, xs, fs] of [["same", [3, 7, 6, 2], [3, 3, 2, 4]], ["valid", [2, 5, 5, 3], [3, 3, 3, 2]], ["same", [4, 28, 28, 1], [3, 3, 1, 16]], ["same", [2, 6, 6, 3], [5, 5, 3, 2]]] as const) {
  const c = await grads("cpu", pad, xs as any, fs as any);
  const w = await grads("wasm", pad, xs as any, fs as any);
  const d = c.map((a, k) => Math.max(...a.map((v, i) => Math.abs(v - w[k][i]))));
  const mag = Math.max(...c[1].map(Math.abs));
  console.log(pad, xs, fs, "max diff dx", d[0], "dw", d[1], "|dw|max", mag);
}
console.log(tf.memory().numTensors);
