// Open Inference Protocol boundaries: what is just inside and just outside each rule of a request.
import { describe, expect, it } from "vitest";
import { InvalidInputError } from "./errors.js";
import { TINY_MANIFEST } from "./fixtures.js";
import { parseManifest } from "./manifest.js";
import { buildInferResponse, checkJsonBudget, jsonBudget, modelMetadata, parseInferRequest } from "./oip.js";

const m = parseManifest(TINY_MANIFEST);
const tensor = (rows: number, over: Record<string, unknown> = {}) => ({
  name: "input",
  shape: [rows, 4],
  datatype: "FP32",
  data: Array.from({ length: rows * 4 }, (_, i) => i),
  ...over,
});
const req = (parameters?: unknown, rows = 1) => ({
  inputs: [tensor(rows)],
  ...(parameters !== undefined ? { parameters } : {}),
});
const refuses = (body: unknown, msg: RegExp, limits?: { maxBatchRows: number }) => {
  expect(() => parseInferRequest(body, m, limits)).toThrow(InvalidInputError);
  expect(() => parseInferRequest(body, m, limits)).toThrow(msg);
};

describe("infer request boundaries", () => {
  it("exit_threshold: 0 and 1 are accepted, anything outside [0, 1] or not a number is refused", () => {
    expect(parseInferRequest(req({ exit_threshold: 0 }), m).exitThreshold).toBe(0);
    expect(parseInferRequest(req({ exit_threshold: 1 }), m).exitThreshold).toBe(1);
    expect(parseInferRequest(req({ exit_threshold: 0.5 }), m).exitThreshold).toBe(0.5);
    expect(parseInferRequest(req({}), m).exitThreshold).toBeUndefined();
    for (const v of [-0.001, 1.001, "0.5", null, true])
      refuses(req({ exit_threshold: v }), /parameters\.exit_threshold must be a number in \[0, 1\]/);
  });

  it("serflow_force: worker and vm are accepted, nothing else", () => {
    expect(parseInferRequest(req({ serflow_force: "worker" }), m).force).toBe("worker");
    expect(parseInferRequest(req({ serflow_force: "vm" }), m).force).toBe("vm");
    expect(parseInferRequest(req(), m).force).toBeUndefined();
    for (const v of ["", "VM", "w", 1]) refuses(req({ serflow_force: v }), /serflow_force must be "worker" or "vm"/);
  });

  it("parameters must be an object when present (null counts as absent)", () => {
    expect(parseInferRequest(req(null), m).exitThreshold).toBeUndefined();
    for (const p of [[], "x", 3]) refuses(req(p), /"parameters" must be an object/);
  });

  it("batch size: 1 and exactly the limit are accepted; 0 and one over are refused", () => {
    expect(parseInferRequest(req(undefined, 1), m).rows).toBe(1);
    expect(parseInferRequest(req(undefined, 3), m, { maxBatchRows: 3 }).rows).toBe(3);
    refuses(req(undefined, 4), /batch of 4 rows exceeds the limit of 3/, { maxBatchRows: 3 });
    refuses({ inputs: [tensor(0)] }, /batch size\) must be at least 1/);
  });

  it("shape: one batch dimension then the model's own; no negatives, fractions or extra dimensions", () => {
    for (const shape of [[-1, 4], [1.5, 4], [1, 4, 1], [1], "1x4", [1, 3]])
      refuses({ inputs: [tensor(1, { shape })] }, /inputs\[0\]\.shape must be \[N, 4\], got /);
  });

  it("a model input of more dimensions: every one after the batch must match, and the message lists them", () => {
    const m3 = parseManifest({ ...TINY_MANIFEST, input: { ...TINY_MANIFEST.input, shape: [-1, 2, 2] } });
    const body = (shape: number[]) => ({
      inputs: [{ name: "input", datatype: "FP32", shape, data: [0, 1, 2, 3, 4, 5] }],
    });
    expect(
      Array.from(parseInferRequest({ inputs: [{ ...body([1, 2, 2]).inputs[0], data: [0, 1, 2, 3] }] }, m3).data),
    ).toEqual([0, 1, 2, 3]);
    for (const shape of [
      [1, 2, 3],
      [1, 3, 2],
      [1, 2],
    ])
      expect(() => parseInferRequest(body(shape), m3)).toThrow(
        new InvalidInputError(`inputs[0].shape must be [N, 2, 2], got ${JSON.stringify(shape)}`),
      );
  });

  it("data: exactly shape's count of finite numbers, flat or nested", () => {
    const r = parseInferRequest(
      {
        inputs: [
          tensor(2, {
            data: [
              [0, 1, 2, 3],
              [
                [4, 5],
                [6, 7],
              ],
            ],
          }),
        ],
      },
      m,
    );
    expect(Array.from(r.data)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    refuses({ inputs: [tensor(1, { data: "0,1,2,3" })] }, /data must be an array of numbers/);
    refuses({ inputs: [tensor(1, { data: [0, 1, 2] })] }, /has 3 values but shape needs 4/);
    refuses({ inputs: [tensor(1, { data: [0, 1, 2, 3, 4] })] }, /has 5 values but shape needs 4/);
    refuses({ inputs: [tensor(1, { data: JSON.parse("[0, 1, 2, 1e400]") })] }, /data\[3\] is not finite/);
    // Finite as a double, Infinity as a float32: refused naming the FP32 range; the largest float32 passes.
    refuses(
      { inputs: [tensor(1, { data: [0, 1e39, 2, 3] })] },
      /^inputs\[0\]\.data\[1\] = 1e\+39 is outside the FP32 range \(\|x\| <= 3\.4028235e38\)$/,
    );
    expect(parseInferRequest({ inputs: [tensor(1, { data: [0, -3.4028234e38, 2, 3] })] }, m).data[1]).toBe(
      Math.fround(-3.4028234e38),
    );
  });

  it("a value nested too deep to print or megabytes long is refused as bad input, and echoed bounded", () => {
    let deep: unknown = [];
    for (let i = 0; i < 1e6; i++) deep = [deep];
    expect(() => JSON.stringify(deep)).toThrow(RangeError);
    const huge = "x".repeat(1 << 20);
    const cases: Array<[unknown, RegExp]> = [
      [{ inputs: [tensor(1, { name: deep })] }, /^inputs\[0\]\.name must be "input", got an array of 1$/],
      [{ inputs: [tensor(1, { name: huge })] }, /^inputs\[0\]\.name must be "input", got "x{64}\.\.\."$/],
      [{ inputs: [tensor(1, { datatype: deep })] }, /datatype must be "FP32", got an array of 1$/],
      [{ inputs: [tensor(1, { shape: deep })] }, /shape must be \[N, 4\], got an array of 1$/],
      [{ inputs: [tensor(1, { shape: [1, 5] })] }, /shape must be \[N, 4\], got \[1,5\]$/],
      [{ inputs: [tensor(1, { data: [0, 1, 2, deep] })] }, /data\[3\] is not a number: an array of 1$/],
      [
        { ...req(), parameters: { exit_threshold: deep } },
        /exit_threshold must be a number in \[0, 1\], got an array of 1$/,
      ],
      [
        { ...req(), parameters: { serflow_force: { a: deep } } },
        /serflow_force must be "worker" or "vm", got an object$/,
      ],
    ];
    for (const [body, msg] of cases) refuses(body, msg);
  });

  it("the body, its id and its one tensor must have the right types", () => {
    for (const body of [[], null, 7]) refuses(body, /request body must be a JSON object/);
    refuses({ ...req(), id: 7 }, /"id" must be a string/);
    expect(parseInferRequest({ ...req(), id: "" }, m).id).toBe("");
    refuses({ inputs: [null] }, /inputs\[0\] must be an object/);
    refuses({ inputs: ["input"] }, /inputs\[0\] must be an object|name must be/);
    refuses({ inputs: [tensor(1), tensor(1)] }, /exactly one tensor named "input"/);
  });
});

describe("the JSON budget checked before parsing", () => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  const budget = jsonBudget(m); // TINY_MANIFEST's input: [N, 4]
  const body = (data: unknown, rows: number) =>
    JSON.stringify({ id: "a", inputs: [tensor(rows, { data })], parameters: { exit_threshold: 0.5 } });

  it("holds the largest batch nested as its shape, and refuses a body of empty objects at once", () => {
    // [N, 4]: the data array and one per row.
    expect(budget).toEqual({ containers: 1 + 256 + 16, depth: 2 + 5, values: 256 * 4 + 273 + 64 });
    const nested = Array.from({ length: 256 }, (_, r) => [r, r, r, r]);
    expect(() => checkJsonBudget(bytes(body(nested, 256)), budget)).not.toThrow();
    expect(() => checkJsonBudget(bytes(body(nested.flat(), 256)), budget)).not.toThrow();
    // Each number in its own array: more than a [N, 4] request needs.
    const each = Array.from({ length: 256 }, (_, r) => [[r], [r], [r], [r]]);
    expect(() => checkJsonBudget(bytes(body(each, 256)), budget)).toThrow(
      /^request body holds more than 273 arrays and objects; an infer request for this model needs fewer/,
    );
    expect(() => checkJsonBudget(bytes(`[${"{},".repeat(1e6)}{}]`), budget)).toThrow(InvalidInputError);
    // A model input of more dimensions allows its nesting: [N, 2, 3] is 1 + N + 2N arrays.
    const deeper = jsonBudget({ ...m, input: { ...m.input, shape: [-1, 2, 3] } });
    expect(deeper).toEqual({ containers: 1 + 256 + 512 + 16, depth: 3 + 5, values: 256 * 6 + 785 + 64 });
  });

  it("counts values: a body of more numbers or members than the largest batch (above) is refused before parsing", () => {
    const msg = /^request body holds more than 1361 values; an infer request for this model needs fewer$/;
    // One tensor of a million zeros; one object of a million members (no array or object among them).
    expect(() => checkJsonBudget(bytes(body(Array(1e6).fill(0), 1)), budget)).toThrow(msg);
    const members = `{${Array.from({ length: 1e6 }, (_, i) => `"k${i}":0`).join(",")}}`;
    expect(() => checkJsonBudget(bytes(`{"parameters":${members},"inputs":[]}`), budget)).toThrow(msg);
    // Commas inside strings are not values.
    expect(() => checkJsonBudget(bytes(JSON.stringify({ id: ",".repeat(1e5), inputs: [] })), budget)).not.toThrow();
  });

  it("counts nesting outside strings only, escapes included", () => {
    expect(() => checkJsonBudget(bytes(`[${"[".repeat(7)}${"]".repeat(7)}]`), budget)).toThrow(
      /^request body nests deeper than 7 levels$/,
    );
    expect(() => checkJsonBudget(bytes(`[${"[".repeat(6)}${"]".repeat(6)}]`), budget)).not.toThrow();
    // Brackets inside strings, and an escaped quote that does not end one, are not structure.
    const text = JSON.stringify({ id: `"${"[{".repeat(1000)}`, inputs: [] });
    expect(() => checkJsonBudget(bytes(text), budget)).not.toThrow();
  });
});

describe("infer response", () => {
  const rows = [
    { probs: [0.9, 0.1], label: 0, confidence: 0.9, exitStage: 0 },
    { probs: [0.3, 0.7], label: 1, confidence: 0.7, exitStage: 1 },
  ];
  it("has the rows' probabilities flattened in order, labels, exit stages and confidences", () => {
    const res = buildInferResponse(m, parseInferRequest(req(undefined, 2), m), rows, "w0,w1") as any;
    expect(res).toEqual({
      model_name: "tiny",
      model_version: "1",
      parameters: { serflow_route: "w0,w1", serflow_confidence: [0.9, 0.7] },
      outputs: [
        { name: "probabilities", datatype: "FP32", shape: [2, 2], data: [0.9, 0.1, 0.3, 0.7] },
        { name: "label", datatype: "INT64", shape: [2], data: [0, 1] },
        { name: "exit_stage", datatype: "INT32", shape: [2], data: [0, 1] },
      ],
    });
    expect("id" in res).toBe(false);
  });

  it("metadata lists the input, the three outputs and each stage's exit rule and placement", () => {
    expect(modelMetadata(m)).toEqual({
      name: "tiny",
      versions: ["1"],
      platform: "onnx_onnxv1",
      inputs: [{ name: "input", datatype: "FP32", shape: [-1, 4] }],
      outputs: [
        { name: "probabilities", datatype: "FP32", shape: [-1, 2] },
        { name: "label", datatype: "INT64", shape: [-1] },
        { name: "exit_stage", datatype: "INT32", shape: [-1] },
      ],
      parameters: {
        stages: [
          { stage: 0, exit_rule: "max_softmax", exit_threshold: 0.9, placement: "worker" },
          { stage: 1, exit_rule: "max_softmax", exit_threshold: 0, placement: "auto" },
        ],
      },
    });
  });
});
