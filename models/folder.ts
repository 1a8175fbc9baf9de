// Model folders on disk (Node): every `models/NAME/` with a manifest.json is a model. Read by the registry
// generator (scripts/gen-models.ts), vm-service, `model:check` and `npm start`, so all of them accept and
// refuse a folder with the same message.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { InvalidManifestError } from "../core/errors.js";
import { checkOnnxBytes, parseManifest, type ModelManifest } from "../core/manifest.js";
import { checkStageSignature } from "../core/stage-check.js";

export const MODELS_ROOT = fileURLToPath(new URL(".", import.meta.url));
const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** A path as the user sees it: relative to the repository when inside it. */
export const shown = (p: string) => (p.startsWith(ROOT) ? relative(ROOT, p) : p);

/** Every subdirectory of `root` that has a manifest.json, sorted by name. */
export function modelDirs(root = MODELS_ROOT): string[] {
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(root, d.name, "manifest.json")))
    .map((d) => join(root, d.name))
    .sort();
}

/** The manifest, checked, and each stage file's bytes (checked to exist and look like ONNX). */
export function readModelFolder(dir: string): { manifest: ModelManifest; files: Map<string, Buffer> } {
  const path = join(dir, "manifest.json");
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new InvalidManifestError(`${shown(path)}: ${(err as Error).message}`);
  }
  const folder = dir.replace(/\/+$/, "").split("/").pop() as string;
  let manifest: ModelManifest;
  try {
    manifest = parseManifest(raw, shown(path));
  } catch (err) {
    throw new InvalidManifestError(`model "${folder}": ${(err as Error).message}`);
  }
  const prefix = `model "${manifest.name}": ${shown(path)}`;
  if (manifest.name !== folder)
    throw new InvalidManifestError(
      `${prefix}: "name" is "${manifest.name}" but the folder is "${folder}"; set "name": "${folder}"`,
    );
  const files = new Map<string, Buffer>();
  manifest.stages.forEach((s, i) => {
    const file = join(dir, s.file);
    if (!existsSync(file))
      throw new InvalidManifestError(`${prefix}: stages[${i}].file "${s.file}" does not exist (${shown(file)})`);
    const bytes = readFileSync(file);
    checkOnnxBytes(bytes, `model "${manifest.name}": ${shown(file)}`);
    files.set(s.file, bytes);
  });
  return { manifest, files };
}

/** One onnxruntime-node session per stage, each checked against the manifest. */
export async function nodeSessions(
  dir: string,
  manifest: ModelManifest,
  files: Map<string, Buffer>,
): Promise<ort.InferenceSession[]> {
  const sessions: ort.InferenceSession[] = [];
  for (const [i, s] of manifest.stages.entries()) {
    const where = shown(join(dir, s.file));
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(files.get(s.file) as Buffer, {
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        graphOptimizationLevel: "all",
      });
    } catch (err) {
      throw new InvalidManifestError(
        `model "${manifest.name}": ${where}: onnxruntime could not load it: ${(err as Error).message}`,
      );
    }
    checkStageSignature(manifest, i, session, where);
    sessions.push(session);
  }
  return sessions;
}
