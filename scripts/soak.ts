// `npm run soak -- [--minutes 5] [--rps 100]`: a steady load against the whole local stack (Worker,
// Durable Objects, VM pool with VMs in use), reporting throughput, failures and each process's memory
// at start and end. Writes bench/soak.json.
import { writeFileSync, mkdtempSync } from "node:fs";
import { processTree, rssMb } from "./proc.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { startStack } from "./stack.js";
import { DEFAULT_LOAD, runLoad } from "./load-gen.js";

const { values: a } = parseArgs({
  options: { minutes: { type: "string", default: "5" }, rps: { type: "string", default: "100" } },
});
const durationS = Number(a.minutes) * 60;
const rps = Number(a.rps);
/** A vm-service may grow by at most this much over the soak (caches warm in the first seconds). */
export const MAX_VM_RSS_GROWTH_MB = 64;
/**
 * workerd's ceiling. V8 recompiles onnxruntime-web's 13.6 MB WASM with its optimizing compiler one
 * function at a time as each gets hot, so workerd grows in steps towards the size of the module fully
 * optimized: with every function optimized up front (v8 flag --no-wasm-dynamic-tiering, plain workerd
 * serve, the ORT chain at ~95 req/s) it sat at 349-369 MB for 5 minutes (`npm run bench:memory`).
 */
export const MAX_WORKERD_RSS_MB = 400;

function snapshot(roots: Array<[string, number]>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [label, pid] of roots) {
    for (const [p, comm] of processTree(pid)) {
      const mb = rssMb(p);
      if (mb !== null && mb > 5) out[`${label}:${comm}:${p}`] = Math.round(mb * 10) / 10;
    }
  }
  return out;
}

const port = 18500 + Math.floor(Math.random() * 100);
const stack = await startStack({
  port,
  config: { vm: { usd_per_hour: 0.00001, concurrency: 4, boot_s: 5, min: 1, max: 2 }, control_period_s: 2 },
  persistDir: mkdtempSync(join(tmpdir(), "serflow-soak-")),
  firstVmPort: port + 1,
  log: () => {},
});
try {
  console.error(`soak: ${rps} req/s for ${durationS} s against ${stack.url} ...`);
  await new Promise((r) => setTimeout(r, 10_000)); // VMs boot, isolates warm
  if (stack.workerPid === null) throw new Error("soak: no workerd process found under this one (needs Linux /proc)");
  const roots = (): Array<[string, number]> => [
    ["worker", stack.workerPid!],
    ...stack.pool!.pids().map((p) => ["vm", p] as [string, number]),
  ];
  let start: Record<string, number> = {};
  let last = 0;
  const series: Array<{ t_s: number } & Record<string, number>> = [];
  const summary = await runLoad({ ...DEFAULT_LOAD, url: stack.url, rps, durationS, pattern: "steady" }, (p) => {
    if (!Object.keys(start).length && p.elapsedS > 15) start = snapshot(roots());
    if (p.elapsedS - last >= 30) {
      last = p.elapsedS;
      const snap = snapshot(roots());
      series.push({ t_s: Math.round(p.elapsedS), ...snap });
      console.error(
        `  ${p.elapsedS.toFixed(0)}/${durationS}s sent ${p.sent} ok ${p.ok} failed ${p.failed}  rss MB ${Object.values(snap).join(" ")}`,
      );
    }
  });
  const end = snapshot(roots());
  const growth = Object.fromEntries(
    Object.keys(end)
      .filter((k) => k in start)
      .map((k) => [k, Math.round((end[k] - start[k]) * 10) / 10]),
  );
  const result = {
    measured_at: new Date().toISOString(),
    rps_target: rps,
    duration_s: durationS,
    sent: summary.sent,
    ok: summary.ok,
    failed: summary.failed,
    throughput_rps: Math.round(summary.achievedRps * 10) / 10,
    latency_ms: summary.latencyMs,
    routes: summary.routes,
    statuses: summary.statuses,
    rss_mb_series: series,
    rss_mb_start: start,
    rss_mb_end: end,
    rss_growth_mb: growth,
    bounds: { vm_growth_mb: MAX_VM_RSS_GROWTH_MB, workerd_rss_mb: MAX_WORKERD_RSS_MB },
    over_bounds: [
      ...Object.entries(growth)
        .filter(([k, mb]) => k.startsWith("vm:") && mb > MAX_VM_RSS_GROWTH_MB)
        .map(([k, mb]) => `${k} grew ${mb} MB`),
      ...Object.keys(end)
        .filter((k) => k.startsWith("worker:"))
        .map((k) => [k, Math.max(end[k], ...series.map((s) => s[k] ?? 0))] as const)
        .filter(([, peak]) => peak > MAX_WORKERD_RSS_MB)
        .map(([k, peak]) => `${k} peaked at ${peak} MB`),
    ],
  };
  writeFileSync(fileURLToPath(new URL("../bench/soak.json", import.meta.url)), JSON.stringify(result, null, 2) + "\n");
  console.log(JSON.stringify(result, null, 2));
  if (summary.failed > 0 || result.over_bounds.length > 0) process.exitCode = 1;
} finally {
  await stack.stop();
}
