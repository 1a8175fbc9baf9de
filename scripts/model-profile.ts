// `npm run model:profile -- NAME --out FILE [--sample FILE] [--rows N]`: measures every stage of a model
// folder on both tiers and writes a simulator profile (INTERFACE.md "Simulator") for
// `npm run simulate -- --profile FILE`.
// - vm_ms: onnxruntime-node, one intra-op thread, batch 1, every stage timed on real hidden states.
// - faas_ms: the Worker's own bundle in workerd (Miniflare), one stage run `reps` times per call of the
//   admin endpoint /internal/v1/bench/stage, timed from outside against reps = 0 over the same path
//   (timers inside workerd stand still during compute). The median comes from calls of 50 runs, the
//   p99 from single runs.
// - worker_cpu_ratio per stage: faas median / vm median. The controller prices Worker CPU from VM times
//   with it (the manifest field of the same name); `--write-manifest` puts the measured ratios there,
//   and vm_ms, the controller's service time for a stage until a VM has served it.
// - state_bytes (hidden state per row), memory (ORT's WASM heap in the isolate, stage file sizes), and
//   exit_fraction from a labelled sample (default: the folder's heldout.json) with the manifest's rules.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import { shouldExit } from "../core/exit.js";
import { decodeLabelled } from "../core/labelled.js";
import { rowSize, type ModelManifest, type StageManifest } from "../core/manifest.js";
import { MODELS_ROOT, nodeSessions, readModelFolder, shown } from "../models/folder.js";
import { startWorker } from "./bundle.js";
import { noiseRows } from "./model-check.js";

const WARMUP = 50;
const WORKER_BATCH_REPS = 50;

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
};
const round = (x: number, d = 4) => Math.round(x * 10 ** d) / 10 ** d;
const progress = (msg: string) => process.stderr.isTTY && process.stderr.write(`\r${msg.padEnd(60)}`);

/** Stage inputs (batch 1) of `rows` sample rows through the chain, and where each row exits. */
async function chain(m: ModelManifest, sessions: ort.InferenceSession[], data: Float32Array, rows: number) {
  const inputs: Float32Array[][] = m.stages.map(() => []);
  const exitAt: number[] = [];
  const size = rowSize(m.input.shape);
  for (let r = 0; r < rows; r++) {
    let x: Float32Array = data.slice(r * size, (r + 1) * size);
    let exit = -1;
    for (const [i, s] of m.stages.entries()) {
      inputs[i].push(x);
      const dims = [1, ...(i === 0 ? m.input.shape : (m.stages[i - 1].hidden_shape as number[])).slice(1)];
      const out = await sessions[i].run({ [s.input]: new ort.Tensor("float32", x, dims) });
      if (
        exit < 0 &&
        (i === m.stages.length - 1 || shouldExit(out[s.probs_output].data as Float32Array, 0, m.classes, s.exit))
      )
        exit = i;
      if (s.hidden_output) x = out[s.hidden_output].data as Float32Array;
    }
    exitAt.push(exit);
  }
  return { inputs, exitAt };
}

/** Per-stage service times in onnxruntime-node, one stage at a time (never interleaved). */
async function nodeTimes(m: ModelManifest, sessions: ort.InferenceSession[], inputs: Float32Array[][], n: number) {
  const all: number[][] = [];
  for (const [i, s] of m.stages.entries()) {
    const dims = [1, ...(i === 0 ? m.input.shape : (m.stages[i - 1].hidden_shape as number[])).slice(1)];
    const ms: number[] = [];
    for (let k = 0; k < WARMUP + n; k++) {
      const t0 = performance.now();
      await sessions[i].run({ [s.input]: new ort.Tensor("float32", inputs[i][k % inputs[i].length], dims) });
      if (k >= WARMUP) ms.push(performance.now() - t0);
    }
    all.push(ms);
  }
  return all;
}

async function main() {
  const { values: a, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      out: { type: "string" },
      sample: { type: "string" },
      rows: { type: "string", default: "300" },
      models: { type: "string", default: MODELS_ROOT },
      "write-manifest": { type: "boolean", default: false },
    },
  });
  const name = positionals[0];
  if (!name || !a.out) {
    console.error(
      "usage: npm run model:profile -- NAME --out FILE [--sample LABELLED.json] [--rows N] [--write-manifest]",
    );
    process.exit(2);
  }
  const n = Number(a.rows);
  const dir = join(a.models as string, name);
  const { manifest: m, files } = readModelFolder(dir);
  const sessions = await nodeSessions(dir, m, files);
  const size = rowSize(m.input.shape);

  // Sample rows: the labelled file given, else the folder's heldout.json, else seeded noise (no exit shares).
  const samplePath = a.sample ?? (existsSync(join(dir, "heldout.json")) ? join(dir, "heldout.json") : undefined);
  let data: Float32Array;
  let sampleRows: number;
  if (samplePath) {
    const l = decodeLabelled(JSON.parse(readFileSync(samplePath, "utf8")), size, shown(samplePath));
    data = l.data;
    sampleRows = l.labels.length;
  } else {
    sampleRows = 100;
    data = noiseRows(sampleRows, size);
  }
  const { inputs, exitAt } = await chain(m, sessions, data, sampleRows);
  progress(`${name}: onnxruntime-node ...`);
  const vm = await nodeTimes(m, sessions, inputs, n);

  progress(`${name}: bundling the Worker for workerd ...`);
  const token = "profile-token";
  const { mf, url } = await startWorker({ bindings: { SERFLOW_ADMIN_TOKEN: token, SERFLOW_CONFIG: "{}" } });
  const faas: Array<{ median: number; p99: number }> = [];
  let heapBytes = 0;
  try {
    const call = async (stage: number, reps: number, row: Float32Array) => {
      const body = JSON.stringify({ model: name, stage, reps, data: Array.from(row) });
      const t0 = performance.now();
      const res = await fetch(`${url}/internal/v1/bench/stage`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body,
      });
      const j = (await res.json()) as { ort_wasm_memory_bytes?: number; error?: string };
      if (!res.ok) throw new Error(`workerd: ${j.error}`);
      heapBytes = Math.max(heapBytes, j.ort_wasm_memory_bytes ?? 0);
      return performance.now() - t0;
    };
    for (const [i] of m.stages.entries()) {
      progress(`${name}: workerd, stage ${i} ...`);
      const row = (k: number) => inputs[i][k % inputs[i].length];
      for (let k = 0; k < 20; k++) await call(i, 1, row(k)); // warm: sessions loaded, JIT settled
      const base: number[] = [];
      const single: number[] = [];
      const batched: number[] = [];
      for (let k = 0; k < n; k++) {
        base.push(await call(i, 0, row(k)));
        single.push(await call(i, 1, row(k)));
        if (k % 10 === 0) batched.push(await call(i, WORKER_BATCH_REPS, row(k)));
      }
      const b = quantile(base, 0.5);
      const median = Math.max(0.001, (quantile(batched, 0.5) - b) / WORKER_BATCH_REPS);
      faas.push({ median, p99: Math.max(median, quantile(single, 0.99) - b) });
    }
  } finally {
    await mf.dispose();
  }
  if (process.stderr.isTTY) process.stderr.write("\r".padEnd(62) + "\r");

  // e_i among the rows that reached stage i; the last stage takes every row that gets there.
  const labelled = Boolean(samplePath);
  const exitFraction = m.stages.map((_, i) => {
    const reached = exitAt.filter((e) => e >= i).length;
    return i === m.stages.length - 1 ? 1 : reached ? round(exitAt.filter((e) => e === i).length / reached) : 0;
  });
  const profile = {
    name,
    provisional: false,
    sources: [
      `Measured by scripts/model-profile.ts (npm run model:profile -- ${name}) on ${new Date().toISOString().slice(0, 10)}: ${cpus()[0]?.model ?? "unknown CPU"} (${cpus().length} cores), Node ${process.version}.`,
      `vm_ms: onnxruntime-node, 1 intra-op thread, batch 1, ${n} timed rows per stage after ${WARMUP} warm-up. faas_ms: the Worker bundle in workerd (Miniflare), timed from outside against an empty call: median from calls of ${WORKER_BATCH_REPS} runs, p99 from ${n} single runs.`,
      labelled
        ? `exit_fraction: share of the rows reaching a stage that exit there with the manifest's rules, ${sampleRows} labelled rows (${shown(samplePath as string)}).`
        : "exit_fraction: no labelled sample; seeded noise rows, not representative traffic.",
      `worker_ort_heap_mb: onnxruntime-web's WASM heap in the isolate after loading the model (${(heapBytes / 2 ** 20).toFixed(0)} MB).`,
    ],
    worker_ort_heap_mb: round(heapBytes / 2 ** 20, 1),
    stages: m.stages.map((s, i) => {
      const vmMs = { median: round(quantile(vm[i], 0.5)), p99: round(quantile(vm[i], 0.99)) };
      const faasMs = { median: round(faas[i].median), p99: round(faas[i].p99) };
      return {
        exit_fraction: exitFraction[i],
        vm_ms: vmMs,
        faas_ms: faasMs,
        // Workers bill CPU: the controller prices a stage's Worker CPU as this ratio times its VM time.
        worker_cpu_ratio: round(faasMs.median / vmMs.median, 2),
        worker_cpu_p99_ratio: round(faasMs.p99 / vmMs.p99, 2),
        memory_mb: 128,
        state_bytes: s.hidden_shape ? rowSize(s.hidden_shape) * 4 : 0,
        file_bytes: files.get(s.file)?.byteLength ?? 0,
      };
    }),
  };
  writeFileSync(a.out, `${JSON.stringify(profile, null, 2)}\n`);
  console.log(`model "${name}": profile written to ${a.out}`);
  if (a["write-manifest"]) {
    // Only the two ratios and the VM time change; every other byte of the manifest stays as written.
    const path = join(dir, "manifest.json");
    const raw = JSON.parse(readFileSync(path, "utf8"));
    raw.stages.forEach((st: Partial<StageManifest>, i: number) => {
      st.worker_cpu_ratio = profile.stages[i].worker_cpu_ratio;
      st.worker_cpu_p99_ratio = profile.stages[i].worker_cpu_p99_ratio;
      st.vm_ms = profile.stages[i].vm_ms;
    });
    writeFileSync(path, `${JSON.stringify(raw, null, 2)}\n`);
    console.log(
      `wrote worker_cpu_ratio, worker_cpu_p99_ratio and vm_ms of every stage to ${shown(path)} (the controller prices Worker CPU with the ratios and plans with vm_ms until a VM has served)`,
    );
  }
  console.log("stage  exit_fraction  vm p50/p99 ms     workerd p50/p99 ms  worker/vm  state bytes");
  profile.stages.forEach((s, i) =>
    console.log(
      `${String(i).padEnd(5)}  ${String(s.exit_fraction).padEnd(13)}  ${`${s.vm_ms.median}/${s.vm_ms.p99}`.padEnd(16)}  ${`${s.faas_ms.median}/${s.faas_ms.p99}`.padEnd(18)}  ${String(s.worker_cpu_ratio).padEnd(9)}  ${s.state_bytes}`,
    ),
  );
}

main().catch((err) => {
  console.error(`model:profile failed: ${(err as Error).message}`);
  process.exit(1);
});
