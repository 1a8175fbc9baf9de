// The bundled spam model under another name, with its last stage served from R2 (at NAME/stage3.onnx)
// instead of the bundle: what the R2 tests load, missing or present.
import { getModel } from "../../models/registry.js";

const spam = getModel("spam")!;

export function spamWithStage3InR2(name: string) {
  const manifest = {
    ...spam.manifest,
    name,
    stages: spam.manifest.stages.map((s, i) => (i === 3 ? { ...s, location: "r2" as const } : s)),
  };
  const files = { ...spam.files };
  delete files["stage3.onnx"];
  return { manifest, files };
}
