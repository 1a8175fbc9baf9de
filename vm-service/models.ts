// Loads every model under a models directory with onnxruntime-node. A bad manifest or ONNX file fails
// with the message `model:check` gives (models/folder.ts).
import { basename } from "node:path";
import * as ort from "onnxruntime-node";
import type { ModelManifest } from "../core/manifest.js";
import { ortRunner } from "../core/ort-runner.js";
import type { StageRunner } from "../core/engine.js";
import { modelDirs, nodeSessions, readModelFolder } from "../models/folder.js";

export { modelDirs };

export interface LoadedModel {
  manifest: ModelManifest;
  runner: StageRunner;
}

export function readManifest(dir: string): ModelManifest {
  return readModelFolder(dir).manifest;
}

export async function loadModel(dir: string): Promise<LoadedModel> {
  const { manifest, files } = readModelFolder(dir);
  return { manifest, runner: ortRunner(ort.Tensor, await nodeSessions(dir, manifest, files), manifest) };
}

/** Every model under `root`, or only those named in `only`. */
export async function loadModels(root: string, only?: string[]): Promise<Map<string, LoadedModel>> {
  const out = new Map<string, LoadedModel>();
  for (const dir of modelDirs(root)) {
    if (only && !only.includes(basename(dir))) continue;
    const m = await loadModel(dir);
    out.set(m.manifest.name, m);
  }
  return out;
}
