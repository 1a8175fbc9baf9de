// Models bundled into the Worker: manifest (validated at first use) plus stage files as Data modules.
import { parseManifest, type ModelManifest } from "../core/manifest.js";
import mnistManifest from "../models/mnist/manifest.json";
import mnist0 from "../models/mnist/stage0.onnx";
import mnist1 from "../models/mnist/stage1.onnx";
import mnist2 from "../models/mnist/stage2.onnx";

export interface BundledModel {
  manifest: ModelManifest;
  files: Record<string, ArrayBuffer>;
}

const RAW: Record<string, { manifest: unknown; files: Record<string, ArrayBuffer> }> = {
  mnist: { manifest: mnistManifest, files: { "stage0.onnx": mnist0, "stage1.onnx": mnist1, "stage2.onnx": mnist2 } },
};

const parsed = new Map<string, BundledModel>();

export function getModel(name: string): BundledModel | undefined {
  let m = parsed.get(name);
  if (!m && Object.hasOwn(RAW, name)) {
    const raw = RAW[name];
    m = { manifest: parseManifest(raw.manifest, `models/${name}/manifest.json`), files: raw.files };
    parsed.set(name, m);
  }
  return m;
}

export function modelNames(): string[] {
  return Object.keys(RAW);
}
