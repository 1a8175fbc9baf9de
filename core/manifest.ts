// Model manifest: the validated description of an early-exit model shipped as one ONNX file per stage.
// Runtime-free: no node:* or cloudflare:* imports.
import { InvalidManifestError } from "./errors.js";

export type ExitRule = "max_softmax" | "entropy";
export type Placement = "worker" | "vm" | "auto";
/** Where a stage file lives: inside the Worker bundle (a Data module) or in the R2 bucket `MODELS` at
 * `NAME/FILE`, fetched once per isolate (for stages too big for the bundle). */
export type StageLocation = "bundle" | "r2";

export interface StageManifest {
  /** ONNX file name, relative to the manifest. */
  file: string;
  /** Name of the ONNX input: the model input for stage 0, the previous stage's hidden state after. */
  input: string;
  /** Name of the hidden-state output passed to the next stage; null for the last stage. */
  hidden_output: string | null;
  /** Shape of the hidden state, batch dimension first as -1. Null for the last stage. */
  hidden_shape: number[] | null;
  /** Name of the head output: softmax probabilities [N, classes]. */
  probs_output: string;
  exit: { rule: ExitRule; threshold: number };
  placement: Placement;
  location?: StageLocation;
  /**
   * Worker CPU ms per VM ms for this stage (onnxruntime-web WASM in workerd vs onnxruntime-node), as
   * profiling measured it. The controller prices Worker CPU from VM times with it: in production workerd
   * timers stand still during compute, so a Worker cannot time its own stages.
   */
  worker_cpu_ratio?: number;
  /** Worker CPU p99 over VM p99 (the tails differ: a VM's noise is not the Worker's). */
  worker_cpu_p99_ratio?: number;
  /**
   * The stage's service time on a VM (onnxruntime-node, batch 1) as profiling measured it, in ms. The
   * controller plans with it until a VM has served the stage and the stats DO has real times.
   */
  vm_ms?: { median: number; p99: number };
}

export interface ModelManifest {
  name: string;
  version: string;
  /** The request tensor: [-1, features...] FP32. */
  input: { name: string; datatype: "FP32"; shape: number[] };
  classes: number;
  stages: StageManifest[];
}

const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;

/** Validates an untrusted manifest; `source` names the file in every message. */
export function parseManifest(raw: unknown, source = "manifest.json"): ModelManifest {
  const fail = (msg: string): never => {
    throw new InvalidManifestError(`${source}: ${msg}`);
  };
  if (!isObject(raw)) fail("must be a JSON object");
  const m = raw as Record<string, unknown>;
  if (typeof m.name !== "string" || !NAME_RE.test(m.name)) fail(`"name" must match ${NAME_RE}`);
  if (typeof m.version !== "string") fail(`"version" must be a string`);
  const input = m.input as Record<string, unknown>;
  if (!isObject(input) || typeof input.name !== "string") fail(`"input.name" must be a string`);
  if (input.datatype !== "FP32") fail(`"input.datatype" must be "FP32"`);
  const inShape = checkShape(input.shape, `"input.shape"`, fail);
  if (!Number.isInteger(m.classes) || (m.classes as number) < 2) fail(`"classes" must be an integer >= 2`);
  if (!Array.isArray(m.stages) || m.stages.length === 0) fail(`"stages" must be a non-empty array`);
  const stages = (m.stages as unknown[]).map((s, i) => parseStage(s, i, (m.stages as unknown[]).length, fail));
  if (stages[0].input !== input.name)
    fail(`stages[0].input "${stages[0].input}" must equal input.name "${input.name}"`);
  for (let i = 1; i < stages.length; i++) {
    if (stages[i].input !== stages[i - 1].hidden_output) {
      fail(
        `stages[${i}].input "${stages[i].input}" must equal stages[${i - 1}].hidden_output "${stages[i - 1].hidden_output}"`,
      );
    }
  }
  return {
    name: m.name as string,
    version: m.version as string,
    input: { name: input.name as string, datatype: "FP32", shape: inShape },
    classes: m.classes as number,
    stages,
  };
}

function parseStage(raw: unknown, i: number, n: number, fail: (m: string) => never): StageManifest {
  const at = `stages[${i}]`;
  if (!isObject(raw)) fail(`${at} must be an object`);
  const s = raw as Record<string, unknown>;
  if (typeof s.file !== "string" || !s.file.endsWith(".onnx") || s.file.includes(".."))
    fail(`${at}.file must be a relative .onnx path`);
  if (typeof s.input !== "string") fail(`${at}.input must be a string`);
  if (typeof s.probs_output !== "string") fail(`${at}.probs_output must be a string`);
  const last = i === n - 1;
  let hidden_output: string | null = null;
  let hidden_shape: number[] | null = null;
  if (!last) {
    if (typeof s.hidden_output !== "string")
      fail(`${at}.hidden_output must be a string (only the last stage has none)`);
    hidden_output = s.hidden_output as string;
    hidden_shape = checkShape(s.hidden_shape, `${at}.hidden_shape`, fail);
  }
  const exit = s.exit as Record<string, unknown>;
  if (!isObject(exit)) fail(`${at}.exit must be an object`);
  if (exit.rule !== "max_softmax" && exit.rule !== "entropy")
    fail(`${at}.exit.rule must be "max_softmax" or "entropy"`);
  const t = exit.threshold;
  if (typeof t !== "number" || !Number.isFinite(t) || t < 0 || (exit.rule === "max_softmax" && t > 1)) {
    fail(`${at}.exit.threshold must be a finite number >= 0 (and <= 1 for max_softmax)`);
  }
  const placement = s.placement ?? "auto";
  if (placement !== "worker" && placement !== "vm" && placement !== "auto")
    fail(`${at}.placement must be "worker", "vm" or "auto"`);
  const location = s.location ?? "bundle";
  if (location !== "bundle" && location !== "r2") fail(`${at}.location must be "bundle" or "r2"`);
  const ratio = s.worker_cpu_ratio;
  if (ratio !== undefined && !positive(ratio))
    fail(`${at}.worker_cpu_ratio must be a number > 0 (Worker CPU ms per VM ms, measured)`);
  const p99Ratio = s.worker_cpu_p99_ratio;
  if (p99Ratio !== undefined && !positive(p99Ratio))
    fail(`${at}.worker_cpu_p99_ratio must be a number > 0 (Worker CPU p99 over VM p99, measured)`);
  const vmMs = s.vm_ms as Record<string, unknown> | undefined;
  if (vmMs !== undefined && !(isObject(vmMs) && positive(vmMs.median) && positive(vmMs.p99) && vmMs.p99 >= vmMs.median))
    fail(`${at}.vm_ms must be { "median": ms > 0, "p99": ms >= median } (the stage's measured VM time)`);
  return {
    file: s.file as string,
    input: s.input as string,
    hidden_output,
    hidden_shape,
    probs_output: s.probs_output as string,
    exit: { rule: exit.rule as ExitRule, threshold: t as number },
    placement: placement as Placement,
    location: location as StageLocation,
    ...(ratio !== undefined ? { worker_cpu_ratio: ratio as number } : {}),
    ...(p99Ratio !== undefined ? { worker_cpu_p99_ratio: p99Ratio as number } : {}),
    ...(vmMs !== undefined ? { vm_ms: { median: vmMs.median as number, p99: vmMs.p99 as number } } : {}),
  };
}

function checkShape(v: unknown, what: string, fail: (m: string) => never): number[] {
  if (!Array.isArray(v) || v.length < 2 || v[0] !== -1 || !v.slice(1).every((d) => Number.isInteger(d) && d > 0)) {
    fail(`${what} must be [-1, d1, ...] with positive integer dimensions`);
  }
  return v as number[];
}

function positive(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v) && v > 0;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Number of elements per row of a [-1, ...] shape. */
export function rowSize(shape: number[]): number {
  return shape.slice(1).reduce((a, b) => a * b, 1);
}

/** ONNX files start with a protobuf field tag; this catches an HTML page or empty file early. */
export function checkOnnxBytes(bytes: Uint8Array, file: string): void {
  if (bytes.byteLength < 16)
    throw new InvalidManifestError(`${file}: ONNX file is empty or truncated (${bytes.byteLength} bytes)`);
  if (bytes[0] !== 0x08)
    throw new InvalidManifestError(
      `${file}: not an ONNX model (expected a protobuf ModelProto starting with ir_version)`,
    );
}
