// A StageRunner over any onnxruntime flavour (web in the Worker, node on a VM): their Tensor and
// InferenceSession APIs are the same, so only this structural slice of them is needed.
import type { StageRunner } from "./engine.js";
import { stageInputShape } from "./engine.js";
import type { ModelManifest } from "./manifest.js";

export interface TensorCtor {
  new (type: "float32", data: Float32Array, dims: readonly number[]): unknown;
}
export interface SessionLike {
  run(feeds: Record<string, any>): Promise<Record<string, { data: unknown }>>;
}

export function ortRunner(Tensor: TensorCtor, sessions: SessionLike[], m: ModelManifest): StageRunner {
  return {
    async run(stage, input, rows) {
      const s = m.stages[stage];
      const out = await sessions[stage].run({
        [s.input]: new Tensor("float32", input, stageInputShape(m, stage, rows)),
      });
      const probs = out[s.probs_output]?.data as Float32Array | undefined;
      if (!probs) throw new Error(`stage ${stage} produced no "${s.probs_output}" output`);
      const hidden = s.hidden_output ? (out[s.hidden_output]?.data as Float32Array) : undefined;
      if (s.hidden_output && !hidden) throw new Error(`stage ${stage} produced no "${s.hidden_output}" output`);
      return { probs, hidden };
    },
  };
}
