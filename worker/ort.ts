// onnxruntime-web inside workerd. Workers may not compile WASM from bytes at run time, so ORT's WASM is
// imported as a precompiled module and substituted when ORT instantiates it (ORT itself only accepts
// `wasmBinary` bytes). Single thread, no proxy worker: an isolate has neither threads nor workers.
import * as ort from "onnxruntime-web/wasm";
// wrangler resolves module-rule imports by path, not through package exports.
import ortWasm from "../node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm";
import { checkOnnxBytes, type ModelManifest } from "../core/manifest.js";
import { ortRunner, type SessionLike } from "../core/ort-runner.js";
import type { StageRunner } from "../core/engine.js";

ort.env.wasm.numThreads = 1;
ort.env.wasm.proxy = false;
ort.env.wasm.wasmBinary = new Uint8Array(8); // placeholder: ORT's instantiate call gets `ortWasm` instead
ort.env.logLevel = "error";

let ortMemory: WebAssembly.Memory | null = null;

/** Size of ORT's WASM heap in this isolate (null before the first session): it only ever grows. */
export function ortWasmMemoryBytes(): number | null {
  return ortMemory?.buffer.byteLength ?? null;
}

/** Runs `fn` (which makes ORT instantiate its WASM) with WebAssembly.instantiate bound to the bundled module. */
async function withBundledWasm<T>(fn: () => Promise<T>): Promise<T> {
  const original = WebAssembly.instantiate;
  const wasm = WebAssembly as { instantiate: unknown };
  wasm.instantiate = async (_bytes: unknown, imports: WebAssembly.Imports) => {
    const instance = await original(ortWasm, imports);
    const all = [...Object.values(instance.exports), ...Object.values(imports).flatMap((m) => Object.values(m))];
    ortMemory = (all.find((v) => v instanceof WebAssembly.Memory) as WebAssembly.Memory | undefined) ?? null;
    return { instance, module: ortWasm };
  };
  try {
    return await fn();
  } finally {
    wasm.instantiate = original;
  }
}

const runners = new Map<string, Promise<StageRunner>>();

/** One ORT session per stage, created once per isolate (about 130 ms the first time; cached after). */
export function runnerFor(m: ModelManifest, files: Record<string, ArrayBuffer>): Promise<StageRunner> {
  let r = runners.get(m.name);
  if (!r) {
    r = withBundledWasm(async () => {
      const sessions: SessionLike[] = [];
      for (const s of m.stages) {
        const bytes = new Uint8Array(files[s.file]);
        checkOnnxBytes(bytes, s.file);
        sessions.push(
          await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all" }),
        );
      }
      return ortRunner(ort.Tensor, sessions, m);
    });
    r.catch(() => runners.delete(m.name)); // a failed load is retried by the next request
    runners.set(m.name, r);
  }
  return r;
}
