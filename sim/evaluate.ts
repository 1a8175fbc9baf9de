// npx tsx sim/evaluate.ts [--quick]: the evaluation of docs/evaluation.md. Runs every policy on both
// traces x both profiles x both price presets (plus the regimes discussed there), writes the figures
// to docs/eval/*.svg and the tables to docs/evaluation.md. --quick: only the native-rate runs.
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { PricePreset } from "../core/cost.js";
import type { RunResult } from "./engine.js";
import { POLICIES } from "./policies.js";
import { loadProfile } from "./profile.js";
import {
  costChart,
  ORACLE_NOTE,
  PRESET_VM,
  SIM_DEFAULTS,
  settingsTable,
  simulate,
  timelineChart,
  type SimOutput,
  type SimSettings,
} from "./run.js";
import { loadTrace, traceFile } from "./trace.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TRACES = { wits: "../shared/traces/wits.txt", berkeley: "../shared/traces/berkeley.txt" };
const SLO_MS = 200;

interface Run {
  id: string;
  group: string;
  trace: keyof typeof TRACES;
  profile: string;
  prices: PricePreset;
  scale: number;
  entry: "router" | "worker";
  vmUsdPerHour?: number;
  vmConcurrency?: number;
  vmQueueMs?: number;
}

function runs(quick: boolean): Run[] {
  const out: Run[] = [];
  for (const profile of ["sdn-resnet56-cifar10", "mnist"]) {
    for (const trace of ["wits", "berkeley"] as const) {
      for (const prices of ["workers", "lambda"] as const)
        out.push({
          id: `${profile}-${trace}-${prices}`,
          group: "native",
          trace,
          profile,
          prices,
          scale: 1,
          entry: "router",
        });
    }
  }
  if (quick) return out;
  for (const trace of ["wits", "berkeley"] as const) {
    for (const prices of ["workers", "lambda"] as const)
      out.push({
        id: `sdn-x10-${trace}-${prices}`,
        group: "x10",
        trace,
        profile: "sdn-resnet56-cifar10",
        prices,
        scale: 10,
        entry: "router",
      });
  }
  for (const trace of ["wits"] as const) {
    out.push({
      id: `mnist-worker-entry-${trace}-workers`,
      group: "deployment",
      trace,
      profile: "mnist",
      prices: "workers",
      scale: 1,
      entry: "worker",
    });
    out.push({
      id: `sdn-worker-entry-${trace}-workers`,
      group: "deployment",
      trace,
      profile: "sdn-resnet56-cifar10",
      prices: "workers",
      scale: 1,
      entry: "worker",
    });
    out.push({
      id: `sdn-c5xlarge-${trace}-workers`,
      group: "bigvm",
      trace,
      profile: "sdn-resnet56-cifar10",
      prices: "workers",
      scale: 1,
      entry: "router",
      vmUsdPerHour: 0.17,
      vmConcurrency: 4,
    });
    out.push({
      id: `sdn-drift-x10-${trace}-workers`,
      group: "drift",
      trace,
      profile: "sdn-resnet56-cifar10-drift",
      prices: "workers",
      scale: 10,
      entry: "router",
    });
    out.push({
      id: `sdn-queue20-${trace}-workers`,
      group: "whatif",
      trace,
      profile: "sdn-resnet56-cifar10",
      prices: "workers",
      scale: 1,
      entry: "router",
      vmQueueMs: 20,
    });
    out.push({
      id: `sdn-queue20-x10-${trace}-workers`,
      group: "whatif",
      trace,
      profile: "sdn-resnet56-cifar10",
      prices: "workers",
      scale: 10,
      entry: "router",
      vmQueueMs: 20,
    });
  }
  return out;
}

function settingsOf(r: Run): SimSettings {
  const profile = loadProfile(`${ROOT}sim/profiles/${r.profile}.json`);
  return {
    traceFile: TRACES[r.trace],
    trace: loadTrace(traceFile(r.trace)),
    profileName: profile.name,
    profile,
    policies: [...POLICIES],
    scale: r.scale,
    seed: SIM_DEFAULTS.seed,
    prices: r.prices,
    sloMs: SLO_MS,
    bootS: SIM_DEFAULTS.bootS,
    vmUsdPerHour: r.vmUsdPerHour ?? PRESET_VM[r.prices].usdPerHour,
    vmConcurrency: r.vmConcurrency ?? PRESET_VM[r.prices].concurrency,
    entry: r.entry,
    controlPeriodS: SIM_DEFAULTS.controlPeriodS,
    vmQueueMs: r.vmQueueMs,
  };
}

function cmd(r: Run): string {
  const parts = [
    `npm run simulate -- --trace ${TRACES[r.trace]} --profile ${r.profile} --policies all --out out/${r.id} --prices ${r.prices} --slo-ms ${SLO_MS}`,
  ];
  if (r.scale !== 1) parts.push(`--scale ${r.scale}`);
  if (r.entry !== "router") parts.push(`--entry ${r.entry}`);
  if (r.vmUsdPerHour !== undefined) parts.push(`--vm-usd-per-hour ${r.vmUsdPerHour}`);
  if (r.vmConcurrency !== undefined) parts.push(`--vm-concurrency ${r.vmConcurrency}`);
  if (r.vmQueueMs !== undefined) parts.push(`--vm-queue-ms ${r.vmQueueMs}`);
  return parts.join(" ");
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const by = (rs: RunResult[], p: string) => rs.find((r) => r.policy === p)!;

function table(rs: RunResult[]): string {
  const ser = by(rs, "serflow");
  const lines = [
    "| policy | cost (USD) | serflow vs it | SLO met | p99 ms | VM-seconds | mean VMs | FaaS requests |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rs) {
    const rel =
      r.policy === "serflow"
        ? ""
        : `${ser.cost_usd <= r.cost_usd ? "-" : "+"}${Math.abs((1 - ser.cost_usd / r.cost_usd) * 100).toFixed(1)}%`;
    lines.push(
      `| ${r.policy === "serflow" ? "**serflow**" : r.policy} | ${r.cost_usd.toFixed(3)} | ${rel} | ${pct(r.slo_attainment)} | ${r.p99_ms.toFixed(1)} | ${r.vm_seconds.toLocaleString("en-US")} | ${r.mean_vms.toFixed(2)} | ${pct(r.faas_requests / r.requests)} |`,
    );
  }
  return lines.join("\n");
}

function summaryRow(r: Run, rs: RunResult[]): string {
  const s = by(rs, "serflow");
  const l = by(rs, "libra");
  const f = by(rs, "faas-only");
  const o = by(rs, "oracle");
  const cheapest = rs.filter((x) => x.policy !== "oracle").sort((a, b) => a.cost_usd - b.cost_usd)[0];
  return `| ${r.profile} | ${r.trace} | ${r.prices} | ${r.scale === 1 ? "1" : `x${r.scale}`} | ${s.cost_usd.toFixed(3)} | ${pct(1 - s.cost_usd / l.cost_usd)} | ${pct(1 - s.cost_usd / f.cost_usd)} | ${pct(s.cost_usd / o.cost_usd - 1)} | ${pct(s.slo_attainment)} / ${pct(l.slo_attainment)} / ${pct(f.slo_attainment)} | ${cheapest.policy} (${pct(cheapest.slo_attainment)}) |`;
}

function main(): void {
  const quick = process.argv.includes("--quick");
  const outDir = `${ROOT}docs/eval/`;
  mkdirSync(outDir, { recursive: true });
  const done: { run: Run; s: SimSettings; out: SimOutput }[] = [];
  let simulated = 0;
  let wall = 0;
  for (const r of runs(quick)) {
    const s = settingsOf(r);
    const t0 = Date.now();
    const out = simulate(
      s,
      (p, f) =>
        process.stderr.isTTY &&
        process.stderr.write(`\r${r.id}: ${p.padEnd(13)} ${(f * 100).toFixed(0).padStart(3)}%   `),
    );
    if (process.stderr.isTTY) process.stderr.write("\n");
    simulated += out.simulatedRequests;
    wall += (Date.now() - t0) / 1000;
    console.log(
      `${r.id}: ${out.results.map((x) => `${x.policy} ${x.cost_usd.toFixed(3)}`).join(", ")} (${out.wallS.toFixed(1)} s)`,
    );
    writeFileSync(
      `${outDir}${r.id}-cost.svg`,
      costChart(
        `${r.profile}, ${r.trace}${r.scale !== 1 ? ` x${r.scale}` : ""}, ${r.prices}${r.entry === "worker" ? ", Worker entry" : ""}`,
        out.results,
      ),
    );
    writeFileSync(
      `${outDir}${r.id}-timeline.svg`,
      timelineChart(`${r.profile}, ${r.trace}${r.scale !== 1 ? ` x${r.scale}` : ""}, ${r.prices}`, out),
    );
    done.push({ run: r, s, out });
  }
  const md: string[] = [];
  md.push("# Evaluation (generated by `npx tsx sim/evaluate.ts`)", "");
  md.push(
    `Simulated ${simulated.toLocaleString("en-US")} requests in ${wall.toFixed(0)} s (${(simulated / wall / 1e6).toFixed(1)} M requests/s on this machine, one core, while others used it too).`,
    "",
  );
  md.push("## Summary", "");
  md.push(
    "serflow's saving against LIBRA and FaaS-only (1 - cost(serflow) / cost(other)), its gap to the oracle's lower bound, SLO attainment (serflow / LIBRA / FaaS-only), and the cheapest real policy of the run.",
    "",
  );
  md.push(
    "| profile | trace | prices | load | serflow USD | vs libra | vs faas-only | above oracle | SLO met s / l / f | cheapest policy (SLO) |",
  );
  md.push("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- | --- |");
  for (const d of done)
    if (d.run.group === "native" || d.run.group === "x10") md.push(summaryRow(d.run, d.out.results));
  md.push("");
  for (const group of ["native", "x10", "deployment", "bigvm", "drift", "whatif"]) {
    const ds = done.filter((d) => d.run.group === group);
    if (ds.length === 0) continue;
    md.push(`## Runs: ${group}`, "");
    for (const d of ds) {
      md.push(
        `### ${d.run.id}`,
        "",
        "```",
        cmd(d.run),
        "```",
        "",
        table(d.out.results),
        "",
        `![cost](eval/${d.run.id}-cost.svg)`,
        "",
        `![timeline](eval/${d.run.id}-timeline.svg)`,
        "",
      );
    }
  }
  md.push("## Settings common to every run", "", settingsTable(done[0].s, done[0].out.config), "", ORACLE_NOTE, "");
  writeFileSync(`${ROOT}docs/evaluation-tables.md`, md.join("\n"));
  console.log(`wrote docs/evaluation-tables.md and ${done.length * 2} SVGs in docs/eval/`);
}

main();
