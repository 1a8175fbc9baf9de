import { describe, expect, it } from "vitest";
import { parseManifest } from "./manifest.js";
import { decodeFrame, encodeFrame } from "./frame.js";
import { buildInferResponse, parseInferRequest, routeString } from "./oip.js";
import { shouldExit, entropy } from "./exit.js";
import {
  InvalidConfigError,
  InvalidInputError,
  InvalidManifestError,
  errorResponse,
  UnavailableError,
} from "./errors.js";
import { TINY_MANIFEST } from "./fixtures.js";

describe("manifest", () => {
  it("accepts a valid manifest", () => {
    const m = parseManifest(TINY_MANIFEST);
    expect(m.stages).toHaveLength(2);
    expect(m.stages[1].hidden_output).toBeNull();
  });
  it.each([
    [{ ...TINY_MANIFEST, name: "bad name!" }, /"name"/],
    [{ ...TINY_MANIFEST, stages: [] }, /"stages"/],
    [
      { ...TINY_MANIFEST, stages: [TINY_MANIFEST.stages[0], { ...TINY_MANIFEST.stages[1], input: "x" }] },
      /stages\[1\]\.input "x" must equal stages\[0\]\.hidden_output "h0"/,
    ],
    [
      {
        ...TINY_MANIFEST,
        stages: [{ ...TINY_MANIFEST.stages[0], exit: { rule: "max_softmax", threshold: 2 } }, TINY_MANIFEST.stages[1]],
      },
      /stages\[0\]\.exit\.threshold/,
    ],
    [
      { ...TINY_MANIFEST, stages: [{ ...TINY_MANIFEST.stages[0], file: "../x.onnx" }, TINY_MANIFEST.stages[1]] },
      /stages\[0\]\.file/,
    ],
  ])("names the file and the problem (%#)", (raw, msg) => {
    expect(() => parseManifest(raw, "models/tiny/manifest.json")).toThrow(InvalidManifestError);
    expect(() => parseManifest(raw, "models/tiny/manifest.json")).toThrow(msg);
    expect(() => parseManifest(raw, "models/tiny/manifest.json")).toThrow(/^models\/tiny\/manifest\.json: /);
  });
});

describe("frame", () => {
  it("round-trips the hidden state bit-exactly", () => {
    const data = new Float32Array([1.5, -2, Math.PI, 1e-30, 0, 7, 8, 9, 10]);
    const back = decodeFrame(encodeFrame({ model: "tiny", fromStage: 1, shape: [3, 3], exitThreshold: 0.5 }, data));
    expect(back.header).toEqual({ model: "tiny", fromStage: 1, shape: [3, 3], exitThreshold: 0.5 });
    expect(Array.from(back.data)).toEqual(Array.from(data));
  });
  it("decodes a frame at any byte offset (a view when 4-aligned, a copy when not)", () => {
    const data = new Float32Array([1.5, -2, Math.PI, 1e-30]);
    const frame = encodeFrame({ model: "tiny", fromStage: 1, shape: [2, 2] }, data);
    for (const offset of [0, 1, 2, 3, 4]) {
      const bytes = new Uint8Array(offset + frame.length);
      bytes.set(frame, offset);
      const back = decodeFrame(bytes.subarray(offset));
      expect(Array.from(back.data)).toEqual(Array.from(data));
      expect(back.data.buffer === bytes.buffer).toBe(offset % 4 === 0);
    }
  });
  it("refuses truncated or inconsistent frames", () => {
    const ok = encodeFrame({ model: "tiny", fromStage: 1, shape: [2, 3] }, new Float32Array(6));
    expect(() => decodeFrame(ok.subarray(0, ok.length - 4))).toThrow(/needs 24 data bytes, got 20/);
    expect(() => decodeFrame(new Uint8Array([255, 255, 255, 255]))).toThrow(/header length/);
    expect(() => decodeFrame(new Uint8Array(2))).toThrow(InvalidInputError);
  });
});

describe("open inference protocol", () => {
  const m = parseManifest(TINY_MANIFEST);
  const body = (over: Record<string, unknown> = {}, params?: unknown) => ({
    id: "r1",
    inputs: [{ name: "input", shape: [2, 4], datatype: "FP32", data: [0, 1, 2, 3, 4, 5, 6, 7], ...over }],
    ...(params !== undefined ? { parameters: params } : {}),
  });
  it("parses flat and nested data", () => {
    expect(Array.from(parseInferRequest(body(), m).data)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(
      Array.from(
        parseInferRequest(
          body({
            data: [
              [0, 1, 2, 3],
              [4, 5, 6, 7],
            ],
          }),
          m,
        ).data,
      ),
    ).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
  it.each([
    [body({ name: "x" }), /inputs\[0\]\.name must be "input"/],
    [body({ datatype: "INT32" }), /datatype must be "FP32"/],
    [body({ shape: [2, 5] }), /shape must be \[N, 4\]/],
    [body({ data: [1, 2, 3] }), /has 3 values but shape needs 8/],
    [body({ data: [0, 1, 2, 3, 4, 5, 6, "x"] }), /data\[7\] is not a number/],
    [body({ data: [0, 1, 2, 3, 4, 5, 6, null] }), /data\[7\] is not a number/],
    [body({}, { exit_threshold: 1.5 }), /exit_threshold must be a number in \[0, 1\]/],
    [body({}, { serflow_force: "gpu" }), /serflow_force must be "worker" or "vm"/],
    [{ inputs: [] }, /exactly one tensor/],
    ["x", /JSON object/],
  ])("rejects bad input with a message that says what is wrong (%#)", (b, msg) => {
    expect(() => parseInferRequest(b, m)).toThrow(msg);
    expect(
      errorResponse(
        (() => {
          try {
            parseInferRequest(b, m);
          } catch (e) {
            return e;
          }
        })(),
      ).status,
    ).toBe(400);
  });
  it("limits the batch size", () => {
    expect(() => parseInferRequest(body(), m, { maxBatchRows: 1 })).toThrow(/exceeds the limit of 1/);
  });
  it("builds the response with outputs and the route", () => {
    const req = parseInferRequest(body(), m);
    const res = buildInferResponse(
      m,
      req,
      [
        { probs: [0.9, 0.1], label: 0, confidence: 0.9, exitStage: 0 },
        { probs: [0.2, 0.8], label: 1, confidence: 0.8, exitStage: 1 },
      ],
      routeString(["w", "v"]),
    ) as any;
    expect(res.id).toBe("r1");
    expect(res.parameters.serflow_route).toBe("w0,v1");
    expect(res.outputs.map((o: any) => [o.name, o.datatype, o.shape])).toEqual([
      ["probabilities", "FP32", [2, 2]],
      ["label", "INT64", [2]],
      ["exit_stage", "INT32", [2]],
    ]);
  });
});

describe("exit rules", () => {
  const p = new Float32Array([0.95, 0.05, 0.5, 0.5, 1, 0]);
  it("max softmax exits at the threshold; 1 never exits early", () => {
    expect(shouldExit(p, 0, 2, { rule: "max_softmax", threshold: 0.9 })).toBe(true);
    expect(shouldExit(p, 2, 2, { rule: "max_softmax", threshold: 0.9 })).toBe(false);
    expect(shouldExit(p, 4, 2, { rule: "max_softmax", threshold: 1 })).toBe(false);
  });
  it("entropy exits below the threshold", () => {
    expect(entropy(p, 2, 2)).toBeCloseTo(Math.log(2));
    expect(shouldExit(p, 0, 2, { rule: "entropy", threshold: 0.3 })).toBe(true);
    expect(shouldExit(p, 2, 2, { rule: "entropy", threshold: 0.3 })).toBe(false);
  });
});

describe("errors", () => {
  it("maps 503 with Retry-After and hides nothing of the message", () => {
    const e = errorResponse(new UnavailableError("no VM", 7));
    expect(e).toEqual({ status: 503, body: { error: "no VM" }, headers: { "Retry-After": "7" } });
  });
  it("a configuration error is the server's (500), named as such; the variable only to the operator", () => {
    const err = new InvalidConfigError("SERFLOW_MAX_BODY_BYTES must be a whole number >= 1");
    const e = errorResponse(err, { ref: "r1" });
    expect(e.status).toBe(500);
    expect(e.body.error).toBe("server misconfigured (ref r1)");
    expect(errorResponse(err, { detail: true, ref: "r1" }).body.error).toBe(
      "server misconfigured: SERFLOW_MAX_BODY_BYTES must be a whole number >= 1 (ref r1)",
    );
  });
});
