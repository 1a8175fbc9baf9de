// Loads every model under a models directory with onnxruntime-node. A bad manifest or ONNX file fails
// with a message that names the file.
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { checkOnnxBytes, parseManifest, type ModelManifest } from "../core/manifest.js";
import { InvalidManifestError } from "../core/errors.js";
import { ortRunner } from "../core/ort-runner.js";
import type { StageRunner } from "../core/engine.js";

export interface LoadedModel {
  manifest: ModelManifest;
  runner: StageRunner;
}

export function readManifest(dir: string): ModelManifest {
  const manifestPath = join(dir, "manifest.json");
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(manifestPath, "utf8"));
  } catch (err) {
    throw new InvalidManifestError(`${manifestPath}: ${(err as Error).message}`);
  }
  return parseManifest(raw, manifestPath);
}

export async function loadModel(dir: string): Promise<LoadedModel> {
  const manifest = readManifest(dir);
  const sessions = [];
  for (const s of manifest.stages) {
    const file = join(dir, s.file);
    if (!existsSync(file)) throw new InvalidManifestError(`${file}: stage file is missing`);
    const bytes = readFileSync(file);
    checkOnnxBytes(bytes, file);
    try {
      sessions.push(
        await ort.InferenceSession.create(bytes, {
          intraOpNumThreads: 1,
          interOpNumThreads: 1,
          graphOptimizationLevel: "all",
        }),
      );
    } catch (err) {
      throw new InvalidManifestError(`${file}: onnxruntime could not load it: ${(err as Error).message}`);
    }
  }
  return { manifest, runner: ortRunner(ort.Tensor, sessions, manifest) };
}

/** Every subdirectory of `root` that has a manifest.json. */
export function modelDirs(root: string): string[] {
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(root, d.name, "manifest.json")))
    .map((d) => join(root, d.name));
}

export async function loadModels(root: string): Promise<Map<string, LoadedModel>> {
  const out = new Map<string, LoadedModel>();
  for (const dir of modelDirs(root)) {
    const m = await loadModel(dir);
    out.set(m.manifest.name, m);
  }
  return out;
}
