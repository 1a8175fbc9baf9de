// Binary frame for the hidden state that crosses tiers (Worker -> VM or Worker -> Worker):
//   u32 LE header length | header JSON (UTF-8) | zero padding to a multiple of 4 | float32 LE data.
// JSON numbers would cost ~3x the bytes and a parse per element; the float32 payload is copied once.
import { InvalidInputError } from "./errors.js";

export interface DeepRequestHeader {
  model: string;
  /** First stage to run; the data is that stage's input. */
  fromStage: number;
  /** Shape of the data, batch first. */
  shape: number[];
  /** Overrides every stage's exit threshold (max-softmax), as the public `exit_threshold`. */
  exitThreshold?: number;
  /**
   * How long the call may wait for a slot on a full VM (the SLO's slack). It travels in the frame, so
   * the request signature (over the body's hash) covers it.
   */
  waitBudgetMs?: number;
}

export interface DeepRequest {
  header: DeepRequestHeader;
  data: Float32Array;
}

const MAX_HEADER_BYTES = 64 * 1024;

export function encodeFrame(header: DeepRequestHeader, data: Float32Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const dataOffset = align4(4 + json.byteLength);
  const out = new Uint8Array(dataOffset + data.byteLength);
  new DataView(out.buffer).setUint32(0, json.byteLength, true);
  out.set(json, 4);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), dataOffset);
  return out;
}

export function decodeFrame(bytes: Uint8Array): DeepRequest {
  if (bytes.byteLength < 4) throw new InvalidInputError("frame: shorter than its 4-byte header length");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = view.getUint32(0, true);
  if (headerLen > MAX_HEADER_BYTES || 4 + headerLen > bytes.byteLength)
    throw new InvalidInputError(`frame: header length ${headerLen} is out of range`);
  let header: DeepRequestHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + headerLen)));
  } catch {
    throw new InvalidInputError("frame: header is not valid JSON");
  }
  if (typeof header !== "object" || header === null) throw new InvalidInputError("frame: header must be an object");
  if (typeof header.model !== "string") throw new InvalidInputError("frame: header.model must be a string");
  if (!Number.isInteger(header.fromStage) || header.fromStage < 0)
    throw new InvalidInputError("frame: header.fromStage must be an integer >= 0");
  if (
    !Array.isArray(header.shape) ||
    header.shape.length < 2 ||
    !header.shape.every((d) => Number.isInteger(d) && d > 0)
  ) {
    throw new InvalidInputError("frame: header.shape must be positive integers, batch first");
  }
  if (
    header.exitThreshold !== undefined &&
    !(typeof header.exitThreshold === "number" && header.exitThreshold >= 0 && header.exitThreshold <= 1)
  ) {
    throw new InvalidInputError("frame: header.exitThreshold must be a number in [0, 1]");
  }
  if (
    header.waitBudgetMs !== undefined &&
    !(typeof header.waitBudgetMs === "number" && header.waitBudgetMs >= 0 && header.waitBudgetMs <= 60_000)
  ) {
    throw new InvalidInputError("frame: header.waitBudgetMs must be a number of ms in [0, 60000]");
  }
  const dataOffset = align4(4 + headerLen);
  const elements = header.shape.reduce((a, b) => a * b, 1);
  if (bytes.byteLength - dataOffset !== elements * 4) {
    throw new InvalidInputError(
      `frame: shape ${JSON.stringify(header.shape)} needs ${elements * 4} data bytes, got ${bytes.byteLength - dataOffset}`,
    );
  }
  // A view when the data is 4-aligned in memory (a frame read into a buffer of its own), else a copy.
  const start = bytes.byteOffset + dataOffset;
  if (start % 4 === 0) return { header, data: new Float32Array(bytes.buffer, start, elements) };
  const data = new Float32Array(elements);
  new Uint8Array(data.buffer).set(bytes.subarray(dataOffset));
  return { header, data };
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/** The wait budget of a frame (undefined when it carries none), read before the frame is run. */
export function frameWaitBudgetMs(bytes: Uint8Array): number | undefined {
  if (bytes.byteLength < 4) return undefined;
  const headerLen = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  if (headerLen > MAX_HEADER_BYTES || 4 + headerLen > bytes.byteLength) return undefined;
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + headerLen)))?.waitBudgetMs;
    return typeof v === "number" && v >= 0 && v <= 60_000 ? v : undefined;
  } catch {
    return undefined;
  }
}
