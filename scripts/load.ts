// `npm run load -- --rps N --duration S [--pattern steady|step|burst|trace FILE] [--url URL] [--json FILE]`
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { DEFAULT_LOAD, runLoad, type Pattern } from "./load-gen.js";
import { readDevVars } from "./dev-vars.js";

const { values: a, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: "string", default: `http://127.0.0.1:${process.env.PORT ?? 8787}` },
    rps: { type: "string", default: "50" },
    duration: { type: "string", default: "30" },
    pattern: { type: "string", default: "steady" },
    model: { type: "string", default: "mnist" },
    force: { type: "string" },
    json: { type: "string" },
    "max-inflight": { type: "string", default: String(DEFAULT_LOAD.maxInflight) },
  },
});

const fail = (m: string): never => {
  console.error(`load: ${m}`);
  process.exit(2);
};
const rps = Number(a.rps);
const durationS = Number(a.duration);
if (!(rps > 0)) fail(`--rps must be a number > 0, got "${a.rps}"`);
if (!(durationS > 0)) fail(`--duration must be seconds > 0, got "${a.duration}"`);
const pattern = a.pattern as Pattern;
if (!["steady", "step", "burst", "trace"].includes(pattern))
  fail(`--pattern must be steady, step, burst or trace FILE, got "${a.pattern}"`);
let trace: number[] | undefined;
if (pattern === "trace") {
  const file = positionals[0] ?? fail("--pattern trace needs a FILE (one requests-per-second number per line)");
  trace = readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map(Number);
  if (trace.some((x) => !(x >= 0))) fail(`${file}: every line must be a number >= 0`);
}

const tty = process.stderr.isTTY;
let lastLine = 0;
const summary = await runLoad(
  {
    ...DEFAULT_LOAD,
    url: a.url!,
    model: a.model!,
    rps,
    durationS,
    pattern,
    trace,
    maxInflight: Number(a["max-inflight"]),
    parameters: a.force ? { serflow_force: a.force } : undefined,
    // Forced requests steer scaling only as the operator's (the local stack's token from .dev.vars).
    adminToken: process.env.SERFLOW_ADMIN_TOKEN ?? readDevVars().SERFLOW_ADMIN_TOKEN,
  },
  (p) => {
    const width = 30;
    const done = Math.min(1, p.elapsedS / durationS);
    const line = `[${"#".repeat(Math.round(done * width)).padEnd(width)}] ${p.elapsedS.toFixed(0)}/${durationS}s target ${p.targetRps.toFixed(0)} rps  sent ${p.sent}  ok ${p.ok}  failed ${p.failed}  in flight ${p.inflight}`;
    if (tty) process.stderr.write(`\r${line}`);
    else if (p.elapsedS - lastLine >= 5) {
      lastLine = p.elapsedS;
      console.error(line);
    }
  },
);
if (tty) process.stderr.write("\n");
const routes = Object.entries(summary.routes)
  .sort((x, y) => y[1] - x[1])
  .map(([r, n]) => `${r} ${((100 * n) / Math.max(1, summary.ok)).toFixed(1)}%`)
  .join(", ");
console.log(`sent ${summary.sent}  ok ${summary.ok}  failed ${summary.failed}  skipped ${summary.skipped}  (${summary.achievedRps.toFixed(1)} rps over ${summary.durationS.toFixed(1)} s)
latency ms: p50 ${summary.latencyMs.p50.toFixed(1)}  p95 ${summary.latencyMs.p95.toFixed(1)}  p99 ${summary.latencyMs.p99.toFixed(1)}  max ${summary.latencyMs.max.toFixed(1)}
accuracy ${((100 * summary.correct) / Math.max(1, summary.ok)).toFixed(2)}%   statuses ${JSON.stringify(summary.statuses)}
routes: ${routes}`);
if (a.json) writeFileSync(a.json, JSON.stringify(summary, null, 2));
process.exit(summary.failed > 0 ? 1 : 0);
