// npm run profile: measures the demo model (models/mnist) and writes sim/profiles/mnist.json.
// - Service time per stage at batch 1 on onnxruntime-node (what a VM runs, one intra-op thread per
//   request slot) and on onnxruntime-web's single-threaded WASM build in Node (what a Worker runs),
//   over held-out digits fed through the real chain, after a warm-up.
// - Exit fractions with the manifest's exit rules on the held-out digits.
import { readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import * as ortNode from "onnxruntime-node";
import * as ortWeb from "onnxruntime-web";
import { shouldExit } from "../core/exit.js";
import { parseManifest, rowSize } from "../core/manifest.js";
import { loadHeldout } from "../model/heldout.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MODEL_DIR = `${ROOT}models/mnist/`;
const OUT = `${ROOT}sim/profiles/mnist.json`;
const WARMUP = 100;
const TIMED = Number(process.env.PROFILE_ROWS ?? 1500);

type Session = { run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown }>> };
type TensorCtor = new (type: "float32", data: Float32Array, dims: readonly number[]) => unknown;

function quantile(sorted: number[], q: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

async function main(): Promise<void> {
  const manifest = parseManifest(
    JSON.parse(readFileSync(`${MODEL_DIR}manifest.json`, "utf8")),
    "models/mnist/manifest.json",
  );
  const { rows } = loadHeldout();
  const N = manifest.stages.length;
  const files = manifest.stages.map((s) => readFileSync(`${MODEL_DIR}${s.file}`));

  ortWeb.env.wasm.numThreads = 1;
  ortWeb.env.wasm.proxy = false;
  const nodeSessions = (await Promise.all(
    files.map((b) => ortNode.InferenceSession.create(b, { intraOpNumThreads: 1, interOpNumThreads: 1 })),
  )) as unknown as Session[];
  const webSessions = (await Promise.all(
    files.map((b) => ortWeb.InferenceSession.create(new Uint8Array(b))),
  )) as unknown as Session[];

  async function measure(sessions: Session[], Tensor: TensorCtor, label: string) {
    const times: number[][] = Array.from({ length: N }, () => []);
    const exitsAt = new Array<number>(N).fill(0);
    const total = Math.min(rows.length, WARMUP + TIMED);
    for (let r = 0; r < total; r++) {
      let input: Float32Array = rows[r % rows.length];
      let exited = false;
      // Time every stage for every row (the chain's hidden states are real), but count exits as routed.
      for (let i = 0; i < N; i++) {
        const s = manifest.stages[i];
        const dims =
          i === 0 ? [1, ...manifest.input.shape.slice(1)] : [1, ...manifest.stages[i - 1].hidden_shape!.slice(1)];
        const t0 = performance.now();
        const out = await sessions[i].run({ [s.input]: new Tensor("float32", input, dims) });
        const ms = performance.now() - t0;
        if (r >= WARMUP) times[i].push(ms);
        const probs = out[s.probs_output].data as Float32Array;
        if (!exited && r >= WARMUP && (i === N - 1 || shouldExit(probs, 0, manifest.classes, s.exit))) {
          exitsAt[i]++;
          exited = true;
        }
        if (s.hidden_output) input = out[s.hidden_output].data as Float32Array;
      }
      if (process.stderr.isTTY && r % 100 === 0) process.stderr.write(`\r${label}: ${r}/${total}`);
    }
    if (process.stderr.isTTY) process.stderr.write("\r" + " ".repeat(40) + "\r");
    return {
      ms: times.map((t) => {
        const s = [...t].sort((a, b) => a - b);
        return {
          median: round(quantile(s, 0.5)),
          p99: round(Math.max(quantile(s, 0.99), quantile(s, 0.5))),
          n: s.length,
        };
      }),
      exitsAt,
    };
  }

  const vm = await measure(nodeSessions, ortNode.Tensor as unknown as TensorCtor, "onnxruntime-node");
  const faas = await measure(webSessions, ortWeb.Tensor as unknown as TensorCtor, "onnxruntime-web (wasm)");
  const counted = vm.exitsAt.reduce((a, b) => a + b, 0);
  let reached = counted;
  const exitFraction = vm.exitsAt.map((e, i) => {
    const f = i === N - 1 ? 1 : reached > 0 ? e / reached : 0;
    reached -= e;
    return round(f, 4);
  });
  const profile = {
    name: "mnist",
    provisional: false,
    sources: [
      `Measured by sim/profile-mnist.ts (npm run profile) on ${new Date().toISOString().slice(0, 10)}: ${cpus()[0]?.model ?? "unknown CPU"} (${cpus().length} cores), Node ${process.version}.`,
      `vm_ms: onnxruntime-node ${ortVersion("onnxruntime-node")}, 1 intra-op thread, batch 1; faas_ms: onnxruntime-web ${ortVersion("onnxruntime-web")} single-threaded WASM (SIMD) in Node, standing in for a Worker; ${TIMED} timed held-out digits after ${WARMUP} warm-up rows, every stage timed on every row.`,
      `exit_fraction: share of the digits reaching a stage that exit there with the manifest's rules (thresholds ${manifest.stages.map((s) => s.exit.threshold).join(", ")}), ${counted} held-out digits (models/mnist/heldout.json).`,
      "Workers bill CPU time: the WASM wall time here is an upper bound of it on an idle machine.",
    ],
    stages: manifest.stages.map((s, i) => ({
      exit_fraction: exitFraction[i],
      vm_ms: { median: vm.ms[i].median, p99: vm.ms[i].p99 },
      faas_ms: { median: faas.ms[i].median, p99: faas.ms[i].p99 },
      memory_mb: 128,
      state_bytes: s.hidden_shape ? rowSize(s.hidden_shape) * 4 : 0,
    })),
  };
  writeFileSync(OUT, JSON.stringify(profile, null, 2) + "\n");
  console.log(`wrote ${OUT}`);
  for (let i = 0; i < N; i++) {
    console.log(
      `stage ${i}: exit ${exitFraction[i]}  vm p50/p99 ${vm.ms[i].median}/${vm.ms[i].p99} ms  faas p50/p99 ${faas.ms[i].median}/${faas.ms[i].p99} ms`,
    );
  }
}

function round(x: number, d = 4): number {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

function ortVersion(pkg: string): string {
  try {
    return JSON.parse(readFileSync(`${ROOT}node_modules/${pkg}/package.json`, "utf8")).version;
  } catch {
    return "?";
  }
}

main().catch((err) => {
  console.error(`profile failed: ${(err as Error).stack ?? err}`);
  process.exit(1);
});
