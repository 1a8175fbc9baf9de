import { describe, expect, it } from "vitest";
import { InvalidInputError } from "./errors.js";
import { parseVmId, parseVmReport } from "./vm-report.js";

const ok = { id: "local-1", url: "http://127.0.0.1:9000", state: "running", inflight: 0, slots: 4 };

describe("VM report (heartbeat)", () => {
  it("reads a valid report into exactly its fields", () => {
    expect(parseVmReport(ok)).toEqual({ ...ok, queued: 0, service_ms: null });
    expect(parseVmReport({ ...ok, queued: 2, service_ms: 3.5 })).toMatchObject({ queued: 2, service_ms: 3.5 });
    for (const service_ms of [-1, "fast", Number.POSITIVE_INFINITY])
      expect(parseVmReport({ ...ok, service_ms }).service_ms).toBeNull();
    for (const state of ["booting", "running", "draining"]) expect(parseVmReport({ ...ok, state }).state).toBe(state);
    const r = parseVmReport({ ...ok, url: "https://vm-1.example", inflight: 3, slots: 1 });
    expect([r.url, r.inflight, r.slots]).toEqual(["https://vm-1.example", 3, 1]);
  });

  it.each([
    ["not an object", "running", /must be an object/],
    ["null", null, /must be an object/],
    ["an id with a space", { ...ok, id: "a b" }, /id must be 1-64 word characters/],
    ["an empty id", { ...ok, id: "" }, /id must be 1-64 word characters/],
    ["an id of 65 characters", { ...ok, id: "x".repeat(65) }, /id must be 1-64 word characters/],
    ["a numeric id", { ...ok, id: 7 }, /id must be 1-64 word characters/],
    ["no URL", { ...ok, url: 7 }, /url must be a string/],
    ["a URL of another scheme", { ...ok, url: "ftp://127.0.0.1:9000" }, /must be https/],
    ["a URL without a scheme", { ...ok, url: "127.0.0.1:9000/http://" }, /url/],
    [
      "state dead (only the controller declares that)",
      { ...ok, state: "dead" },
      /state must be booting, running or draining/,
    ],
    ["negative inflight", { ...ok, inflight: -1 }, /inflight must be an integer >= 0/],
    ["fractional inflight", { ...ok, inflight: 0.5 }, /inflight must be an integer >= 0/],
    ["a negative queue", { ...ok, queued: -1 }, /queued must be an integer >= 0/],
    ["zero slots", { ...ok, slots: 0 }, /slots must be an integer/],
    ["fractional slots", { ...ok, slots: 1.5 }, /slots must be an integer/],
    ["slots as a string", { ...ok, slots: "4" }, /slots must be an integer/],
  ])("refuses %s, naming the field", (_what, raw, msg) => {
    expect(() => parseVmReport(raw)).toThrow(InvalidInputError);
    expect(() => parseVmReport(raw)).toThrow(msg);
    expect(() => parseVmReport(raw)).toThrow(/^vm report: /);
  });

  it("zero is a count: inflight and queued 0 pass, and a service time of 0 ms is kept, not read as none", () => {
    expect(parseVmReport({ ...ok, inflight: 0, queued: 0, service_ms: 0 })).toMatchObject({
      inflight: 0,
      queued: 0,
      service_ms: 0,
    });
  });

  it("inflight and queued: up to 1e6 each, one more is refused", () => {
    expect(parseVmReport({ ...ok, inflight: 1_000_000, queued: 1_000_000 })).toMatchObject({
      inflight: 1_000_000,
      queued: 1_000_000,
    });
    for (const over of [{ inflight: 1_000_001 }, { queued: 1_000_001 }])
      expect(() => parseVmReport({ ...ok, ...over })).toThrow("vm report: inflight and queued must be at most 1e6");
    expect(parseVmReport({ ...ok, slots: 1_000_000 }).slots).toBe(1_000_000);
    expect(() => parseVmReport({ ...ok, slots: 1_000_001 })).toThrow("vm report: slots must be an integer in [1, 1e6]");
  });

  it("accepts ids of 1 and 64 word characters, dots and dashes", () => {
    for (const id of ["a", "x".repeat(64), "vm-1.eu_west"]) expect(parseVmId({ id })).toBe(id);
  });
});
