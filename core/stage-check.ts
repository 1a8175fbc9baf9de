// Checks a loaded stage's ONNX signature against the manifest: the input is the one named (and, after
// stage 0, the previous stage's hidden output), the named outputs exist, and every fixed dimension the
// graph declares matches the manifest's shapes. Runtime-free: the Worker (onnxruntime-web), vm-service
// and `model:check` (onnxruntime-node) all call it on their own sessions, so they fail with one message.
import { InvalidManifestError } from "./errors.js";
import type { ModelManifest } from "./manifest.js";

export interface TensorMeta {
  name: string;
  /** Symbolic dimensions are strings (e.g. "N"); absent when the runtime does not say. */
  shape?: ReadonlyArray<number | string>;
}
export interface SessionSignature {
  inputNames: readonly string[];
  outputNames: readonly string[];
  inputMetadata?: ReadonlyArray<TensorMeta | { name: string; isTensor: boolean; shape?: unknown }>;
  outputMetadata?: ReadonlyArray<TensorMeta | { name: string; isTensor: boolean; shape?: unknown }>;
}

/** The shape stage `i` takes: the model input for stage 0, the previous hidden state after. */
export function stageInputDims(m: ModelManifest, i: number): number[] {
  return i === 0 ? m.input.shape : (m.stages[i - 1].hidden_shape as number[]);
}

/** `where` names the file in the message, e.g. `models/spam/stage1.onnx`. */
export function checkStageSignature(m: ModelManifest, i: number, sig: SessionSignature, where: string): void {
  const s = m.stages[i];
  const at = `stages[${i}]`;
  const fail = (msg: string): never => {
    throw new InvalidManifestError(`model "${m.name}": ${where}: ${msg}`);
  };
  const list = (names: readonly string[]) => names.map((n) => `"${n}"`).join(", ");
  if (!sig.inputNames.includes(s.input)) {
    const fix =
      sig.inputNames.length === 1
        ? i === 0
          ? `; rename the graph's input to "${s.input}" or set input.name and ${at}.input to "${sig.inputNames[0]}"`
          : `; rename the graph's input to "${s.input}" (the hidden output of stage ${i - 1})`
        : "";
    fail(
      `input "${s.input}" (manifest ${at}.input) is not an input of the graph, whose inputs are ${list(sig.inputNames)}${fix}`,
    );
  }
  if (sig.inputNames.length !== 1)
    fail(
      `the graph has ${sig.inputNames.length} inputs (${list(sig.inputNames)}); a stage takes exactly one, "${s.input}"`,
    );
  for (const [field, name] of [
    ["probs_output", s.probs_output],
    ["hidden_output", s.hidden_output],
  ] as const) {
    if (name !== null && !sig.outputNames.includes(name))
      fail(
        `output "${name}" (manifest ${at}.${field}) is not an output of the graph, whose outputs are ${list(sig.outputNames)}`,
      );
  }
  const expect: Array<[string, number[], string, SessionSignature["inputMetadata"]]> = [
    [s.input, stageInputDims(m, i), i === 0 ? "input.shape" : `stages[${i - 1}].hidden_shape`, sig.inputMetadata],
    [s.probs_output, [-1, m.classes], "classes", sig.outputMetadata],
  ];
  if (s.hidden_output)
    expect.push([s.hidden_output, s.hidden_shape as number[], `${at}.hidden_shape`, sig.outputMetadata]);
  for (const [name, dims, field, metas] of expect) {
    const shape = metas?.find((t) => t.name === name)?.shape as TensorMeta["shape"];
    if (!Array.isArray(shape)) continue; // the runtime does not declare it: the sample run checks it
    if (!shapeFits(shape, dims))
      fail(
        `tensor "${name}" has shape [${shape.join(", ")}] in the graph, but the manifest's ${field} says [${dims.join(", ")}]`,
      );
  }
}

/** Checks the dims a run produced for `rows` rows. */
export function checkRunDims(
  m: ModelManifest,
  i: number,
  out: Record<string, { dims: readonly number[] }>,
  rows: number,
  where: string,
): void {
  const s = m.stages[i];
  const check = (name: string, dims: number[], field: string) => {
    const got = out[name]?.dims;
    const want = [rows, ...dims.slice(1)];
    if (!got || got.length !== want.length || got.some((d, k) => d !== want[k]))
      throw new InvalidManifestError(
        `model "${m.name}": ${where}: on ${rows} rows, "${name}" ${got ? `came out as [${got.join(", ")}]` : "did not come out"}, but the manifest's ${field} means [${want.join(", ")}]`,
      );
  };
  check(s.probs_output, [-1, m.classes], "classes");
  if (s.hidden_output) check(s.hidden_output, s.hidden_shape as number[], `stages[${i}].hidden_shape`);
}

function shapeFits(graph: ReadonlyArray<number | string>, manifest: number[]): boolean {
  if (graph.length !== manifest.length) return false;
  return graph.every((d, k) => typeof d !== "number" || d < 0 || manifest[k] < 0 || d === manifest[k]);
}
