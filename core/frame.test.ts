import { describe, expect, it } from "vitest";
import { InvalidInputError } from "./errors.js";
import { decodeFrame, encodeFrame, frameWaitBudgetMs, type DeepRequestHeader } from "./frame.js";

const header: DeepRequestHeader = { model: "tiny", fromStage: 1, shape: [2, 3] };
const data = new Float32Array([1, 2, 3, 4, 5, 6]);

/** A frame built by hand: header length, header JSON, zero padding to 4, then `dataBytes`. */
function rawFrame(h: unknown, dataBytes: Uint8Array, headerLen?: number): Uint8Array {
  const json = new TextEncoder().encode(typeof h === "string" ? h : JSON.stringify(h));
  const offset = (4 + json.length + 3) & ~3;
  const out = new Uint8Array(offset + dataBytes.length);
  new DataView(out.buffer).setUint32(0, headerLen ?? json.length, true);
  out.set(json, 4);
  out.set(dataBytes, offset);
  return out;
}
const bytesOf = (f: Float32Array) => new Uint8Array(f.buffer, f.byteOffset, f.byteLength);

describe("frame layout", () => {
  it("is u32 LE header length, the header JSON, zero padding to 4, then float32 LE data", () => {
    for (const model of ["m", "mo", "mod", "mode"]) {
      const h = { ...header, model };
      const frame = encodeFrame(h, data);
      const json = JSON.stringify(h);
      expect(new DataView(frame.buffer).getUint32(0, true)).toBe(json.length);
      expect(new TextDecoder().decode(frame.subarray(4, 4 + json.length))).toBe(json);
      const offset = frame.length - data.byteLength;
      expect(offset % 4).toBe(0);
      expect(offset - (4 + json.length)).toBeLessThan(4);
      expect([...frame.subarray(4 + json.length, offset)].every((b) => b === 0)).toBe(true);
      expect(frame).toEqual(rawFrame(h, bytesOf(data)));
      expect(new DataView(frame.buffer).getFloat32(offset + 4, true)).toBe(2);
    }
  });

  it("encodes a view into a larger buffer as the view's elements only", () => {
    const big = new Float32Array([9, 9, 1, 2, 3, 4, 5, 6, 9]);
    expect(encodeFrame(header, big.subarray(2, 8))).toEqual(encodeFrame(header, data));
  });
});

describe("frame length: the data must be exactly what the shape needs", () => {
  const frame = encodeFrame(header, data);
  it.each([
    ["one extra float", 4, /needs 24 data bytes, got 28/],
    ["one extra byte", 1, /needs 24 data bytes, got 25/],
    ["one missing byte", -1, /needs 24 data bytes, got 23/],
    ["one missing float", -4, /needs 24 data bytes, got 20/],
    ["no data at all", -24, /needs 24 data bytes, got 0/],
  ])("refuses %s", (_what, delta, msg) => {
    const bytes = new Uint8Array(frame.length + delta);
    bytes.set(delta > 0 ? frame : frame.subarray(0, bytes.length));
    expect(() => decodeFrame(bytes)).toThrow(InvalidInputError);
    expect(() => decodeFrame(bytes)).toThrow(msg);
  });

  it("accepts exactly the needed bytes, and every element survives", () => {
    expect(Array.from(decodeFrame(frame).data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("refuses a header length past the end of the frame, or over 64 KiB", () => {
    expect(() => decodeFrame(rawFrame(header, bytesOf(data), 1_000))).toThrow(/header length 1000 is out of range/);
    const json = JSON.stringify(header);
    // The header length may reach exactly the end of the bytes (then the data is missing, not the header).
    const headerOnly = rawFrame(header, new Uint8Array(0)).subarray(0, 4 + json.length);
    expect(() => decodeFrame(headerOnly)).toThrow(/needs 24 data bytes/);
    expect(() => decodeFrame(headerOnly.subarray(0, headerOnly.length - 1))).toThrow(/out of range/);
    const huge = new Uint8Array(4 + 64 * 1024 + 8);
    new DataView(huge.buffer).setUint32(0, 64 * 1024 + 1, true);
    expect(() => decodeFrame(huge)).toThrow(/header length 65537 is out of range/);
  });

  it("accepts a header of exactly 64 KiB", () => {
    const pad = 64 * 1024 - JSON.stringify({ ...header, model: "" }).length;
    const h = { ...header, model: "x".repeat(pad) };
    expect(JSON.stringify(h).length).toBe(64 * 1024);
    expect(decodeFrame(encodeFrame(h, data)).header.model).toHaveLength(pad);
  });

  it("needs at least the 4 bytes of the header length", () => {
    for (const n of [0, 1, 3]) expect(() => decodeFrame(new Uint8Array(n))).toThrow(/shorter than its 4-byte/);
    expect(() => decodeFrame(new Uint8Array(4))).toThrow(/not valid JSON/);
  });
});

describe("frame header", () => {
  const frameWith = (h: unknown) => rawFrame(h, bytesOf(data));
  it.each([
    ["not JSON", "{model", /not valid JSON/],
    ["not an object", "7", /must be an object/],
    ["null", "null", /must be an object/],
    ["no model", { ...header, model: 3 }, /header\.model must be a string/],
    ["a negative stage", { ...header, fromStage: -1 }, /fromStage must be an integer >= 0/],
    ["a fractional stage", { ...header, fromStage: 1.5 }, /fromStage must be an integer >= 0/],
    ["a stage as a string", { ...header, fromStage: "1" }, /fromStage must be an integer >= 0/],
    ["a shape without a batch", { ...header, shape: [6] }, /shape must be positive integers, batch first/],
    ["a zero dimension", { ...header, shape: [2, 3, 0] }, /shape must be positive integers/],
    ["a negative dimension", { ...header, shape: [-2, -3] }, /shape must be positive integers/],
    ["a fractional dimension", { ...header, shape: [1.5, 4] }, /shape must be positive integers/],
    ["no shape", { ...header, shape: "2x3" }, /shape must be positive integers/],
    ["a threshold over 1", { ...header, exitThreshold: 1.01 }, /exitThreshold must be a number in \[0, 1\]/],
    ["a negative threshold", { ...header, exitThreshold: -0.01 }, /exitThreshold must be a number in \[0, 1\]/],
    ["a threshold as a string", { ...header, exitThreshold: "0.5" }, /exitThreshold must be a number/],
  ])("refuses %s", (_what, h, msg) => {
    expect(() => decodeFrame(frameWith(h))).toThrow(InvalidInputError);
    expect(() => decodeFrame(frameWith(h))).toThrow(msg);
  });

  it("accepts stage 0, the thresholds 0 and 1, and more than two dimensions", () => {
    expect(decodeFrame(frameWith({ ...header, fromStage: 0 })).header.fromStage).toBe(0);
    for (const t of [0, 1])
      expect(decodeFrame(frameWith({ ...header, exitThreshold: t })).header.exitThreshold).toBe(t);
    const d = decodeFrame(frameWith({ ...header, shape: [1, 2, 3] }));
    expect(d.header.shape).toEqual([1, 2, 3]);
    expect(d.data).toHaveLength(6);
  });
});

describe("frame wait budget", () => {
  const frameWith = (h: unknown) => rawFrame(h, bytesOf(data));
  it("0 to 60000 ms: both ends pass, just outside or not a number is refused", () => {
    for (const ms of [0, 60_000]) {
      expect(decodeFrame(frameWith({ ...header, waitBudgetMs: ms })).header.waitBudgetMs).toBe(ms);
      expect(frameWaitBudgetMs(frameWith({ ...header, waitBudgetMs: ms }))).toBe(ms);
    }
    for (const ms of [-0.001, 60_000.001, "5", null]) {
      expect(() => decodeFrame(frameWith({ ...header, waitBudgetMs: ms }))).toThrow(
        new InvalidInputError("frame: header.waitBudgetMs must be a number of ms in [0, 60000]"),
      );
      expect(frameWaitBudgetMs(frameWith({ ...header, waitBudgetMs: ms }))).toBeUndefined();
    }
  });

  it("read before the frame is decoded: no budget, or a header that cannot be read, is undefined", () => {
    expect(frameWaitBudgetMs(frameWith(header))).toBeUndefined();
    expect(frameWaitBudgetMs(frameWith("{not json"))).toBeUndefined();
    expect(frameWaitBudgetMs(frameWith("null"))).toBeUndefined();
    expect(frameWaitBudgetMs(rawFrame({ ...header, waitBudgetMs: 5 }, bytesOf(data), 1 << 20))).toBeUndefined();
    expect(frameWaitBudgetMs(new Uint8Array(3))).toBeUndefined();
    // The header's length rules are decodeFrame's: 64 KiB is read, one byte more is not; nor is a header
    // whose length runs past the end, even when the bytes that are there parse.
    const sized = (n: number) => {
      const h = { ...header, waitBudgetMs: 5, model: "" };
      return { ...h, model: "x".repeat(n - JSON.stringify(h).length) };
    };
    expect(frameWaitBudgetMs(rawFrame(sized(64 * 1024), bytesOf(data)))).toBe(5);
    expect(frameWaitBudgetMs(rawFrame(sized(64 * 1024 + 1), bytesOf(data)))).toBeUndefined();
    const json = JSON.stringify({ ...header, waitBudgetMs: 5 });
    expect(frameWaitBudgetMs(rawFrame(json, new Uint8Array(0), json.length).subarray(0, 4 + json.length))).toBe(5);
    expect(frameWaitBudgetMs(rawFrame(json, new Uint8Array(0), json.length + 1).subarray(0, 4 + json.length))).toBe(
      undefined,
    );
    // The data is not looked at: a budget is read even from a frame whose data is short.
    expect(frameWaitBudgetMs(rawFrame({ ...header, waitBudgetMs: 5 }, new Uint8Array(0)))).toBe(5);
  });
});
