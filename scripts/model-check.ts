// `npm run model:check -- NAME [--all]`: checks a model folder the way every part of Serflow will use it.
// The manifest's fields; each stage file exists and loads in onnxruntime-node and in onnxruntime-web (the
// Worker's runtime, here in Node); each stage's input is the previous stage's hidden output with the same
// shape and its outputs are the ones named; the chain runs on sample rows in both runtimes and they
// agree; each stage file's size against the Worker's limits. Exits 0 with a summary, 1 with a message that
// names the model, the file and the field or tensor. `npm start` runs the same check on every folder.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { parseArgs } from "node:util";
import * as ortNode from "onnxruntime-node";
import * as ortWeb from "onnxruntime-web/wasm";
import { InvalidManifestError } from "../core/errors.js";
import { decodeLabelled } from "../core/labelled.js";
import { rowSize, type ModelManifest } from "../core/manifest.js";
import { checkRunDims, checkStageSignature } from "../core/stage-check.js";
import { mulberry32 } from "../model/prng.js";
import { MODELS_ROOT, modelDirs, nodeSessions, readModelFolder, shown } from "../models/folder.js";

/** Workers limits (paid plan): compressed bundle size, and memory per isolate. */
export const WORKER_LIMITS = {
  bundleBytesGzip: 10 * 1024 * 1024,
  isolateMemoryBytes: 128 * 1024 * 1024,
  /** The Worker without models, gzipped (README: about 3.7 MB, mostly onnxruntime-web's WASM). */
  baseBundleBytesGzip: 3.7 * 1024 * 1024,
  /** An isolate's memory before any session (ORT's WASM heap starts at 16 MiB; JS heap and code). */
  baseIsolateMemoryBytes: 40 * 1024 * 1024,
};
/** Largest difference of probabilities allowed between onnxruntime-web and onnxruntime-node. */
export const MAX_RUNTIME_DIFF = 1e-4;
const SAMPLE_ROWS = 4;

let webReady = false;
function initWeb(): void {
  if (webReady) return;
  ortWeb.env.wasm.numThreads = 1;
  ortWeb.env.wasm.proxy = false;
  ortWeb.env.logLevel = "error";
  ortWeb.env.wasm.wasmBinary = readFileSync(
    new URL("../node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm", import.meta.url),
  );
  webReady = true;
}

export interface StageReport {
  stage: number;
  file: string;
  bytes: number;
  gzipBytes: number;
  location: "bundle" | "r2";
  placement: string;
  /** Estimated isolate memory with this stage's session (its bytes twice: file and ORT's copy). */
  workerMemoryBytes: number;
  fitsWorker: boolean;
  inputShape: number[];
  hiddenShape: number[] | null;
}
export interface CheckReport {
  manifest: ModelManifest;
  dir: string;
  stages: StageReport[];
  sampleRows: number;
  sampleSource: string;
  maxDiff: number;
  labelsAgree: boolean;
}

/** Sample rows: a labelled file in the folder (heldout.json, validation.json) if any, else seeded noise. */
function sampleInput(dir: string, m: ModelManifest): { data: Float32Array; source: string } {
  const size = rowSize(m.input.shape);
  for (const f of ["heldout.json", "validation.json"]) {
    const path = join(dir, f);
    if (!existsSync(path)) continue;
    try {
      const l = decodeLabelled(JSON.parse(readFileSync(path, "utf8")), size, f);
      if (l.labels.length >= SAMPLE_ROWS) return { data: l.data.slice(0, SAMPLE_ROWS * size), source: shown(path) };
    } catch {}
  }
  return { data: noiseRows(SAMPLE_ROWS, size), source: "seeded uniform noise in [0, 1)" };
}

/** Seeded uniform noise in [0, 1): sample rows for a model without a labelled file. */
export function noiseRows(rows: number, size: number): Float32Array {
  const rand = mulberry32(12345);
  return Float32Array.from({ length: rows * size }, rand);
}

type Tensorish = { dims: readonly number[]; data: unknown };
type Run = (stage: number, feeds: Record<string, unknown>) => Promise<Record<string, Tensorish>>;

async function runChain(
  m: ModelManifest,
  dir: string,
  run: Run,
  Tensor: new (t: "float32", d: Float32Array, dims: number[]) => unknown,
  input: Float32Array,
  runtime: string,
): Promise<Float32Array[]> {
  const probs: Float32Array[] = [];
  let feed: unknown = new Tensor("float32", input, [SAMPLE_ROWS, ...m.input.shape.slice(1)]);
  for (const [i, s] of m.stages.entries()) {
    const where = `${shown(join(dir, s.file))} (${runtime})`;
    let out: Record<string, Tensorish>;
    try {
      out = await run(i, { [s.input]: feed });
    } catch (err) {
      throw new InvalidManifestError(
        `model "${m.name}": ${where}: running stage ${i} on ${SAMPLE_ROWS} sample rows failed: ${(err as Error).message}`,
      );
    }
    checkRunDims(m, i, out, SAMPLE_ROWS, where);
    probs.push(out[s.probs_output].data as Float32Array);
    if (s.hidden_output) feed = out[s.hidden_output];
  }
  return probs;
}

const argmaxRows = (p: Float32Array, classes: number) =>
  Array.from({ length: p.length / classes }, (_, r) => {
    let b = 0;
    for (let c = 1; c < classes; c++) if (p[r * classes + c] > p[r * classes + b]) b = c;
    return b;
  });

/** Every check on one folder; throws InvalidManifestError with the message the user sees. */
export async function checkModelDir(dir: string, opts: { web?: boolean } = {}): Promise<CheckReport> {
  const { manifest: m, files } = readModelFolder(dir);
  const node = await nodeSessions(dir, m, files);
  const { data, source } = sampleInput(dir, m);
  const nodeProbs = await runChain(m, dir, (i, f) => node[i].run(f as never), ortNode.Tensor, data, "onnxruntime-node");
  let maxDiff = 0;
  let labelsAgree = true;
  if (opts.web !== false) {
    initWeb();
    const web: ortWeb.InferenceSession[] = [];
    for (const [i, s] of m.stages.entries()) {
      const where = `${shown(join(dir, s.file))} (onnxruntime-web)`;
      try {
        web.push(await ortWeb.InferenceSession.create(files.get(s.file) as Buffer, { graphOptimizationLevel: "all" }));
      } catch (err) {
        throw new InvalidManifestError(
          `model "${m.name}": ${where}: onnxruntime-web (the Worker's runtime) could not load it: ${(err as Error).message}`,
        );
      }
      checkStageSignature(m, i, web[i], where);
    }
    const webProbs = await runChain(m, dir, (i, f) => web[i].run(f as never), ortWeb.Tensor, data, "onnxruntime-web");
    webProbs.forEach((p, i) => {
      p.forEach((v, k) => (maxDiff = Math.max(maxDiff, Math.abs(v - nodeProbs[i][k]))));
      const a = argmaxRows(p, m.classes);
      const b = argmaxRows(nodeProbs[i], m.classes);
      if (a.some((l, r) => l !== b[r])) labelsAgree = false;
    });
    if (!(maxDiff <= MAX_RUNTIME_DIFF))
      throw new InvalidManifestError(
        `model "${m.name}": ${shown(dir)}: onnxruntime-web and onnxruntime-node disagree on the sample rows by ${maxDiff.toExponential(2)} (at most ${MAX_RUNTIME_DIFF} allowed); an operator differs between the runtimes: check the opset (13 is known to work)`,
      );
    await Promise.all(web.map((s) => s.release()));
  }
  const stages = m.stages.map((s, i): StageReport => {
    const bytes = files.get(s.file)?.byteLength ?? 0;
    const workerMemoryBytes = WORKER_LIMITS.baseIsolateMemoryBytes + 2 * bytes;
    return {
      stage: i,
      file: s.file,
      bytes,
      gzipBytes: gzipSync(files.get(s.file) as Buffer).byteLength,
      location: s.location ?? "bundle",
      placement: s.placement,
      workerMemoryBytes,
      fitsWorker: workerMemoryBytes <= WORKER_LIMITS.isolateMemoryBytes,
      inputShape: i === 0 ? m.input.shape : (m.stages[i - 1].hidden_shape as number[]),
      hiddenShape: s.hidden_shape,
    };
  });
  for (const r of stages) {
    const s = m.stages[r.stage];
    if (!r.fitsWorker && s.placement !== "vm")
      throw new InvalidManifestError(
        `model "${m.name}": ${shown(join(dir, s.file))}: ${mb(r.bytes)} cannot run in a Worker isolate (about ${mb(r.workerMemoryBytes)} of ${mb(WORKER_LIMITS.isolateMemoryBytes)} with its session); set stages[${r.stage}].placement to "vm" to pin it to VMs`,
      );
    if (r.stage === 0 && s.placement === "vm")
      throw new InvalidManifestError(
        `model "${m.name}": ${shown(join(dir, "manifest.json"))}: stages[0].placement is "vm", but the first stage runs where the request enters, in the Worker`,
      );
  }
  const bundled = stages.filter((r) => r.location === "bundle").reduce((a, r) => a + r.gzipBytes, 0);
  if (WORKER_LIMITS.baseBundleBytesGzip + bundled > WORKER_LIMITS.bundleBytesGzip) {
    const big = [...stages].filter((r) => r.location === "bundle").sort((a, b) => b.gzipBytes - a.gzipBytes)[0];
    throw new InvalidManifestError(
      `model "${m.name}": ${shown(join(dir, "manifest.json"))}: its bundled stages take ${mb(bundled)} gzipped, over the ${mb(WORKER_LIMITS.bundleBytesGzip - WORKER_LIMITS.baseBundleBytesGzip)} the Worker bundle has left; set stages[${big.stage}].location to "r2" (served from the MODELS bucket)`,
    );
  }
  return { manifest: m, dir, stages, sampleRows: SAMPLE_ROWS, sampleSource: source, maxDiff, labelsAgree };
}

const mb = (b: number) => (b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(1)} MB` : `${(b / 1024).toFixed(0)} KB`);

export function formatReport(r: CheckReport): string {
  const m = r.manifest;
  const rows = r.stages.map((s) => [
    String(s.stage),
    s.file,
    mb(s.bytes),
    mb(s.gzipBytes),
    s.location,
    m.stages[s.stage].placement,
    `[${s.inputShape.join(",")}] -> ${s.hiddenShape ? `[${s.hiddenShape.join(",")}]` : "-"}`,
    `${m.stages[s.stage].exit.rule} ${m.stages[s.stage].exit.threshold}`,
    s.fitsWorker ? `yes (~${mb(s.workerMemoryBytes)} of 128 MB)` : "no: VMs only",
  ]);
  const head = ["stage", "file", "size", "gzip", "location", "placement", "input -> hidden", "exit", "Workers"];
  const widths = head.map((h, k) => Math.max(h.length, ...rows.map((row) => row[k].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, k) => c.padEnd(widths[k]))
      .join("  ")
      .trimEnd();
  const bundled = r.stages.filter((s) => s.location === "bundle").reduce((a, s) => a + s.gzipBytes, 0);
  return [
    `model "${m.name}" (${shown(r.dir)}): OK, ${m.stages.length} stages, ${m.classes} classes, input "${m.input.name}" [${m.input.shape.join(",")}]`,
    line(head),
    ...rows.map(line),
    r.maxDiff || r.labelsAgree
      ? `onnxruntime-web vs onnxruntime-node on ${r.sampleRows} rows (${r.sampleSource}): max |diff| of probabilities ${r.maxDiff.toExponential(1)}, labels ${r.labelsAgree ? "agree" : "DIFFER"}`
      : "",
    `bundle: ${mb(bundled)} of stage files gzipped; with the Worker (~${mb(WORKER_LIMITS.baseBundleBytesGzip)}) against the paid plan's ${mb(WORKER_LIMITS.bundleBytesGzip)} (free plan: 3 MB)`,
  ]
    .filter(Boolean)
    .join("\n");
}

/** Checks every folder (npm start): the first failure's message, or the reports. */
export async function checkAll(root = MODELS_ROOT, opts: { web?: boolean } = {}): Promise<CheckReport[]> {
  const out: CheckReport[] = [];
  for (const dir of modelDirs(root)) out.push(await checkModelDir(dir, opts));
  return out;
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { all: { type: "boolean", default: false }, models: { type: "string", default: MODELS_ROOT } },
  });
  const root = values.models as string;
  const dirs = values.all ? modelDirs(root) : positionals.map((n) => join(root, n));
  if (dirs.length === 0) {
    console.error("usage: npm run model:check -- NAME [NAME...] | --all");
    process.exit(2);
  }
  let failed = 0;
  for (const dir of dirs) {
    try {
      if (!existsSync(join(dir, "manifest.json")))
        throw new InvalidManifestError(`${shown(dir)}: no manifest.json (a model is a folder models/NAME/ with one)`);
      console.log(formatReport(await checkModelDir(dir)));
    } catch (err) {
      failed++;
      console.error(`model:check failed: ${(err as Error).message}`);
    }
  }
  process.exit(failed ? 1 : 0);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
