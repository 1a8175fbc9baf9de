// Fixtures for tests of the core: manifests of two and three stages (a deep range of two after stage 0), and a signed call.
export const TINY_MANIFEST = {
  name: "tiny",
  version: "1",
  input: { name: "input", datatype: "FP32", shape: [-1, 4] },
  classes: 2,
  stages: [
    {
      file: "s0.onnx",
      input: "input",
      hidden_output: "h0",
      hidden_shape: [-1, 3],
      probs_output: "p0",
      exit: { rule: "max_softmax", threshold: 0.9 },
      placement: "worker",
    },
    {
      file: "s1.onnx",
      input: "h0",
      hidden_output: null,
      hidden_shape: null,
      probs_output: "p1",
      exit: { rule: "max_softmax", threshold: 0 },
      placement: "auto",
    },
  ],
};

const [s0, s1] = TINY_MANIFEST.stages;
export const THREE_STAGE_MANIFEST = {
  ...TINY_MANIFEST,
  stages: [
    s0,
    { ...s0, file: "s1.onnx", input: "h0", hidden_output: "h1", probs_output: "p1", placement: "auto" },
    { ...s1, file: "s2.onnx", input: "h1", probs_output: "p2" },
  ],
};

/** A signed call's body, and a plain record read through the Headers interface the verifier takes. */
export const SIGNED_BODY = new TextEncoder().encode("payload");
export const asHeaders = (h: Record<string, string>) => ({ get: (k: string) => h[k] ?? null });
