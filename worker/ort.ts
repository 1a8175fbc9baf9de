// onnxruntime-web inside workerd. Workers may not compile WASM from bytes at run time, so ORT's WASM is
// imported as a precompiled module and substituted when ORT instantiates it (ORT itself only accepts
// `wasmBinary` bytes). Single thread, no proxy worker: an isolate has neither threads nor workers.
import * as ort from "onnxruntime-web/wasm";
// wrangler resolves module-rule imports by path, not through package exports.
import ortWasm from "../node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm";
import { checkOnnxBytes } from "../core/manifest.js";
import { ModelLoadError, UnavailableError } from "../core/errors.js";
import { LOAD_RETRY_AFTER_S, LoadMemory } from "../core/load-memory.js";
import { checkStageSignature } from "../core/stage-check.js";
import type { BundledModel } from "../models/registry.js";
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

let wasmLock: Promise<unknown> = Promise.resolve();

/**
 * Runs `fn` (which makes ORT instantiate its WASM) with WebAssembly.instantiate bound to the bundled module.
 * One at a time: two models loading at once (the model index) would otherwise patch the patched function.
 */
function withBundledWasm<T>(fn: () => Promise<T>): Promise<T> {
  const run = wasmLock.then(() => patched(fn));
  wasmLock = run.catch(() => {});
  return run;
}

async function patched<T>(fn: () => Promise<T>): Promise<T> {
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

/** Sessions by model name, loaded once per isolate; a failed load is remembered for LOAD_RETRY_AFTER_S. */
const runners = new LoadMemory<StageRunner>(LOAD_RETRY_AFTER_S);

/** The session of a stage pinned to VMs: asking the Worker to run it is a 503 the client may retry. */
const vmOnly = (name: string, stage: number): SessionLike => ({
  run: () =>
    Promise.reject(
      new UnavailableError(
        `model "${name}": stage ${stage} runs on VMs only (placement "vm") and no VM could take it`,
        5,
      ),
    ),
});

/** A stage file: from the bundle, or from the R2 bucket at `NAME/FILE` when the manifest says "r2". */
async function stageBytes(model: BundledModel, file: string, bucket: R2Bucket | undefined): Promise<Uint8Array> {
  const inBundle = model.files[file];
  if (inBundle) return new Uint8Array(inBundle);
  const key = `${model.manifest.name}/${file}`;
  if (!bucket) throw new Error(`${file} lives in R2 but the Worker has no MODELS bucket binding`);
  const obj = await bucket.get(key);
  if (!obj)
    throw new Error(
      `${file} is not in the MODELS bucket at "${key}" (upload it: wrangler r2 object put serflow-models/${key} --file models/${key})`,
    );
  return new Uint8Array(await obj.arrayBuffer());
}

/**
 * One ORT session per stage, created once per isolate (about 130 ms the first time; cached after), each
 * checked against the manifest (tensor names and shapes). R2 stages are fetched once per isolate here.
 * A failed load is a ModelLoadError naming the stage, logged once, and answered from memory (no R2 read,
 * no compile, no new log line) for LOAD_RETRY_AFTER_S, with the seconds left as its Retry-After.
 */
export function runnerFor(model: BundledModel, bucket?: R2Bucket): Promise<StageRunner> {
  const m = model.manifest;
  const load = () =>
    withBundledWasm(async () => {
      const sessions: SessionLike[] = [];
      for (const [i, s] of m.stages.entries()) {
        if (s.placement === "vm") {
          // Pinned to VMs (e.g. too big for an isolate's 128 MB): never loaded here.
          sessions.push(vmOnly(m.name, i));
          continue;
        }
        try {
          const bytes = await stageBytes(model, s.file, bucket);
          checkOnnxBytes(bytes, s.file);
          const session = await ort.InferenceSession.create(bytes, {
            executionProviders: ["wasm"],
            graphOptimizationLevel: "all",
          });
          checkStageSignature(m, i, session, `models/${m.name}/${s.file}`);
          sessions.push(session);
        } catch (err) {
          throw loadError(m.name, i, err);
        }
      }
      return ortRunner(ort.Tensor, sessions, m);
    }).catch((err) => {
      throw loadError(m.name, null, err);
    });
  return runners.get(m.name, load, (err, leftS) => loadError(m.name, null, err).retryIn(leftS));
}

/** The failure as a ModelLoadError, logged once under its ref (callers without the token see only the ref). */
function loadError(model: string, stage: number | null, err: unknown): ModelLoadError {
  if (err instanceof ModelLoadError) return err;
  const e = new ModelLoadError(model, stage, err instanceof Error ? err.message : String(err), LOAD_RETRY_AFTER_S);
  console.error(`serflow: ${e.publicMessage}:`, err);
  return e;
}
