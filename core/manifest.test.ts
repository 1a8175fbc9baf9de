// Manifest rules, each at its edge: what is just accepted and what is refused, with the file and field named.
import { describe, expect, it } from "vitest";
import { InvalidManifestError } from "./errors.js";
import { TINY_MANIFEST } from "./fixtures.js";
import { checkOnnxBytes, parseManifest, rowSize } from "./manifest.js";

type Raw = Record<string, any>;
const withStage = (i: number, over: Raw): Raw => ({
  ...TINY_MANIFEST,
  stages: TINY_MANIFEST.stages.map((s, j) => (j === i ? { ...s, ...over } : s)),
});
const withExit = (i: number, exit: Raw) => withStage(i, { exit });
const refuses = (raw: unknown, msg: RegExp) => {
  expect(() => parseManifest(raw, "m.json")).toThrow(InvalidManifestError);
  expect(() => parseManifest(raw, "m.json")).toThrow(msg);
  expect(() => parseManifest(raw, "m.json")).toThrow(/^m\.json: /);
};

describe("manifest fields", () => {
  it("reads the tiny manifest exactly", () => {
    expect(parseManifest(TINY_MANIFEST)).toEqual({
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
          location: "bundle",
        },
        {
          file: "s1.onnx",
          input: "h0",
          hidden_output: null,
          hidden_shape: null,
          probs_output: "p1",
          exit: { rule: "max_softmax", threshold: 0 },
          placement: "auto",
          location: "bundle",
        },
      ],
    });
  });

  it.each([
    ["not an object", [], /must be a JSON object/],
    ["null", null, /must be a JSON object/],
    ["a name of 65 characters", { ...TINY_MANIFEST, name: "n".repeat(65) }, /"name" must match/],
    ["a numeric name", { ...TINY_MANIFEST, name: 3 }, /"name" must match/],
    ["a numeric version", { ...TINY_MANIFEST, version: 1 }, /"version" must be a string/],
    [
      "an infinite entropy threshold",
      withExit(0, { rule: "entropy", threshold: JSON.parse("1e400") }),
      /stages\[0\]\.exit\.threshold/,
    ],
    ["a zero after a good dimension", withStage(0, { hidden_shape: [-1, 3, 0] }), /stages\[0\]\.hidden_shape must be/],
    ["no input", { ...TINY_MANIFEST, input: null }, /"input\.name" must be a string/],
    ["an input without a name", { ...TINY_MANIFEST, input: { ...TINY_MANIFEST.input, name: 3 } }, /"input\.name"/],
    [
      "an FP16 input",
      { ...TINY_MANIFEST, input: { ...TINY_MANIFEST.input, datatype: "FP16" } },
      /"input\.datatype" must be "FP32"/,
    ],
    [
      "an input shape without -1",
      { ...TINY_MANIFEST, input: { ...TINY_MANIFEST.input, shape: [1, 4] } },
      /"input\.shape" must be \[-1, d1, \.\.\.\]/,
    ],
    [
      "an input shape of one dimension",
      { ...TINY_MANIFEST, input: { ...TINY_MANIFEST.input, shape: [-1] } },
      /"input\.shape"/,
    ],
    ["a zero dimension", { ...TINY_MANIFEST, input: { ...TINY_MANIFEST.input, shape: [-1, 0] } }, /"input\.shape"/],
    ["one class", { ...TINY_MANIFEST, classes: 1 }, /"classes" must be an integer >= 2/],
    ["2.5 classes", { ...TINY_MANIFEST, classes: 2.5 }, /"classes" must be an integer >= 2/],
    [
      "a stage that is not an object",
      { ...TINY_MANIFEST, stages: [7, TINY_MANIFEST.stages[1]] },
      /stages\[0\] must be an object/,
    ],
    ["a file that is not .onnx", withStage(1, { file: "s1.bin" }), /stages\[1\]\.file must be a relative \.onnx path/],
    ["a file that is not a string", withStage(1, { file: 3 }), /stages\[1\]\.file/],
    ["a stage input that is not a string", withStage(1, { input: 3 }), /stages\[1\]\.input must be a string/],
    ["no probs output", withStage(0, { probs_output: undefined }), /stages\[0\]\.probs_output must be a string/],
    [
      "a first stage without hidden output",
      withStage(0, { hidden_output: null }),
      /stages\[0\]\.hidden_output must be a string \(only the last stage/,
    ],
    ["a bad hidden shape", withStage(0, { hidden_shape: [-1, 1.5] }), /stages\[0\]\.hidden_shape must be/],
    [
      "a first stage not reading the input",
      withStage(0, { input: "x" }),
      /stages\[0\]\.input "x" must equal input\.name "input"/,
    ],
    ["no exit", withStage(0, { exit: "fast" }), /stages\[0\]\.exit must be an object/],
    [
      "an unknown exit rule",
      withExit(0, { rule: "margin", threshold: 0.5 }),
      /exit\.rule must be "max_softmax" or "entropy"/,
    ],
    [
      "a max-softmax threshold over 1",
      withExit(0, { rule: "max_softmax", threshold: 1.01 }),
      /stages\[0\]\.exit\.threshold/,
    ],
    ["a negative threshold", withExit(0, { rule: "entropy", threshold: -0.1 }), /stages\[0\]\.exit\.threshold/],
    ["a threshold as a string", withExit(0, { rule: "entropy", threshold: "1" }), /stages\[0\]\.exit\.threshold/],
    [
      "an unknown placement",
      withStage(1, { placement: "gpu" }),
      /stages\[1\]\.placement must be "worker", "vm" or "auto"/,
    ],
  ])("refuses %s, naming the file and field", (_what, raw, msg) => refuses(raw, msg));

  it("accepts the edges: max-softmax 1, entropy above 1, every placement, no placement (auto)", () => {
    expect(parseManifest(withExit(0, { rule: "max_softmax", threshold: 1 })).stages[0].exit.threshold).toBe(1);
    expect(parseManifest(withExit(0, { rule: "entropy", threshold: 2.3 })).stages[0].exit).toEqual({
      rule: "entropy",
      threshold: 2.3,
    });
    for (const placement of ["worker", "vm", "auto"])
      expect(parseManifest(withStage(1, { placement })).stages[1].placement).toBe(placement);
    expect(parseManifest(withStage(0, { placement: undefined })).stages[0].placement).toBe("auto");
    expect(parseManifest({ ...TINY_MANIFEST, name: "a.b-c_1" }).name).toBe("a.b-c_1");
  });

  it("a stage's exit is an object", () => {
    for (const exit of ["max_softmax", null, 0.9])
      refuses(withStage(0, { exit }), /stages\[0\]\.exit must be an object$/);
  });

  it("worker_cpu_ratio, when given, is a finite number > 0", () => {
    expect(parseManifest(withStage(1, { worker_cpu_ratio: 0.5 })).stages[1].worker_cpu_ratio).toBe(0.5);
    for (const ratio of [0, -1, "2", JSON.parse("1e400")])
      refuses(
        withStage(1, { worker_cpu_ratio: ratio }),
        /stages\[1\]\.worker_cpu_ratio must be a number > 0 \(Worker CPU ms per VM ms, measured\)$/,
      );
  });

  it("a stage's file is in the bundle (the default) or in R2, nowhere else", () => {
    for (const location of ["bundle", "r2"])
      expect(parseManifest(withStage(1, { location })).stages[1].location).toBe(location);
    expect(parseManifest(withStage(1, { location: undefined })).stages[1].location).toBe("bundle");
    for (const location of ["s3", "", "R2"])
      refuses(withStage(1, { location }), /stages\[1\]\.location must be "bundle" or "r2"$/);
  });

  it("carries the measured Worker/VM ratios of the median and the p99, each a number > 0", () => {
    const m = parseManifest(withStage(1, { worker_cpu_ratio: 18, worker_cpu_p99_ratio: 3.1 }));
    expect(m.stages[1]).toMatchObject({ worker_cpu_ratio: 18, worker_cpu_p99_ratio: 3.1 });
    expect(parseManifest(TINY_MANIFEST).stages[1]).not.toHaveProperty("worker_cpu_p99_ratio");
    expect(parseManifest(TINY_MANIFEST).stages[1]).not.toHaveProperty("worker_cpu_ratio");
    for (const bad of [0, -1, "3", JSON.parse("1e400")])
      refuses(withStage(1, { worker_cpu_p99_ratio: bad }), /stages\[1\]\.worker_cpu_p99_ratio must be a number > 0/);
  });

  it("carries the stage's measured VM time, a median > 0 and a p99 at least the median", () => {
    const m = parseManifest(withStage(1, { vm_ms: { median: 0.5, p99: 0.5, extra: 1 } }));
    expect(m.stages[1].vm_ms).toEqual({ median: 0.5, p99: 0.5 });
    expect(parseManifest(TINY_MANIFEST).stages[1]).not.toHaveProperty("vm_ms");
    for (const vm_ms of [
      2,
      null,
      [1, 2],
      { median: 1 },
      { median: 0, p99: 1 },
      { median: 2, p99: 1.9 },
      { median: "1", p99: 2 },
    ])
      refuses(
        withStage(1, { vm_ms }),
        /stages\[1\]\.vm_ms must be \{ "median": ms > 0, "p99": ms >= median \} \(the stage's measured VM time\)$/,
      );
  });

  it("the last stage needs no hidden output; a single stage model is its own last stage", () => {
    const one = { ...TINY_MANIFEST, stages: [{ ...TINY_MANIFEST.stages[1], input: "input" }] };
    expect(parseManifest(one).stages).toHaveLength(1);
    expect(parseManifest(one).stages[0].hidden_shape).toBeNull();
  });

  it("names manifest.json when no file is given", () => {
    expect(() => parseManifest(null)).toThrow(/^manifest\.json: must be a JSON object/);
  });
});

describe("ONNX bytes and row size", () => {
  it("refuses fewer than 16 bytes, or a first byte that is not the ir_version tag", () => {
    const ok = new Uint8Array(16);
    ok[0] = 0x08;
    expect(() => checkOnnxBytes(ok, "s.onnx")).not.toThrow();
    expect(() => checkOnnxBytes(ok.subarray(0, 15), "s.onnx")).toThrow(
      /^s\.onnx: ONNX file is empty or truncated \(15 bytes\)/,
    );
    const html = new TextEncoder().encode("<html>not found</html>");
    expect(() => checkOnnxBytes(html, "s.onnx")).toThrow(/^s\.onnx: not an ONNX model/);
  });

  it("a row is the product of every dimension after the batch", () => {
    expect(rowSize([-1, 4])).toBe(4);
    expect(rowSize([-1, 2, 3, 5])).toBe(30);
  });
});
