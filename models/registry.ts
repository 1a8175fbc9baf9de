// The models bundled into the Worker (generated from every models/NAME/ folder by scripts/gen-models.ts):
// manifest validated at first use, stage files as Data modules. Imported by the Worker and the Durable
// Objects alike.
import { parseManifest, type ModelManifest } from "../core/manifest.js";
import { BUNDLED } from "./bundled.gen.js";

export interface BundledModel {
  manifest: ModelManifest;
  /** Stage files in the bundle; a stage with `location: "r2"` is absent and fetched from R2. */
  files: Record<string, ArrayBuffer>;
}

const parsed = new Map<string, BundledModel>();

export function getModel(name: string): BundledModel | undefined {
  let m = parsed.get(name);
  if (!m && Object.hasOwn(BUNDLED, name)) {
    const raw = BUNDLED[name];
    m = { manifest: parseManifest(raw.manifest, `models/${name}/manifest.json`), files: raw.files };
    parsed.set(name, m);
  }
  return m;
}

export function modelNames(): string[] {
  return Object.keys(BUNDLED);
}
