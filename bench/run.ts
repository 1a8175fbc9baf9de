// `npm run bench`: figures, side by side in one run, printed and saved to bench/results.json.
//   1. warm request latency (median of 200) through the real Worker, Worker-only and Worker+VM routes;
//   2. vm-service throughput over HTTP as a ratio to onnxruntime-node in-process on the same stages;
//   3. the Worker's overhead per request over the bare onnxruntime-web chain in the same isolate;
//   4. simulator speed in simulated requests per second.
import { writeFileSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startStack } from "../scripts/stack.js";
import { loadHeldout } from "../model/heldout.js";
import { loadModel } from "../vm-service/models.js";
import { runStages } from "../core/engine.js";
import { encodeFrame } from "../core/frame.js";
import { signRequest } from "../core/signing.js";
import { DEEP_PATH } from "../core/deep.js";
import { Hono } from "hono";
import { serve } from "@hono/node-server";

const OUT = fileURLToPath(new URL("./results.json", import.meta.url));
const { rows } = loadHeldout();
const log = (s: string) => process.stderr.write(s + "\n");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

async function latency(url: string, force: "worker" | "vm", n: number) {
  const ms: number[] = [];
  const routes = new Set<string>();
  for (let i = 0; i < n + 20; i++) {
    const body = JSON.stringify({ inputs: [{ name: "input", shape: [1, 784], datatype: "FP32", data: Array.from(rows[i % rows.length]) }], parameters: { exit_threshold: 1, serflow_force: force } });
    const t = performance.now();
    const res = await fetch(`${url}/v2/models/mnist/infer`, { method: "POST", body });
    const out = (await res.json()) as any;
    if (!res.ok) throw new Error(`${res.status} ${JSON.stringify(out)}`);
    if (i >= 20) {
      ms.push(performance.now() - t); // the first 20 warm the isolate and the connection
      routes.add(out.parameters.serflow_route);
    }
  }
  return { median_ms: median(ms), p95_ms: pct(ms, 0.95), routes: [...routes] };
}

/** Requests/s of `fn` run `total` times with `concurrency` in flight. */
async function throughput(total: number, concurrency: number, fn: (i: number) => Promise<void>) {
  let next = 0;
  const t = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) await fn(next++);
  }));
  return total / ((performance.now() - t) / 1000);
}

async function vmRatio(vmUrl: string, key: string) {
  const model = await loadModel(fileURLToPath(new URL("../models/mnist", import.meta.url)));
  const m = model.manifest;
  // Stage 0 once per digit: the hidden states the deep stages start from.
  const hidden = await Promise.all(rows.slice(0, 100).map(async (r) => (await runStages(model.runner, m, { stage: 0, rows: [0], data: r }, 1, 1)).pending!.data));
  const frames = hidden.map((h) => encodeFrame({ model: "mnist", fromStage: 1, shape: [1, 16, 14, 14], exitThreshold: 1 }, h));
  const total = 2000;
  const concurrency = 4;
  const inProcess = await throughput(total, concurrency, async (i) => {
    await runStages(model.runner, m, { stage: 1, rows: [0], data: hidden[i % hidden.length] }, m.stages.length, 1);
  });
  const overHttp = await throughput(total, concurrency, async (i) => {
    const frame = frames[i % frames.length];
    const headers = await signRequest(key, "POST", DEEP_PATH, frame);
    const res = await fetch(vmUrl + DEEP_PATH, { method: "POST", body: frame as Uint8Array<ArrayBuffer>, headers });
    if (!res.ok) throw new Error(`vm answered ${res.status}`);
    await res.arrayBuffer();
  });
  // What plain HTTP costs here: an empty hono handler taking the same body, same client, same concurrency.
  const app = new Hono();
  app.post("/x", async (c) => {
    await c.req.arrayBuffer();
    return c.json({ ok: true });
  });
  const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
  await new Promise((r) => server.once("listening", r));
  const bareUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/x`;
  const bareHttp = await throughput(total, concurrency, async (i) => {
    const res = await fetch(bareUrl, { method: "POST", body: frames[i % frames.length] as Uint8Array<ArrayBuffer> });
    await res.arrayBuffer();
  });
  server.close();
  return { in_process_rps: inProcess, http_rps: overHttp, ratio: overHttp / inProcess, empty_http_handler_rps: bareHttp, ratio_to_empty_http: overHttp / bareHttp, batch: 1, concurrency, stages: "1-2" };
}

/** Median of the full infer handler minus median of the bare ORT chain, interleaved, same HTTP path. */
async function workerOverhead(url: string, token: string, n: number) {
  const data = Array.from(rows[0]);
  const bareBody = JSON.stringify({ data });
  const inferBody = JSON.stringify({ inputs: [{ name: "input", shape: [1, 784], datatype: "FP32", data }], parameters: { exit_threshold: 1, serflow_force: "worker" } });
  const time = async (path: string, body: string, auth: boolean) => {
    const t = performance.now();
    const res = await fetch(url + path, { method: "POST", body, headers: auth ? { authorization: `Bearer ${token}` } : {} });
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`${path}: ${res.status}`);
    return performance.now() - t;
  };
  const bare: number[] = [];
  const full: number[] = [];
  for (let i = 0; i < n + 20; i++) {
    const b = await time("/internal/v1/bench/bare", bareBody, true);
    const f = await time("/v2/models/mnist/infer", inferBody, false);
    if (i >= 20) {
      bare.push(b);
      full.push(f);
    }
  }
  return { n, bare_chain_ms_median: median(bare), infer_handler_ms_median: median(full), overhead_ms_median: median(full) - median(bare) };
}

async function main() {
  const port = 18700 + Math.floor(Math.random() * 200);
  log("bench: starting the Worker and one VM ...");
  const stack = await startStack({ port, config: { vm: { min: 1, max: 1, boot_s: 0, concurrency: 8 } }, persistDir: mkdtempSync(join(tmpdir(), "serflow-bench-")), firstVmPort: port + 1, log: () => {} });
  try {
    const deadline = Date.now() + 60_000;
    let vmUrl = "";
    while (!vmUrl && Date.now() < deadline) {
      const plan = (await (await fetch(`${stack.url}/v2/models/mnist/plan`, { headers: { authorization: `Bearer ${stack.adminToken}` } })).json()) as any;
      vmUrl = plan.vms.instances.find((v: any) => v.state === "running")?.url ?? "";
      if (!vmUrl) await new Promise((r) => setTimeout(r, 300));
    }
    if (!vmUrl) throw new Error("no VM registered within 60 s");
    log("bench: warm latency, 200 requests per route ...");
    const worker = await latency(stack.url, "worker", 200);
    const vm = await latency(stack.url, "vm", 200);
    log("bench: vm-service over HTTP vs onnxruntime-node in-process ...");
    const ratio = await vmRatio(vmUrl, stack.signingKey);
    log("bench: Worker overhead over the bare onnxruntime-web chain in the same isolate ...");
    const overhead = await workerOverhead(stack.url, stack.adminToken, 300);
    const results = {
      measured_at: new Date().toISOString(),
      machine: `${process.platform} ${process.arch}, Node ${process.version}`,
      latency_worker_only: worker,
      latency_worker_vm: vm,
      vm_service_vs_in_process: ratio,
      worker_overhead: overhead,
    };
    writeFileSync(OUT, JSON.stringify(results, null, 2) + "\n");
    console.log(JSON.stringify(results, null, 2));
  } finally {
    await stack.stop();
  }
}

await main();
