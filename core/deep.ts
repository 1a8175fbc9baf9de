// The deep-stage call: a binary frame in (hidden state of the rows that did not exit), results out.
// Served by vm-service (onnxruntime-node) and by the Worker's DeepStages entrypoint (onnxruntime-web).
import { runStages, stageInputShape, type RowResult, type StageRunner, type StageTiming } from "./engine.js";
import { InvalidInputError } from "./errors.js";
import { decodeFrame } from "./frame.js";
import type { ModelManifest } from "./manifest.js";

export interface DeepRow extends RowResult {
  /** Index of the row within the frame. */
  row: number;
}

export interface DeepResult {
  results: DeepRow[];
  timings: StageTiming[];
}

export const DEEP_PATH = "/internal/v1/deep";

/** Decodes, checks the frame against the model, runs every remaining stage. */
export async function runDeep(
  models: (name: string) => { manifest: ModelManifest; runner: () => Promise<StageRunner> } | undefined,
  bytes: Uint8Array,
): Promise<DeepResult> {
  const { header, data } = decodeFrame(bytes);
  const model = models(header.model);
  if (!model) throw new InvalidInputError(`frame: unknown model "${header.model}"`);
  const m = model.manifest;
  if (header.fromStage < 1 || header.fromStage >= m.stages.length) {
    throw new InvalidInputError(`frame: fromStage ${header.fromStage} must be in [1, ${m.stages.length - 1}]`);
  }
  // decodeFrame has checked the data against header.shape; this checks header.shape against the stage.
  const rows = header.shape[0];
  const want = stageInputShape(m, header.fromStage, rows);
  if (header.shape.length !== want.length || header.shape.some((d, i) => d !== want[i])) {
    throw new InvalidInputError(`frame: shape ${JSON.stringify(header.shape)} does not match stage ${header.fromStage} input ${JSON.stringify(want)}`);
  }
  const out = await runStages(await model.runner(), m, { stage: header.fromStage, rows: Array.from({ length: rows }, (_, i) => i), data }, m.stages.length, header.exitThreshold);
  return { results: [...out.results].map(([row, r]) => ({ row, ...r })), timings: out.timings };
}
