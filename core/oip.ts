// Open Inference Protocol (KServe v2) JSON codec for an early-exit model.
import { InvalidInputError } from "./errors.js";
import type { RowResult } from "./engine.js";
import { rowSize, type ModelManifest } from "./manifest.js";

export interface InferLimits {
  maxBatchRows: number;
}
export const DEFAULT_INFER_LIMITS: InferLimits = { maxBatchRows: 256 };

export type ForceTier = "worker" | "vm";

export interface InferRequest {
  id?: string;
  rows: number;
  data: Float32Array;
  exitThreshold?: number;
  force?: ForceTier;
}

/** The arrays and objects a JSON body may hold, how deep they may nest, and how many values. */
export interface JsonBudget {
  containers: number;
  depth: number;
  /** Commas outside strings: one per array element or object member past the first of each. */
  values: number;
}

/**
 * How many arrays and objects, and how deep, an infer request for model input `m` may hold before it
 * is parsed: the body, its inputs, the tensor, its shape and parameters, and data nested as the shape of
 * the largest batch (1 + N + N d1 + ... + N d1 ... d(k-1) arrays), with a little room. JSON.parse would
 * otherwise build whatever a body of the size limit describes: 8 MiB of "[{},{}, ..." is millions of
 * objects, far past a Worker's 128 MB, before the rows are counted.
 */
export function jsonBudget(m: ModelManifest, limits: InferLimits = DEFAULT_INFER_LIMITS): JsonBudget {
  let arrays = 1;
  let level = limits.maxBatchRows;
  for (const d of m.input.shape.slice(1, -1)) {
    arrays += level;
    level *= d;
  }
  arrays += level;
  // Values count too: 8 MiB of `"k1":0,` is one object of 900,000 members, a 400 that took 1.2-1.7 s in
  // local workerd (the largest valid batch, run to its last stage, 0.35-0.67 s) and 119 MB of V8 heap.
  const containers = arrays + 16;
  return {
    containers,
    depth: m.input.shape.length + 5,
    values: limits.maxBatchRows * rowSize(m.input.shape) + containers + 64,
  };
}

/**
 * Counts the arrays and objects of a JSON text (bytes, UTF-8), their nesting and its commas, outside
 * strings, and refuses it as soon as one passes its budget: a scan, nothing allocated.
 */
export function checkJsonBudget(bytes: Uint8Array, budget: JsonBudget): void {
  let containers = 0;
  let depth = 0;
  let commas = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (inString) {
      if (b === 0x5c)
        i++; // backslash: the next byte is escaped
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x5b || b === 0x7b) {
      if (++containers > budget.containers)
        throw new InvalidInputError(
          `request body holds more than ${budget.containers} arrays and objects; an infer request for this model needs fewer (data flat or nested as its shape)`,
        );
      if (++depth > budget.depth) throw new InvalidInputError(`request body nests deeper than ${budget.depth} levels`);
    } else if (b === 0x5d || b === 0x7d) depth--;
    else if (b === 0x2c && ++commas > budget.values)
      throw new InvalidInputError(
        `request body holds more than ${budget.values} values; an infer request for this model needs fewer`,
      );
  }
}

/** Characters of a string value an error message echoes. */
const SHOWN_CHARS = 64;
/** Elements of a short array of plain values an error message echoes. */
const SHOWN_ELEMENTS = 8;

/**
 * A client's value as an error message echoes it, bounded: it may be megabytes long, or nested deeper
 * than JSON.stringify can recurse (which would turn bad input into a 500).
 */
export function shown(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > SHOWN_CHARS ? `${v.slice(0, SHOWN_CHARS)}...` : v);
  if (Array.isArray(v)) {
    const plain = v.length <= SHOWN_ELEMENTS && v.every((x) => x === null || typeof x !== "object");
    return plain ? `[${v.map(shown).join(",")}]` : `an array of ${v.length}`;
  }
  if (typeof v === "object" && v !== null) return "an object";
  return String(v);
}

/** Parses and validates a v2 infer request body (already JSON-parsed) against the model's input. */
export function parseInferRequest(
  body: unknown,
  m: ModelManifest,
  limits: InferLimits = DEFAULT_INFER_LIMITS,
): InferRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new InvalidInputError("request body must be a JSON object");
  const b = body as Record<string, unknown>;
  if (b.id !== undefined && typeof b.id !== "string") throw new InvalidInputError(`"id" must be a string`);
  if (!Array.isArray(b.inputs) || b.inputs.length !== 1)
    throw new InvalidInputError(`"inputs" must be an array with exactly one tensor named "${m.input.name}"`);
  const t = b.inputs[0] as Record<string, unknown>;
  if (typeof t !== "object" || t === null) throw new InvalidInputError(`inputs[0] must be an object`);
  if (t.name !== m.input.name)
    throw new InvalidInputError(`inputs[0].name must be "${m.input.name}", got ${shown(t.name)}`);
  if (t.datatype !== "FP32") throw new InvalidInputError(`inputs[0].datatype must be "FP32", got ${shown(t.datatype)}`);
  const width = rowSize(m.input.shape);
  const shape = t.shape;
  if (
    !Array.isArray(shape) ||
    shape.length !== m.input.shape.length ||
    !shape.every((d) => Number.isInteger(d) && d >= 0)
  ) {
    throw new InvalidInputError(
      `inputs[0].shape must be [N, ${m.input.shape.slice(1).join(", ")}], got ${shown(shape)}`,
    );
  }
  if (shape.slice(1).some((d, i) => d !== m.input.shape[i + 1])) {
    throw new InvalidInputError(
      `inputs[0].shape must be [N, ${m.input.shape.slice(1).join(", ")}], got ${shown(shape)}`,
    );
  }
  const rows = shape[0] as number;
  if (rows < 1) throw new InvalidInputError("inputs[0].shape[0] (batch size) must be at least 1");
  if (rows > limits.maxBatchRows)
    throw new InvalidInputError(`batch of ${rows} rows exceeds the limit of ${limits.maxBatchRows}`);
  const data = flattenData(t.data, rows * width);
  const params = (b.parameters ?? {}) as Record<string, unknown>;
  if (typeof params !== "object" || Array.isArray(params))
    throw new InvalidInputError(`"parameters" must be an object`);
  let exitThreshold: number | undefined;
  if (params.exit_threshold !== undefined) {
    const v = params.exit_threshold;
    if (typeof v !== "number" || !(v >= 0 && v <= 1))
      throw new InvalidInputError(`parameters.exit_threshold must be a number in [0, 1], got ${shown(v)}`);
    exitThreshold = v;
  }
  let force: ForceTier | undefined;
  if (params.serflow_force !== undefined) {
    if (params.serflow_force !== "worker" && params.serflow_force !== "vm") {
      throw new InvalidInputError(
        `parameters.serflow_force must be "worker" or "vm", got ${shown(params.serflow_force)}`,
      );
    }
    force = params.serflow_force;
  }
  return { id: b.id as string | undefined, rows, data, exitThreshold, force };
}

/** Accepts flat or nested number arrays (the protocol allows both); rejects values not finite as float32. */
function flattenData(data: unknown, expected: number): Float32Array {
  if (!Array.isArray(data)) throw new InvalidInputError("inputs[0].data must be an array of numbers");
  const flat = (data as unknown[]).flat(8);
  if (flat.length !== expected)
    throw new InvalidInputError(`inputs[0].data has ${flat.length} values but shape needs ${expected}`);
  const out = new Float32Array(expected);
  for (let i = 0; i < expected; i++) {
    const v = flat[i];
    if (typeof v !== "number") throw new InvalidInputError(`inputs[0].data[${i}] is not a number: ${shown(v)}`);
    if (!Number.isFinite(v)) throw new InvalidInputError(`inputs[0].data[${i}] is not finite`);
    out[i] = v;
    // 1e39 is finite as a double but Infinity as a float32, which the model would turn into NaN.
    if (!Number.isFinite(out[i]))
      throw new InvalidInputError(`inputs[0].data[${i}] = ${v} is outside the FP32 range (|x| <= 3.4028235e38)`);
  }
  return out;
}

/** Where each stage ran for one row: "w0,w1,v2". */
export type Tier = "w" | "v";
export function routeString(tiers: Tier[]): string {
  return tiers.map((t, i) => `${t}${i}`).join(",");
}

export function buildInferResponse(
  m: ModelManifest,
  req: InferRequest,
  results: RowResult[],
  route: string,
): Record<string, unknown> {
  const n = results.length;
  const probs: number[] = [];
  for (const r of results) probs.push(...r.probs);
  return {
    model_name: m.name,
    model_version: m.version,
    ...(req.id !== undefined ? { id: req.id } : {}),
    parameters: { serflow_route: route, serflow_confidence: results.map((r) => r.confidence) },
    outputs: [
      { name: "probabilities", datatype: "FP32", shape: [n, m.classes], data: probs },
      { name: "label", datatype: "INT64", shape: [n], data: results.map((r) => r.label) },
      { name: "exit_stage", datatype: "INT32", shape: [n], data: results.map((r) => r.exitStage) },
    ],
  };
}

export function modelMetadata(m: ModelManifest): Record<string, unknown> {
  return {
    name: m.name,
    versions: [m.version],
    platform: "onnx_onnxv1",
    inputs: [{ name: m.input.name, datatype: "FP32", shape: m.input.shape }],
    outputs: [
      { name: "probabilities", datatype: "FP32", shape: [-1, m.classes] },
      { name: "label", datatype: "INT64", shape: [-1] },
      { name: "exit_stage", datatype: "INT32", shape: [-1] },
    ],
    parameters: {
      stages: m.stages.map((s, i) => ({
        stage: i,
        exit_rule: s.exit.rule,
        exit_threshold: s.exit.threshold,
        placement: s.placement,
      })),
    },
  };
}
