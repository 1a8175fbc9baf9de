import { describe, expect, it } from "vitest";
import {
  errorResponse,
  ForbiddenError,
  InvalidConfigError,
  InvalidInputError,
  MethodNotAllowedError,
  ModelLoadError,
  NotFoundError,
  PayloadTooLargeError,
  UnauthorizedError,
  UnavailableError,
} from "./errors.js";

describe("error to status, in one place", () => {
  it.each([
    [new InvalidInputError("bad shape"), 400],
    [new UnauthorizedError("no token"), 401],
    [new ForbiddenError("not your VM id"), 403],
    [new NotFoundError("no model"), 404],
    [new MethodNotAllowedError("GET only"), 405],
    [new PayloadTooLargeError("too big"), 413],
    [new UnavailableError("no VM", 3), 503],
  ])("%s -> %i, the message as the error", (err, status) => {
    const r = errorResponse(err);
    expect(r.status).toBe(status);
    expect(r.body).toEqual({ error: err.message });
  });

  it("a model that failed to load is a 503 naming the stage, retried after the seconds it carries", () => {
    const err = new ModelLoadError("spam", 3, 'stage3.onnx is not in the MODELS bucket at "spam/stage3.onnx"', 30);
    expect(errorResponse(err)).toEqual({
      status: 503,
      body: {
        error: 'model "spam" stage 3 failed to load: stage3.onnx is not in the MODELS bucket at "spam/stage3.onnx"',
      },
      headers: { "Retry-After": "30" },
    });
    expect(errorResponse(err.retryIn(12)).headers).toEqual({ "Retry-After": "12" });
    expect(new ModelLoadError("spam", null, "out of memory", 30).message).toBe(
      'model "spam" failed to load: out of memory',
    );
  });

  it("anything else is a 500 that says inference failed, without Retry-After", () => {
    for (const err of [new Error("ort crashed"), "ort crashed"]) {
      const r = errorResponse(err);
      expect(r.status).toBe(500);
      expect(r.body).toEqual({ error: "inference failed: ort crashed" });
      expect(r.headers["Retry-After"]).toBeUndefined();
    }
  });

  it("a configuration error is a 500 that says the server is misconfigured", () => {
    expect(errorResponse(new InvalidConfigError("SERFLOW_X must be a number"))).toEqual({
      status: 500,
      body: { error: "server misconfigured: SERFLOW_X must be a number" },
      headers: {},
    });
  });
});
