// Writes the trained network (net.ts) as one ONNX file per stage: IR 7, opset 13, NCHW, only operators
// that onnxruntime-web's WASM build has (Reshape, Conv, Relu, MaxPool, Flatten, Gemm, Softmax).
// tfjs is NHWC: conv kernels go [kh,kw,in,out] -> [out,in,kh,kw], and a dense layer after a flatten gets
// its rows reordered from (h,w,c) to (c,h,w).
import { writeFileSync } from "node:fs";
import onnxProto from "onnx-proto"; // CommonJS with its own ONNX 1.10 schema: default import only

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const { onnx } = onnxProto as any;
const FLOAT = 1;
const INT64 = 7;

export type Weights = Record<string, { w: Float32Array; wShape: number[]; b: Float32Array }>;
export interface StageIo {
  file: string;
  input: string;
  hidden_output: string | null;
  hidden_shape: number[] | null;
  probs_output: string;
}

const tensor = (name: string, dims: number[], data: Float32Array) =>
  onnx.TensorProto.create({
    name,
    dims,
    dataType: FLOAT,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  });
const int64s = (name: string, values: number[]) =>
  onnx.TensorProto.create({
    name,
    dims: [values.length],
    dataType: INT64,
    rawData: new Uint8Array(new BigInt64Array(values.map(BigInt)).buffer),
  });
const node = (opType: string, input: string[], output: string[], ints: Record<string, number[]> = {}) =>
  onnx.NodeProto.create({
    opType,
    input,
    output,
    attribute: Object.entries(ints).map(([name, v]) =>
      onnx.AttributeProto.create({ name, ints: v, type: 7 /* INTS */ }),
    ),
  });
export const valueInfo = (name: string, dims: Array<number | "N">) =>
  onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: dims.map((d) => (d === "N" ? { dimParam: "N" } : { dimValue: d })) },
      },
    },
  });

function convWeight(w: Float32Array, [kh, kw, ci, co]: number[]): Float32Array {
  const out = new Float32Array(w.length);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let c = 0; c < ci; c++)
        for (let o = 0; o < co; o++) {
          out[((o * ci + c) * kh + i) * kw + j] = w[((i * kw + j) * ci + c) * co + o];
        }
  return out;
}
function nchwRows(w: Float32Array, cols: number, [h, wd, c]: number[]): Float32Array {
  const out = new Float32Array(w.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < wd; x++)
      for (let ch = 0; ch < c; ch++) {
        const src = ((y * wd + x) * c + ch) * cols;
        out.set(w.subarray(src, src + cols), ((ch * h + y) * wd + x) * cols);
      }
  return out;
}

/** Builds one stage graph; `conv`/`gemm` append a layer and return its output name. */
export function stage(weights: Weights) {
  const nodes: unknown[] = [];
  const inits: unknown[] = [];
  let n = 0;
  const next = (op: string, input: string[], ints?: Record<string, number[]>, out = `t${n++}`) => {
    nodes.push(node(op, input, [out], ints));
    return out;
  };
  return {
    nodes,
    inits,
    next,
    /** Conv 3x3 same + ReLU, optionally followed by a 2x2 max pool. */
    conv(x: string, name: string, pooled: boolean, out?: string) {
      const { w, wShape, b } = weights[name];
      inits.push(
        tensor(`${name}.w`, [wShape[3], wShape[2], wShape[0], wShape[1]], convWeight(w, wShape)),
        tensor(`${name}.b`, [b.length], b),
      );
      const y = next(
        "Relu",
        [next("Conv", [x, `${name}.w`, `${name}.b`], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] })],
        undefined,
        pooled ? undefined : out,
      );
      return pooled ? next("MaxPool", [y], { kernel_shape: [2, 2], strides: [2, 2] }, out) : y;
    },
    /** Gemm on a flattened input; `hwc` = the NHWC shape tfjs flattened, if any. */
    gemm(x: string, name: string, hwc?: number[]) {
      const { w, wShape, b } = weights[name];
      inits.push(
        tensor(`${name}.w`, wShape, hwc ? nchwRows(w, wShape[1], hwc) : w),
        tensor(`${name}.b`, [b.length], b),
      );
      return next("Gemm", [hwc ? next("Flatten", [x]) : x, `${name}.w`, `${name}.b`]);
    },
  };
}

export function save(path: string, s: ReturnType<typeof stage>, inputs: unknown[], outputs: unknown[]) {
  const graph = onnx.GraphProto.create({
    name: path.replace(/.*\//, ""),
    node: s.nodes,
    initializer: s.inits,
    input: inputs,
    output: outputs,
  });
  const model = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: "", version: 13 }],
    producerName: "serflow model/build.ts",
    graph,
  });
  writeFileSync(path, onnx.ModelProto.encode(model).finish());
}

/** Writes stage0..2.onnx into `dir` and returns their tensor names and hidden shapes. */
export function exportStages(w: Weights, dir: string): StageIo[] {
  const s0 = stage(w);
  s0.inits.push(int64s("shape", [-1, 1, 28, 28]));
  const h0 = s0.conv(s0.next("Reshape", ["input", "shape"]), "c0", true, "h0");
  s0.next("Softmax", [s0.gemm(s0.conv(h0, "x0", true), "d0", [7, 7, 16])], undefined, "probs0");
  save(
    `${dir}stage0.onnx`,
    s0,
    [valueInfo("input", ["N", 784])],
    [valueInfo("h0", ["N", 16, 14, 14]), valueInfo("probs0", ["N", 10])],
  );

  const s1 = stage(w);
  const h1 = s1.conv("h0", "c1", true, "h1");
  s1.next("Softmax", [s1.gemm(h1, "d1", [7, 7, 32])], undefined, "probs1");
  save(
    `${dir}stage1.onnx`,
    s1,
    [valueInfo("h0", ["N", 16, 14, 14])],
    [valueInfo("h1", ["N", 32, 7, 7]), valueInfo("probs1", ["N", 10])],
  );

  const s2 = stage(w);
  const f = s2.next("Relu", [s2.gemm(s2.conv("h1", "c2", true), "f2", [3, 3, 64])]);
  s2.next("Softmax", [s2.gemm(f, "d2")], undefined, "probs2");
  save(`${dir}stage2.onnx`, s2, [valueInfo("h1", ["N", 32, 7, 7])], [valueInfo("probs2", ["N", 10])]);

  return [
    {
      file: "stage0.onnx",
      input: "input",
      hidden_output: "h0",
      hidden_shape: [-1, 16, 14, 14],
      probs_output: "probs0",
    },
    { file: "stage1.onnx", input: "h0", hidden_output: "h1", hidden_shape: [-1, 32, 7, 7], probs_output: "probs1" },
    { file: "stage2.onnx", input: "h1", hidden_output: null, hidden_shape: null, probs_output: "probs2" },
  ];
}
