import { describe, expect, it } from "vitest";
import {
  countsAsFailure,
  fromWire,
  toWire,
  errorResponse,
  ForcedUnavailableError,
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
  ])("%s -> %i, the message as the error, with or without the admin token", (err, status) => {
    for (const detail of [false, true]) {
      const r = errorResponse(err, { detail });
      expect(r.status).toBe(status);
      expect(r.body).toEqual({ error: err.message });
      expect(r.ref).toBeUndefined(); // nothing to log
    }
  });

  it("a model that failed to load is a 503 retried after the seconds it carries; its reason only with the token", () => {
    const err = new ModelLoadError(
      "spam",
      3,
      'stage3.onnx is not in the MODELS bucket at "spam/stage3.onnx"',
      30,
      "r1",
    );
    expect(errorResponse(err)).toEqual({
      status: 503,
      body: { error: 'model "spam" stage 3 failed to load (ref r1)' },
      headers: { "Retry-After": "30" },
    });
    expect(errorResponse(err, { detail: true }).body).toEqual({
      error:
        'model "spam" stage 3 failed to load: stage3.onnx is not in the MODELS bucket at "spam/stage3.onnx" (ref r1)',
    });
    const again = err.retryIn(12);
    expect(errorResponse(again).headers).toEqual({ "Retry-After": "12" });
    expect(again.ref).toBe("r1"); // the same failure, the same line in the log
    expect(new ModelLoadError("spam", null, "out of memory", 30, "r2").publicMessage).toBe(
      'model "spam" failed to load (ref r2)',
    );
  });

  it("anything else is a 500: the caller learns the ref the error is logged under, the operator the message too", () => {
    for (const err of [new Error("R2 binding MODELS: ort crashed"), "R2 binding MODELS: ort crashed"]) {
      const r = errorResponse(err, { ref: "0a1b2c" });
      expect(r).toEqual({ status: 500, body: { error: "internal error (ref 0a1b2c)" }, headers: {}, ref: "0a1b2c" });
      expect(errorResponse(err, { detail: true, ref: "0a1b2c" }).body).toEqual({
        error: "internal error: R2 binding MODELS: ort crashed (ref 0a1b2c)",
      });
    }
  });

  it("a configuration error is a 500 that says the server is misconfigured, naming the variable to the operator", () => {
    const err = new InvalidConfigError("SERFLOW_X must be a number");
    expect(errorResponse(err, { ref: "r3" }).body).toEqual({ error: "server misconfigured (ref r3)" });
    expect(errorResponse(err, { detail: true, ref: "r3" }).body).toEqual({
      error: "server misconfigured: SERFLOW_X must be a number (ref r3)",
    });
  });

  it("each 500 gets its own ref", () => {
    const refs = new Set(Array.from({ length: 100 }, () => errorResponse(new Error("x")).ref));
    expect(refs.size).toBe(100);
    for (const ref of refs) expect(ref).toMatch(/^[0-9a-f]{12}$/);
    expect(new ModelLoadError("m", 0, "x", 30).ref).toMatch(/^[0-9a-f]{12}$/);
  });
});

describe("what counts as a failure of the system", () => {
  it("a 5xx does, 4xx do not, nor a 503 the request's own serflow_force caused", () => {
    const forced = new ForcedUnavailableError("serflow_force=vm but no VM is running yet", 5);
    expect(errorResponse(forced)).toEqual({
      status: 503,
      body: { error: "serflow_force=vm but no VM is running yet" },
      headers: { "Retry-After": "5" },
    });
    expect(countsAsFailure(forced)).toBe(false);
    for (const err of [
      new UnavailableError("no VM could take it"),
      new ModelLoadError("m", 1, "x", 30),
      new Error("x"),
    ])
      expect(countsAsFailure(err), String(err)).toBe(true);
    for (const err of [new InvalidInputError("bad shape"), new NotFoundError("no model"), new UnauthorizedError("no")])
      expect(countsAsFailure(err), String(err)).toBe(false);
  });
});

describe("a Serflow error as data, across a Workers RPC call", () => {
  const load = new ModelLoadError("spam", 3, "stage3.onnx is not in the MODELS bucket", 12);
  it.each([
    new InvalidInputError("bad shape"),
    new NotFoundError("no model"),
    new UnauthorizedError("no token"),
    new ForbiddenError("not yours"),
    new UnavailableError("no VM", 3),
    new ForcedUnavailableError("serflow_force=vm but no VM is running yet", 5),
    new InvalidConfigError("slo_ms must be above 0"),
    load,
    new Error("onnxruntime: out of memory"),
  ])("%s keeps its class, status, message and Retry-After through a structured clone", (err) => {
    const back = fromWire(structuredClone(toWire(err)));
    expect(back.constructor).toBe(err.constructor);
    expect(back.message).toBe(err.message);
    expect(countsAsFailure(back)).toBe(countsAsFailure(err));
    for (const detail of [false, true]) {
      const ref = "0123456789ab";
      expect(errorResponse(back, { detail, ref })).toEqual(errorResponse(err, { detail, ref }));
    }
  });

  it("a failed load keeps its stage and ref (the line in the other invocation's log)", () => {
    expect(fromWire(toWire(load))).toMatchObject({ model: "spam", stage: 3, ref: load.ref, retryAfterS: 12 });
  });

  it("a kind it does not know, or an inherited key, is a bare Error (a 500)", () => {
    for (const kind of ["SomethingNew", "constructor", "__proto__"])
      expect(fromWire({ kind, message: "x" } as never).constructor).toBe(Error);
  });
});
