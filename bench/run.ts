// `npm run bench`: figures, side by side in one run, printed and saved to bench/results.json.
//   1. warm request latency (median of 200) through the real Worker, Worker-only and Worker+VM routes;
//   2. vm-service throughput over HTTP as a ratio to onnxruntime-node in-process on the same stages, for
//      the demo model and for one with heavier deep stages (bench/wide-model.ts);
//   3. the Worker's overhead per request over the bare onnxruntime-web chain in the same isolate;
//   4. simulator speed in simulated requests per second.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startStack, waitFor } from "../scripts/stack.js";
import { loadHeldout } from "../model/heldout.js";
import { loadModel } from "../vm-service/models.js";
import { runStages } from "../core/engine.js";
import { encodeFrame } from "../core/frame.js";
import { signRequest, vmKey } from "../core/signing.js";
import { DEEP_PATH } from "../core/deep.js";
import { spawn, type ChildProcess } from "node:child_process";
import { cpuMs } from "../scripts/proc.js";
import { rawLoad, serialise } from "./http-load.js";
import { parseArgs as parseSimArgs } from "../sim/cli.js";
import { simulate } from "../sim/run.js";
import { traceFile } from "../sim/trace.js";
import { writeWideModel } from "./wide-model.js";

const OUT = fileURLToPath(new URL("./results.json", import.meta.url));
const MNIST_DIR = fileURLToPath(new URL("../models/mnist", import.meta.url));
const { rows } = loadHeldout();
const log = (s: string) => process.stderr.write(s + "\n");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

async function latency(url: string, force: "worker" | "vm", n: number) {
  const ms: number[] = [];
  const routes = new Set<string>();
  for (let i = 0; i < n + 20; i++) {
    const body = JSON.stringify({
      inputs: [{ name: "input", shape: [1, 784], datatype: "FP32", data: Array.from(rows[i % rows.length]) }],
      parameters: { exit_threshold: 1, serflow_force: force },
    });
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
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) await fn(next++);
    }),
  );
  return total / ((performance.now() - t) / 1000);
}

/** An HTTP server that reads the body and answers a small JSON: what HTTP alone costs here. */
function emptyServer(port: number): ChildProcess {
  const src = `require("node:http").createServer((q, s) => { q.resume(); q.on("end", () => { s.writeHead(200, { "content-type": "application/json", "content-length": 11 }); s.end('{"ok":true}'); }); }).listen(${port}, "127.0.0.1");`;
  return spawn(process.execPath, ["-e", src], { stdio: "ignore" });
}

/**
 * vm-service over HTTP vs onnxruntime-node in-process on the same stages (1-2), CONCURRENCY requests in
 * flight, at 1 row per request (the target) and at more rows (where the hidden state's bytes grow with the
 * compute).
 * The client is bench/http-load.ts with requests signed beforehand, so the figure is the server's; an
 * empty node:http server measured the same way is the ceiling HTTP puts on this machine. Rounds
 * alternate between the three, medians reported.
 */
async function vmRatios(
  vmUrl: string,
  vmPid: number,
  vm: { id: string; key: string },
  modelDir: string,
  rowCounts: number[],
  requestsAtOneRow: number,
) {
  const CONCURRENCY = 8;
  const ROUNDS = 5;
  const model = await loadModel(modelDir);
  const m = model.manifest;
  // Stage 0 once per digit: the hidden states the deep stages start from.
  const hidden = await Promise.all(
    rows
      .slice(0, 128)
      .map(async (r) => (await runStages(model.runner, m, { stage: 0, rows: [0], data: r }, 1, 1)).pending!.data),
  );
  const width = hidden[0].length;
  const emptyPort = Number(new URL(vmUrl).port) + 50;
  const empty = emptyServer(emptyPort);
  const emptyUrl = `http://127.0.0.1:${emptyPort}`;
  const counters = async () => {
    const text = await (await fetch(`${vmUrl}/metrics`)).text();
    const get = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
    return {
      served: get(/serflow_vm_requests_total\{[^}]*outcome="ok"\} (\d+)/),
      batches: get(/serflow_vm_batches_total\{[^}]*\} (\d+)/),
    };
  };
  const one = async (rowsPerRequest: number) => {
    const perRound = Math.max(400, Math.round(requestsAtOneRow / rowsPerRequest));
    const inputs = Array.from({ length: 16 }, (_, k) => {
      const data = new Float32Array(rowsPerRequest * width);
      for (let r = 0; r < rowsPerRequest; r++) data.set(hidden[(k * rowsPerRequest + r) % hidden.length], r * width);
      return data;
    });
    const frames = inputs.map((data) =>
      encodeFrame(
        {
          model: m.name,
          fromStage: 1,
          shape: [rowsPerRequest, ...m.stages[0].hidden_shape!.slice(1)],
          exitThreshold: 1,
        },
        data,
      ),
    );
    const signed = async (n: number) =>
      Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const body = frames[i % frames.length];
          return serialise("127.0.0.1", {
            method: "POST",
            path: DEEP_PATH,
            headers: await signRequest(vm.key, vm.id, "POST", DEEP_PATH, body),
            body,
          });
        }),
      );
    const inProcess: number[] = [];
    const overHttp: number[] = [];
    const emptyHttp: number[] = [];
    const vmCpuUsPerReq: number[] = [];
    await rawLoad(vmUrl, await signed(perRound / 4), CONCURRENCY); // warm-up
    const before = await counters();
    for (let r = 0; r < ROUNDS; r++) {
      inProcess.push(
        await throughput(perRound, CONCURRENCY, async (i) => {
          await runStages(
            model.runner,
            m,
            { stage: 1, rows: Array.from({ length: rowsPerRequest }, (_, k) => k), data: inputs[i % inputs.length] },
            m.stages.length,
            1,
          );
        }),
      );
      const reqs = await signed(perRound); // signed within the 30 s window, outside the clock
      const cpu0 = cpuMs(vmPid);
      const vm = await rawLoad(vmUrl, reqs, CONCURRENCY);
      vmCpuUsPerReq.push(((cpuMs(vmPid) - cpu0) * 1000) / perRound);
      if (vm.statuses[200] !== perRound) throw new Error(`vm-service answered ${JSON.stringify(vm.statuses)}`);
      overHttp.push(vm.rps);
      emptyHttp.push((await rawLoad(emptyUrl, reqs, CONCURRENCY)).rps);
      log(
        `  ${m.name}, ${rowsPerRequest} row(s)/request, round ${r + 1}/${ROUNDS}: in-process ${inProcess[r].toFixed(0)} req/s, vm-service ${overHttp[r].toFixed(0)} req/s, empty HTTP server ${emptyHttp[r].toFixed(0)} req/s`,
      );
    }
    const after = await counters();
    const [ip, http, bare] = [median(inProcess), median(overHttp), median(emptyHttp)];
    return {
      model: m.name,
      in_process_us_per_request: 1e6 / ip,
      rows_per_request: rowsPerRequest,
      in_process_rps: ip,
      http_rps: http,
      ratio: http / ip,
      empty_http_server_rps: bare,
      empty_http_server_to_in_process: bare / ip,
      ratio_to_empty_http: http / bare,
      vm_cpu_us_per_request: median(vmCpuUsPerReq),
      vm_mean_frames_per_batch: (after.served - before.served) / (after.batches - before.batches),
      concurrency: CONCURRENCY,
      rounds: ROUNDS,
      requests_per_round: perRound,
      stages: "1-2",
    };
  };
  try {
    await waitFor(emptyUrl, 10_000);
    const out = [];
    for (const n of rowCounts) out.push(await one(n));
    return out;
  } finally {
    empty.kill();
  }
}

/** vmRatios on bench/wide-model.ts, served by a vm-service of its own (standalone: no controller). */
async function wideRatios(vmPort: number, master: string) {
  const id = "bench-wide";
  const key = await vmKey(master, id);
  const root = mkdtempSync(join(tmpdir(), "serflow-wide-"));
  const dir = writeWideModel(root);
  const vm = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      fileURLToPath(new URL("../vm-service/main.ts", import.meta.url)),
      "--port",
      String(vmPort),
      "--slots",
      "8",
      "--id",
      id,
      "--models",
      root,
    ],
    {
      env: { ...process.env, SERFLOW_VM_KEY: key },
      stdio: "ignore",
    },
  );
  const url = `http://127.0.0.1:${vmPort}`;
  try {
    await waitFor(`${url}/health/ready`, 30_000);
    return await vmRatios(url, vm.pid!, { id, key }, dir, [1], 1000);
  } finally {
    vm.kill();
    rmSync(root, { recursive: true, force: true });
  }
}

/** Median of the full infer handler minus median of the bare ORT chain, interleaved, same HTTP path. */
async function workerOverhead(url: string, token: string, n: number) {
  const data = Array.from(rows[0]);
  const bareBody = JSON.stringify({ data });
  const inferBody = JSON.stringify({
    inputs: [{ name: "input", shape: [1, 784], datatype: "FP32", data }],
    parameters: { exit_threshold: 1, serflow_force: "worker" },
  });
  const time = async (path: string, body: string, auth: boolean) => {
    const t = performance.now();
    const res = await fetch(url + path, {
      method: "POST",
      body,
      headers: auth ? { authorization: `Bearer ${token}` } : {},
    });
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
  return {
    n,
    bare_chain_ms_median: median(bare),
    infer_handler_ms_median: median(full),
    overhead_ms_median: median(full) - median(bare),
  };
}

/** The simulator on the wits trace with the mnist profile, every policy; run before the stack starts, on an idle machine. */
function simulatorSpeed() {
  const settings = parseSimArgs([
    "--trace",
    traceFile("wits"),
    "--profile",
    "mnist",
    "--policies",
    "all",
    "--out",
    tmpdir(),
  ]);
  const out = simulate(settings);
  return {
    trace: "wits",
    profile: "mnist",
    policies: settings.policies.length,
    simulated_requests: out.simulatedRequests,
    wall_s: out.wallS,
    requests_per_s: out.simulatedRequests / out.wallS,
  };
}

async function main() {
  log("bench: simulator speed (wits trace, mnist profile, all policies) ...");
  const sim = simulatorSpeed();
  log(`  ${(sim.simulated_requests / 1e6).toFixed(1)} M requests in ${sim.wall_s.toFixed(1)} s`);
  const port = 18700 + Math.floor(Math.random() * 200);
  log("bench: starting the Worker and one VM ...");
  const stack = await startStack({
    port,
    config: { vm: { min: 1, max: 1, boot_s: 0, concurrency: 8 } },
    persistDir: mkdtempSync(join(tmpdir(), "serflow-bench-")),
    firstVmPort: port + 1,
    log: () => {},
  });
  try {
    const deadline = Date.now() + 60_000;
    let vmUrl = "";
    let vmId = "";
    while (!vmUrl && Date.now() < deadline) {
      const plan = (await (
        await fetch(`${stack.url}/v2/models/mnist/plan`, { headers: { authorization: `Bearer ${stack.adminToken}` } })
      ).json()) as any;
      const running = plan.vms.instances.find((v: any) => v.state === "running");
      vmUrl = running?.url ?? "";
      vmId = running?.id ?? "";
      if (!vmUrl) await new Promise((r) => setTimeout(r, 300));
    }
    if (!vmUrl) throw new Error("no VM registered within 60 s");
    log("bench: warm latency, 200 requests per route ...");
    const worker = await latency(stack.url, "worker", 200);
    const vm = await latency(stack.url, "vm", 200);
    log("bench: vm-service over HTTP vs onnxruntime-node in-process ...");
    const vmPid = stack.pool!.pidOf(vmId);
    const vmIdentity = { id: vmId, key: await vmKey(stack.signingKey, vmId) };
    const ratios = await vmRatios(vmUrl, vmPid, vmIdentity, MNIST_DIR, [1, 8, 32], 4000);
    log("bench: the same on a model with heavier deep stages (bench/wide-model.ts) ...");
    const wide = await wideRatios(port + 20, stack.signingKey);
    log("bench: Worker overhead over the bare onnxruntime-web chain in the same isolate ...");
    const overhead = await workerOverhead(stack.url, stack.adminToken, 300);
    const results = {
      measured_at: new Date().toISOString(),
      machine: `${process.platform} ${process.arch}, Node ${process.version}`,
      latency_worker_only: worker,
      latency_worker_vm: vm,
      vm_service_vs_in_process: ratios[0],
      vm_service_vs_in_process_by_rows: ratios,
      vm_service_vs_in_process_wide_model: wide,
      worker_overhead: overhead,
      simulator: sim,
    };
    writeFileSync(OUT, JSON.stringify(results, null, 2) + "\n");
    console.log(JSON.stringify(results, null, 2));
  } finally {
    await stack.stop();
  }
}

await main();
