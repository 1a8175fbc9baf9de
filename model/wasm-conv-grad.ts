// tfjs-backend-wasm has no Conv2DBackpropFilter kernel, so conv layers cannot train on it. The filter
// gradient of a stride-1 NHWC conv is itself a conv: swap the batch and channel axes of x and treat dy as
// the filter. This registers that composition of the backend's own Transpose and Conv2D kernels.
import * as tf from "@tensorflow/tfjs";

type Info = tf.TensorInfo;
interface WasmBackend extends tf.KernelBackend {
  disposeData(dataId: object): boolean;
}

export function registerWasmConv2DBackpropFilter(): void {
  const run = (name: string, inputs: Record<string, Info>, attrs: object, backend: WasmBackend) =>
    tf.getKernel(name, "wasm")!.kernelFunc({ inputs, attrs: attrs as tf.NamedAttrMap, backend }) as Info;

  tf.registerKernel({
    kernelName: tf.Conv2DBackpropFilter,
    backendName: "wasm",
    kernelFunc: ({ inputs, attrs, backend }) => {
      const { x, dy } = inputs as { x: Info; dy: Info };
      const a = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
      const info = tf.backend_util.computeConv2DInfo(
        x.shape as [number, number, number, number], a.filterShape, a.strides, 1, a.pad, a.dimRoundingMode, false, "channelsLast",
      );
      if (a.dataFormat !== "NHWC" || info.strideHeight !== 1 || info.strideWidth !== 1) {
        throw new Error("wasm Conv2DBackpropFilter: only stride-1 NHWC convolutions are supported");
      }
      const be = backend as WasmBackend;
      const { top, bottom, left, right } = info.padInfo;
      const xt = run("Transpose", { x }, { perm: [3, 1, 2, 0] }, be); // [in, H, W, N]
      const dyt = run("Transpose", { x: dy }, { perm: [1, 2, 0, 3] }, be); // [Ho, Wo, N, out]
      // out[in, kh, kw, out] = sum_{n,i,j} xpad[n, i+kh, j+kw, in] * dy[n, i, j, out]
      const g = run("Conv2D", { x: xt, filter: dyt }, {
        strides: [1, 1], dilations: [1, 1], dataFormat: "NHWC",
        pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
      }, be);
      const dw = run("Transpose", { x: g }, { perm: [1, 2, 0, 3] }, be); // [kh, kw, in, out]
      for (const t of [xt, dyt, g]) be.disposeData(t.dataId);
      return dw;
    },
  });
}
