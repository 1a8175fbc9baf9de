// npm run profile:heavy: measures a model heavy enough for its deep stages to cost real CPU on Workers
// (bench/wide-model.ts: mnist's stage 0, then 128- and 256-channel stages with untrained He-normal
// weights: timing needs no training) and writes sim/profiles/wide-measured.json.
// - VM: onnxruntime-node, batch 1, one intra-op thread, every stage on every row of the real chain.
// - Worker: onnxruntime-web inside workerd (Miniflare), the Worker's own loader (worker/ort.ts). workerd's
//   clock stands still during compute, so each stage is timed from outside: the median from requests
//   that run the stage REPS times against requests that run it zero times (the request's own cost
//   cancels), the tail from single runs minus the median empty request.
// - Exit shares are not measured (the weights are untrained): see the profile's sources.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import * as ortNode from "onnxruntime-node";
import { parseManifest } from "../core/manifest.js";
import { loadHeldout } from "../model/heldout.js";
import { writeWideModel } from "./wide-model.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const OUT = `${ROOT}sim/profiles/wide-measured.json`;
const ROWS = Number(process.env.PROFILE_ROWS ?? 300);
const WARMUP = 20;
const REPS = 10;

const q = (s: number[], p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
const round = (x: number) => Number(x.toPrecision(4));
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: round(q(s, 0.5)), p99: round(Math.max(q(s, 0.99), q(s, 0.5))) };
};
const progress = (msg: string) => process.stderr.isTTY && process.stderr.write(`\r${msg.padEnd(60)}`);

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), "serflow-heavy-"));
  const dir = writeWideModel(tmp);
  const manifest = parseManifest(JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")));
  const N = manifest.stages.length;
  const bytes = manifest.stages.map((s) => readFileSync(join(dir, s.file)));
  const { rows } = loadHeldout();

  // Inputs of every stage along the real chain, and the VM's times.
  const sessions = await Promise.all(
    bytes.map((b) => ortNode.InferenceSession.create(b, { intraOpNumThreads: 1, interOpNumThreads: 1 })),
  );
  const inputs: Float32Array[][] = Array.from({ length: N }, () => []);
  const vmMs: number[][] = Array.from({ length: N }, () => []);
  for (let r = 0; r < WARMUP + ROWS; r++) {
    let x = rows[r % rows.length];
    for (let i = 0; i < N; i++) {
      const s = manifest.stages[i];
      const dims = [1, ...(i === 0 ? manifest.input.shape : manifest.stages[i - 1].hidden_shape!).slice(1)];
      const t0 = performance.now();
      const out = await sessions[i].run({ [s.input]: new ortNode.Tensor("float32", x, dims) });
      if (r >= WARMUP) {
        vmMs[i].push(performance.now() - t0);
        inputs[i].push(x);
      }
      if (s.hidden_output) x = out[s.hidden_output].data as Float32Array;
    }
    progress(`onnxruntime-node: row ${r + 1}/${WARMUP + ROWS}`);
  }

  // The timing Worker, bundled with the Worker's own ORT loader; ORT's WASM as a precompiled module.
  const bundle = await build({
    entryPoints: [`${ROOT}bench/stage-timer-worker.ts`],
    bundle: true,
    format: "esm",
    platform: "browser",
    conditions: ["workerd", "worker", "browser"],
    external: ["*.wasm"],
    write: false,
    logLevel: "silent",
  });
  const wasm = "node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm";
  const mf = new Miniflare({
    modules: [
      { type: "ESModule", path: `${ROOT}bench/index.js`, contents: bundle.outputFiles[0].text },
      { type: "CompiledWasm", path: `${ROOT}${wasm}`, contents: readFileSync(`${ROOT}${wasm}`) },
    ],
    modulesRoot: ROOT,
    compatibilityDate: "2026-04-01",
  });
  const call = async (path: string, body: string | Uint8Array<ArrayBuffer>) => {
    const res = await mf.dispatchFetch(`http://timer${path}`, { method: "POST", body });
    const text = await res.text();
    if (!res.ok) throw new Error(`${path}: ${res.status} ${text}`);
    return text;
  };
  const workerMs: number[][] = Array.from({ length: N }, () => []);
  const load = loadavg();
  try {
    await call("/manifest", JSON.stringify(manifest));
    for (let i = 0; i < N; i++)
      await call(`/file?name=${manifest.stages[i].file}`, new Uint8Array(bytes[i]) as Uint8Array<ArrayBuffer>);
    for (let i = 0; i < N; i++) {
      const body = (r: number) => new Uint8Array(inputs[i][r % inputs[i].length].slice().buffer as ArrayBuffer);
      for (let r = 0; r < WARMUP; r++) await call(`/run?stage=${i}&reps=1`, body(r));
      // Interleave empty, single and REPS-run requests so all see the same machine.
      const empty: number[] = [];
      const one: number[] = [];
      const many: number[] = [];
      const timed = async (reps: number, r: number) => {
        const t0 = performance.now();
        await call(`/run?stage=${i}&reps=${reps}`, body(r));
        return performance.now() - t0;
      };
      for (let r = 0; r < ROWS; r++) {
        empty.push(await timed(0, r));
        one.push(await timed(1, r));
        if (r % 5 === 0) many.push(await timed(REPS, r));
        progress(`workerd: stage ${i}, row ${r + 1}/${ROWS}`);
      }
      const med = (xs: number[]) =>
        q(
          [...xs].sort((a, b) => a - b),
          0.5,
        );
      const base = med(empty);
      const median = Math.max(0.001, (med(many) - base) / REPS);
      // Single runs carry the tail; shift them so their median is the REPS-based one.
      const shift = median - (med(one) - base);
      workerMs[i] = one.map((t) => Math.max(0.001, t - base + shift));
    }
  } finally {
    await mf.dispose();
    rmSync(tmp, { recursive: true, force: true });
  }
  if (process.stderr.isTTY) process.stderr.write("\n");

  // Exit shares: the sdn-resnet56-cifar10 profile's seven stages folded into three (stage 0 = IC 1;
  // stage 1 = ICs 2-4; stage 2 = the rest), so the model exits like that profile does.
  const exits = [0.35, 0.45 / 0.65, 1];
  const vm = vmMs.map(stats);
  const faas = workerMs.map(stats);
  const profile = {
    name: "wide-measured",
    provisional: false,
    sources: [
      `Measured by bench/profile-heavy.ts (npm run profile:heavy) on ${new Date().toISOString().slice(0, 10)}: ${cpus()[0]?.model ?? "CPU"} (${cpus().length} cores, shared), Node ${process.version}; ${ROWS} timed rows per stage after ${WARMUP} warm-up rows.`,
      "Model: bench/wide-model.ts (mnist's stage 0, then two stages of 128 and 256 channels, untrained He-normal weights: 76 M multiply-adds per row in the deep stages, half a CIFAR ResNet-56). Timing does not depend on training.",
      "vm_ms: onnxruntime-node 1.30.0, batch 1, one intra-op thread, on the real chain's hidden states.",
      `faas_ms: onnxruntime-web 1.30.0 (single-threaded WASM SIMD) inside workerd via Miniflare, the Worker's own loader (worker/ort.ts); timed from outside (workerd's clock stands still during compute): median = (median request running it ${REPS} times - median request running it zero times) / ${REPS}; the tail from single runs, shifted to that median. Load average during the run: ${load.map((x) => x.toFixed(1)).join(", ")} on ${cpus().length} cores (shared), so the tails carry other processes' noise.`,
      "exit_fraction: NOT measured (untrained weights). The sdn-resnet56-cifar10 profile's shares folded into three stages (35% exit at stage 0; 45% of all at stage 1; the rest at stage 2); those shares are that profile's choice calibrated to the SDN paper's '>50% lower average cost' (Kaya et al., ICML 2019), not per-exit figures from the paper.",
      `Worker/VM CPU ratio per stage (medians): ${faas.map((f, i) => (f.median / vm[i].median).toFixed(2)).join(", ")}.`,
    ],
    stages: manifest.stages.map((s, i) => ({
      exit_fraction: round(exits[i]),
      vm_ms: vm[i],
      faas_ms: faas[i],
      memory_mb: 128,
      state_bytes: i < N - 1 ? s.hidden_shape!.slice(1).reduce((a, b) => a * b, 1) * 4 : 0,
    })),
  };
  writeFileSync(OUT, `${JSON.stringify(profile, null, 2)}\n`);
  console.log(
    `wrote ${OUT}: ${profile.stages.map((s, i) => `stage ${i}: VM ${s.vm_ms.median} ms (p99 ${s.vm_ms.p99}), Worker ${s.faas_ms.median} ms (p99 ${s.faas_ms.p99})`).join("; ")}`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
