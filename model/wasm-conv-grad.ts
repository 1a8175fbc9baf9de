// tfjs-backend-wasm cannot train conv layers quickly: it has no Conv2DBackpropFilter kernel at all, and
// its Conv2DBackpropInput is a plain loop (6x slower than its XNNPACK Conv2D; half of a training step).
// For stride-1 NHWC convs both gradients are convs themselves, so these kernels compose them from the
// backend's own Transpose, Reverse and Conv2D kernels.
import * as tf from "@tensorflow/tfjs";

type Info = tf.TensorInfo;
type Shape4 = [number, number, number, number];
interface WasmBackend extends tf.KernelBackend {
  disposeData(dataId: object): boolean;
}

const run = (name: string, inputs: Record<string, Info>, attrs: object, backend: WasmBackend) =>
  tf.getKernel(name, "wasm")!.kernelFunc({ inputs, attrs: attrs as tf.NamedAttrMap, backend }) as Info;

function stride1Pads(
  xShape: number[],
  filterShape: number[],
  a: tf.Conv2DBackpropFilterAttrs | tf.Conv2DBackpropInputAttrs,
) {
  const info = tf.backend_util.computeConv2DInfo(
    xShape as Shape4,
    filterShape as Shape4,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
    false,
    "channelsLast",
  );
  if (a.dataFormat !== "NHWC" || info.strideHeight !== 1 || info.strideWidth !== 1) {
    throw new Error("wasm conv gradients: only stride-1 NHWC convolutions are supported");
  }
  return info.padInfo;
}

function conv(x: Info, filter: Info, pads: number[], be: WasmBackend): Info {
  const [t, b, l, r] = pads;
  return run(
    "Conv2D",
    { x, filter },
    {
      strides: [1, 1],
      dilations: [1, 1],
      dataFormat: "NHWC",
      pad: [
        [0, 0],
        [t, b],
        [l, r],
        [0, 0],
      ],
    },
    be,
  );
}

export function registerWasmConvGradients(): void {
  // dW[kh, kw, in, out] = sum_{n,i,j} xpad[n, i+kh, j+kw, in] * dy[n, i, j, out]: a conv of x with batch
  // and channels swapped, by dy used as the filter.
  tf.registerKernel({
    kernelName: tf.Conv2DBackpropFilter,
    backendName: "wasm",
    kernelFunc: ({ inputs, attrs, backend }) => {
      const { x, dy } = inputs as { x: Info; dy: Info };
      const a = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
      const { top, bottom, left, right } = stride1Pads(x.shape, a.filterShape, a);
      const be = backend as WasmBackend;
      const xt = run("Transpose", { x }, { perm: [3, 1, 2, 0] }, be); // [in, H, W, N]
      const dyt = run("Transpose", { x: dy }, { perm: [1, 2, 0, 3] }, be); // [Ho, Wo, N, out]
      const g = conv(xt, dyt, [top, bottom, left, right], be); // [in, kh, kw, out]
      const dw = run("Transpose", { x: g }, { perm: [1, 2, 0, 3] }, be);
      for (const t of [xt, dyt, g]) be.disposeData(t.dataId);
      return dw;
    },
  });
  // dx = dy convolved with the kernel rotated by 180 degrees, in/out swapped, padded by k-1-pad.
  tf.unregisterKernel(tf.Conv2DBackpropInput, "wasm");
  tf.registerKernel({
    kernelName: tf.Conv2DBackpropInput,
    backendName: "wasm",
    kernelFunc: ({ inputs, attrs, backend }) => {
      const { dy, filter } = inputs as { dy: Info; filter: Info };
      const a = attrs as unknown as tf.Conv2DBackpropInputAttrs;
      const [kh, kw] = filter.shape;
      const { top, bottom, left, right } = stride1Pads(a.inputShape, filter.shape, a);
      const be = backend as WasmBackend;
      const rot = run("Reverse", { x: filter }, { dims: [0, 1] }, be);
      const f = run("Transpose", { x: rot }, { perm: [0, 1, 3, 2] }, be); // [kh, kw, out, in]
      const dx = conv(dy, f, [kh - 1 - top, kh - 1 - bottom, kw - 1 - left, kw - 1 - right], be);
      for (const t of [rot, f]) be.disposeData(t.dataId);
      return dx;
    },
  });
}

/** Max relative difference of conv gradients (input and filter) between the wasm and cpu backends on small cases. */
export async function checkWasmConvGradients(): Promise<number> {
  let worst = 0;
  const cases: [Shape4, Shape4, "same" | "valid"][] = [
    [[3, 7, 6, 2], [3, 3, 2, 4], "same"],
    [[2, 9, 9, 3], [3, 3, 3, 5], "valid"],
    [[2, 8, 8, 2], [5, 5, 2, 3], "same"],
    [[2, 7, 6, 3], [4, 2, 3, 2], "same"],
  ];
  for (const [xs, fs, pad] of cases) {
    const grads: Float32Array[][] = [];
    for (const backend of ["cpu", "wasm"]) {
      await tf.setBackend(backend);
      let s = 7; // same inputs on both backends
      const rand = (n: number) =>
        Float32Array.from({ length: n }, () => {
          s = (s * 16807) % 2147483647;
          return s / 2147483647 - 0.5;
        });
      const x = tf.tensor4d(rand(xs.reduce((a, b) => a * b)), xs);
      const w = tf.tensor4d(rand(fs.reduce((a, b) => a * b)), fs);
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf
          .conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, pad)
          .square()
          .sum(),
      )([x, w]);
      grads.push(g.map((t) => t.dataSync() as Float32Array));
      tf.dispose([x, w, ...g]);
    }
    grads[0].forEach((c, k) => {
      const scale = Math.max(...c.map(Math.abs));
      c.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - grads[1][k][i]) / scale)));
    });
  }
  return worst;
}
