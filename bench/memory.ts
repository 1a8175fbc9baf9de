// `npm run bench:memory`: does workerd's memory grow per request, and is it Serflow's? Serves (1) a
// trivial Worker and (2) Serflow's own bundle through Miniflare directly (one workerd, no wrangler
// proxy, no inspector) and prints RSS before and after rounds of health GETs and infer POSTs.
import { Miniflare } from "miniflare";
import { descendantPids, rssMb } from "../scripts/proc.js";
import { startWorker } from "../scripts/bundle.js";

const ROUND_S = 20;
// Only this run's workerd: another checkout's tests may run workerd on the same machine.
const workerdRss = () => Math.round(descendantPids("workerd").reduce((mb, p) => mb + (rssMb(p) ?? 0), 0));

async function rounds(label: string, url: string, init: RequestInit | undefined, n: number) {
  for (let r = 0; r < n; r++) {
    const before = workerdRss();
    const end = Date.now() + ROUND_S * 1000;
    let sent = 0;
    while (Date.now() < end) {
      await Promise.all(Array.from({ length: 10 }, async () => (await fetch(url, init)).arrayBuffer()));
      sent += 10;
      await new Promise((res) => setTimeout(res, 90));
    }
    console.log(`${label}: ${sent} requests, workerd RSS ${before} -> ${workerdRss()} MB`);
  }
}

const trivial = new Miniflare({ modules: true, script: `export default { fetch() { return new Response("ok"); } }`, compatibilityDate: "2026-04-01", cf: false });
await rounds("trivial Worker, GET", (await trivial.ready).toString(), undefined, 3);
await trivial.dispose();

// The same Worker as `npm start` serves, with throwaway secrets and in-memory storage.
const { mf: serflow, url } = await startWorker({ bindings: { SERFLOW_ADMIN_TOKEN: "bench", SERFLOW_SIGNING_KEY: "bench", SERFLOW_CONFIG: "{}" } });
const body = JSON.stringify({ inputs: [{ name: "input", shape: [1, 784], datatype: "FP32", data: Array(784).fill(0.5) }] });
await rounds("Serflow, GET /v2/health/live", url + "/v2/health/live", undefined, 2);
await rounds("Serflow, POST infer", url + "/v2/models/mnist/infer", { method: "POST", body }, 3);
await serflow.dispose();
