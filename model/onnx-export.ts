// Writes the trained network as three ONNX stages (IR 7, opset 13, NCHW) and returns the manifest.
// tfjs weights are NHWC/im2col: conv kernels are re-laid to [out, in, kh, kw], and dense layers after a
// flatten get their rows permuted from NHWC to NCHW order.
import { writeFileSync } from "node:fs";
import onnxProto from "onnx-proto";

const { onnx } = onnxProto as any;
export type Weights = Record<string, { data: Float32Array; shape: number[] }>;

const FLOAT = 1;
const INT64 = 7;

function tensor(name: string, dims: number[], data: Float32Array) {
  return onnx.TensorProto.create({ name, dims, dataType: FLOAT, rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) });
}
function int64s(name: string, values: number[]) {
  return onnx.TensorProto.create({ name, dims: [values.length], dataType: INT64, rawData: new Uint8Array(new BigInt64Array(values.map(BigInt)).buffer) });
}
function node(opType: string, input: string[], output: string[], attrs: Record<string, number[] | number> = {}) {
  const attribute = Object.entries(attrs).map(([name, v]) =>
    Array.isArray(v) ? onnx.AttributeProto.create({ name, ints: v, type: 7 }) : onnx.AttributeProto.create({ name, i: v, type: 2 }),
  );
  return onnx.NodeProto.create({ opType, input, output, attribute });
}
function io(name: string, dims: Array<number | string>) {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => (typeof d === "string" ? { dimParam: d } : { dimValue: d })) } } },
  });
}

/** im2col [9*ci, co] -> ONNX Conv weight [co, ci, 3, 3]. */
function convWeight(w: { data: Float32Array; shape: number[] }): { data: Float32Array; dims: number[] } {
  const co = w.shape[1];
  const ci = w.shape[0] / 9;
  const out = new Float32Array(co * ci * 9);
  for (let o = 0; o < co; o++) for (let c = 0; c < ci; c++) for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
    out[((o * ci + c) * 3 + i) * 3 + j] = w.data[((i * 3 + j) * ci + c) * co + o];
  }
  return { data: out, dims: [co, ci, 3, 3] };
}

/** Dense weight [h*w*c, out] over an NHWC flatten -> the same over an NCHW flatten. */
function nchwRows(w: { data: Float32Array; shape: number[] }, h: number, wd: number, c: number): Float32Array {
  const out = new Float32Array(w.data.length);
  const cols = w.shape[1];
  for (let y = 0; y < h; y++) for (let x = 0; x < wd; x++) for (let ch = 0; ch < c; ch++) {
    const src = ((y * wd + x) * c + ch) * cols;
    const dst = (ch * h * wd + y * wd + x) * cols;
    out.set(w.data.subarray(src, src + cols), dst);
  }
  return out;
}

function save(path: string, name: string, nodes: unknown[], inits: unknown[], inputs: unknown[], outputs: unknown[]) {
  const graph = onnx.GraphProto.create({ name, node: nodes, initializer: inits, input: inputs, output: outputs });
  const model = onnx.ModelProto.create({ irVersion: 7, opsetImport: [{ domain: "", version: 13 }], producerName: "serflow-model-build", graph });
  writeFileSync(path, onnx.ModelProto.encode(model).finish());
}

export function exportStages(w: Weights, thresholds: number[], dir: string) {
  const pool = { kernel_shape: [2, 2], strides: [2, 2] };
  const conv = (k: string) => {
    const cw = convWeight(w[`${k}w`]);
    return [tensor(`${k}.weight`, cw.dims, cw.data), tensor(`${k}.bias`, [w[`${k}b`].shape[0]], w[`${k}b`].data)];
  };
  const gemm = (k: string, data: Float32Array) => [tensor(`${k}.weight`, w[`${k}w`].shape, data), tensor(`${k}.bias`, [w[`${k}b`].shape[0]], w[`${k}b`].data)];

  save(`${dir}stage0.onnx`, "stage0", [
    node("Reshape", ["input", "shape"], ["img"]),
    node("Conv", ["img", "c0.weight", "c0.bias"], ["c0"], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }),
    node("Relu", ["c0"], ["r0"]),
    node("AveragePool", ["r0"], ["h0"], pool),
    node("AveragePool", ["h0"], ["hp0"], pool),
    node("Flatten", ["hp0"], ["f0"]),
    node("Gemm", ["f0", "h0.weight", "h0.bias"], ["l0"]),
    node("Softmax", ["l0"], ["probs0"]),
  ], [int64s("shape", [-1, 1, 28, 28]), ...conv("c0"), ...gemm("h0", nchwRows(w.h0w, 7, 7, 16))],
  [io("input", ["N", 784])], [io("h0", ["N", 16, 14, 14]), io("probs0", ["N", 10])]);

  save(`${dir}stage1.onnx`, "stage1", [
    node("Conv", ["h0", "c1.weight", "c1.bias"], ["c1"], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }),
    node("Relu", ["c1"], ["r1"]),
    node("AveragePool", ["r1"], ["h1"], pool),
    node("Flatten", ["h1"], ["f1"]),
    node("Gemm", ["f1", "h1.weight", "h1.bias"], ["l1"]),
    node("Softmax", ["l1"], ["probs1"]),
  ], [...conv("c1"), ...gemm("h1", nchwRows(w.h1w, 7, 7, 32))],
  [io("h0", ["N", 16, 14, 14])], [io("h1", ["N", 32, 7, 7]), io("probs1", ["N", 10])]);

  save(`${dir}stage2.onnx`, "stage2", [
    node("Conv", ["h1", "c2.weight", "c2.bias"], ["c2"], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }),
    node("Relu", ["c2"], ["r2"]),
    node("Flatten", ["r2"], ["f2"]),
    node("Gemm", ["f2", "d2.weight", "d2.bias"], ["d2"]),
    node("Relu", ["d2"], ["rd2"]),
    node("Gemm", ["rd2", "h2.weight", "h2.bias"], ["l2"]),
    node("Softmax", ["l2"], ["probs2"]),
  ], [...conv("c2"), ...gemm("d2", nchwRows(w.d2w, 7, 7, 64)), ...gemm("h2", w.h2w.data)],
  [io("h1", ["N", 32, 7, 7])], [io("probs2", ["N", 10])]);

  return {
    name: "mnist",
    version: "1",
    input: { name: "input", datatype: "FP32", shape: [-1, 784] },
    classes: 10,
    stages: [
      { file: "stage0.onnx", input: "input", hidden_output: "h0", hidden_shape: [-1, 16, 14, 14], probs_output: "probs0", exit: { rule: "max_softmax", threshold: thresholds[0] }, placement: "worker" },
      { file: "stage1.onnx", input: "h0", hidden_output: "h1", hidden_shape: [-1, 32, 7, 7], probs_output: "probs1", exit: { rule: "max_softmax", threshold: thresholds[1] }, placement: "auto" },
      { file: "stage2.onnx", input: "h1", hidden_output: null, hidden_shape: null, probs_output: "probs2", exit: { rule: "max_softmax", threshold: 0 }, placement: "auto" },
    ],
  };
}
