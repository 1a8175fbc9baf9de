// `npm run bench:memory`: does workerd's memory grow per request, and is it Serflow's? Serves (1) a
// trivial Worker and (2) Serflow's own bundle through Miniflare directly (one workerd, no wrangler
// proxy, no inspector) and prints RSS before and after rounds of health GETs and infer POSTs.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { rssMbByCommand } from "../scripts/proc.js";

const ROUND_S = 20;

async function rounds(label: string, url: string, init: RequestInit | undefined, n: number) {
  for (let r = 0; r < n; r++) {
    const before = rssMbByCommand("workerd");
    const end = Date.now() + ROUND_S * 1000;
    let sent = 0;
    while (Date.now() < end) {
      await Promise.all(Array.from({ length: 10 }, async () => (await fetch(url, init)).arrayBuffer()));
      sent += 10;
      await new Promise((res) => setTimeout(res, 90));
    }
    console.log(`${label}: ${sent} requests, workerd RSS ${before} -> ${rssMbByCommand("workerd")} MB`);
  }
}

const trivial = new Miniflare({ modules: true, script: `export default { fetch() { return new Response("ok"); } }`, compatibilityDate: "2026-04-01" });
await rounds("trivial Worker, GET", (await trivial.ready).toString(), undefined, 3);
await trivial.dispose();

const dir = mkdtempSync(join(tmpdir(), "serflow-bundle-")) + "/";
const build = spawnSync(process.execPath, ["node_modules/wrangler/bin/wrangler.js", "deploy", "--dry-run", "--outdir", dir], { env: { ...process.env, WRANGLER_SEND_METRICS: "false" }, encoding: "utf8" });
if (build.status !== 0) throw new Error(`wrangler build failed: ${build.stderr}`);
const typeOf = (f: string) => (f === "index.js" ? "ESModule" : f.endsWith(".onnx") ? "Data" : f.endsWith(".wasm") ? "CompiledWasm" : /\.(js|css)$/.test(f) ? "Text" : null);
const modules = readdirSync(dir).filter((f) => typeOf(f)).sort((a) => (a === "index.js" ? -1 : 1)).map((f) => ({ type: typeOf(f)!, path: dir + f, contents: readFileSync(dir + f) }));
const serflow = new Miniflare({
  modules: modules as never,
  modulesRoot: dir,
  compatibilityDate: "2026-04-01",
  durableObjects: { STATS: { className: "StatsDO", useSQLite: true }, CONTROLLER: { className: "ControllerDO", useSQLite: true } },
  bindings: { SERFLOW_ADMIN_TOKEN: "bench", SERFLOW_SIGNING_KEY: "bench", SERFLOW_CONFIG: "{}", SERFLOW_FAAS_DEEP: "inline" },
});
const url = (await serflow.ready).toString().replace(/\/$/, "");
const body = JSON.stringify({ inputs: [{ name: "input", shape: [1, 784], datatype: "FP32", data: Array(784).fill(0.5) }] });
await rounds("Serflow, GET /v2/health/live", url + "/v2/health/live", undefined, 2);
await rounds("Serflow, POST infer", url + "/v2/models/mnist/infer", { method: "POST", body }, 3);
await serflow.dispose();
