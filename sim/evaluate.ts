// npm run evaluate [-- --quick]: the evaluation of docs/evaluation.md. Runs every policy on both traces x
// three profiles x both price presets at the Worker entry (the deployment's bill), then on WITS at the
// router entry of the papers, plus LIBRA's own settings; writes docs/eval/*.svg and docs/evaluation-tables.md.
// --quick: only the Worker-entry runs.
// npm run evaluate -- --sweep N [--seed S] [--out NAME]: N random scenarios (sim/sweep.ts); writes
// docs/eval/sweep.svg and the sweep section of docs/evaluation.md (between its sweep markers), or with
// --out a page of its own, docs/NAME.md and docs/eval/NAME.svg (a held-out seed).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
import { runSweep, sweepMarkdown, sweepSvg } from "./sweep.js";
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
  policies?: string[];
  sloMs?: number;
  bootS?: number;
  config?: string;
}

function runs(quick: boolean): Run[] {
  const out: Run[] = [];
  // The router entry (the papers' setting) on WITS only: the deployment's bill is the headline.
  for (const entry of quick ? (["worker"] as const) : (["worker", "router"] as const))
    for (const profile of ["wide-measured", "sdn-resnet56-cifar10", "mnist"])
      for (const trace of entry === "worker" ? (["wits", "berkeley"] as const) : (["wits"] as const))
        for (const prices of ["workers", "lambda"] as const)
          out.push({
            id: `${entry}-${profile}-${trace}-${prices}`,
            group: entry,
            trace,
            profile,
            prices,
            scale: 1,
            entry,
          });
  if (quick) return out;
  out.push({
    id: "libra-settings-wits",
    group: "libra",
    trace: "wits",
    profile: "libra-1s",
    prices: "lambda",
    scale: 1,
    entry: "router",
    vmUsdPerHour: 0.1,
    vmConcurrency: 16,
    sloMs: 2000,
    bootS: 100,
    config: "sim/profiles/libra-config.json",
    policies: ["faas-only", "vm-autoscale", "libra-vm-autoscale", "libra", "serflow", "oracle"],
  });
  out.push({
    id: "worker-sdn-drift-wits-workers",
    group: "drift",
    trace: "wits",
    profile: "sdn-resnet56-cifar10-drift",
    prices: "workers",
    scale: 1,
    entry: "worker",
  });
  return out;
}

function settingsOf(r: Run): SimSettings {
  const profile = loadProfile(`${ROOT}sim/profiles/${r.profile}.json`);
  return {
    traceFile: TRACES[r.trace],
    trace: loadTrace(traceFile(r.trace)),
    profileName: profile.name,
    profile,
    policies: (r.policies ?? [...POLICIES]) as SimSettings["policies"],
    scale: r.scale,
    seed: SIM_DEFAULTS.seed,
    prices: r.prices,
    sloMs: r.sloMs ?? SLO_MS,
    bootS: r.bootS ?? SIM_DEFAULTS.bootS,
    vmUsdPerHour: r.vmUsdPerHour ?? PRESET_VM[r.prices].usdPerHour,
    vmConcurrency: r.vmConcurrency ?? PRESET_VM[r.prices].concurrency,
    entry: r.entry,
    controlPeriodS: SIM_DEFAULTS.controlPeriodS,
    vmQueueMs: r.vmQueueMs,
    extraConfig: r.config ? JSON.parse(readFileSync(`${ROOT}${r.config}`, "utf8")) : undefined,
  };
}

function cmd(r: Run): string {
  const parts = [
    `npm run simulate -- --trace ${TRACES[r.trace]} --profile ${r.profile} --policies ${r.policies?.join(",") ?? "all"} --out out/${r.id} --prices ${r.prices} --slo-ms ${r.sloMs ?? SLO_MS}`,
  ];
  if (r.scale !== 1) parts.push(`--scale ${r.scale}`);
  if (r.entry !== SIM_DEFAULTS.entry) parts.push(`--entry ${r.entry}`);
  if (r.bootS !== undefined) parts.push(`--boot-s ${r.bootS}`);
  if (r.config !== undefined) parts.push(`--config ${r.config}`);
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
      r.policy.startsWith("oracle")
        ? `| ${r.policy} (bound) | ${r.cost_usd.toFixed(3)} | ${rel} | | | | | |`
        : `| ${r.policy === "serflow" ? "**serflow**" : r.policy} | ${r.cost_usd.toFixed(3)} | ${rel} | ${pct(r.slo_attainment)} | ${r.p99_ms.toFixed(1)} | ${r.vm_seconds.toLocaleString("en-US")} | ${r.mean_vms.toFixed(2)} | ${pct(r.faas_requests / r.requests)} |`,
    );
  }
  return lines.join("\n");
}

function summaryRow(r: Run, rs: RunResult[]): string {
  const s = by(rs, "serflow");
  const l = by(rs, "libra");
  const f = by(rs, "faas-only");
  const b = by(rs, "oracle-slo");
  const o = by(rs, "oracle");
  const meets = rs
    .filter((x) => !x.policy.startsWith("oracle") && x.slo_attainment >= 0.99)
    .sort((a, b) => a.cost_usd - b.cost_usd)[0];
  return `| ${r.profile} | ${r.trace} | ${r.prices} | ${s.cost_usd.toFixed(3)} | ${pct(1 - s.cost_usd / l.cost_usd)} | ${pct(1 - s.cost_usd / f.cost_usd)} | ${pct(s.cost_usd / b.cost_usd - 1)} | ${pct(s.cost_usd / o.cost_usd - 1)} | ${pct(s.slo_attainment)} / ${pct(l.slo_attainment)} / ${pct(f.slo_attainment)} | ${meets ? `${meets.policy} ${meets.cost_usd.toFixed(3)}` : "none"} |`;
}

const SWEEP_START = "<!-- sweep:start (generated by npm run evaluate -- --sweep N --seed S) -->";
const SWEEP_END = "<!-- sweep:end -->";

function sweepMain(count: number, seed: number, out?: string): void {
  const tty = process.stderr.isTTY;
  const t0 = Date.now();
  const rs = runSweep(count, seed, {}, (done, total, label) => {
    if (!tty) return;
    const el = (Date.now() - t0) / 1000;
    const eta = done > 0 ? (el / done) * (total - done) : 0;
    process.stderr.write(
      `\rsweep ${done}/${total} ${label.padEnd(12)} ${el.toFixed(0)} s elapsed, ~${eta.toFixed(0)} s left   `,
    );
  });
  if (tty) process.stderr.write("\n");
  const wallS = (Date.now() - t0) / 1000;
  mkdirSync(`${ROOT}docs/eval/`, { recursive: true });
  const name = out ?? "sweep";
  writeFileSync(`${ROOT}docs/eval/${name}.svg`, sweepSvg(rs, seed));
  const command = `npm run evaluate -- --sweep ${count} --seed ${seed}${out ? ` --out ${out}` : ""}`;
  const body = [
    `Generated by \`${command}\` in ${wallS.toFixed(0)} s.`,
    "",
    sweepMarkdown(rs, seed, `eval/${name}.svg`),
  ];
  if (out) {
    // A sweep of its own (e.g. a held-out seed): its own page, docs/<out>.md.
    writeFileSync(`${ROOT}docs/${out}.md`, [`# Sweep, seed ${seed}`, "", ...body, ""].join("\n"));
    return;
  }
  const section = [SWEEP_START, "", ...body, "", SWEEP_END].join("\n");
  const doc = `${ROOT}docs/evaluation.md`;
  const text = existsSync(doc) ? readFileSync(doc, "utf8") : "";
  const a = text.indexOf(SWEEP_START);
  const b = text.indexOf(SWEEP_END);
  const next =
    a >= 0 && b > a ? text.slice(0, a) + section + text.slice(b + SWEEP_END.length) : `${text}\n${section}\n`;
  writeFileSync(doc, next);
  for (const r of rs)
    console.log(
      `#${r.scenario.id} ${r.scenario.traceKind}: serflow ${r.serflow.cost_usd.toFixed(4)} / ${r.baseline.policy} ${r.baseline.cost_usd.toFixed(4)} = ${r.overBaseline.toFixed(3)}, / bound = ${r.overBound.toFixed(3)}`,
    );
  console.log(
    `${count} scenarios in ${wallS.toFixed(0)} s; wrote docs/eval/sweep.svg and the sweep section of docs/evaluation.md`,
  );
}

function main(): void {
  const argv = process.argv.slice(2);
  const at = argv.indexOf("--sweep");
  if (at >= 0) {
    const count = Number(argv[at + 1]);
    const si = argv.indexOf("--seed");
    const seed = si >= 0 ? Number(argv[si + 1]) : 1;
    const oi = argv.indexOf("--out");
    const out = oi >= 0 ? argv[oi + 1] : undefined;
    if (
      !Number.isInteger(count) ||
      count < 1 ||
      !Number.isInteger(seed) ||
      seed < 0 ||
      (oi >= 0 && !/^[\w-]+$/.test(out ?? ""))
    ) {
      console.error(
        "usage: npm run evaluate -- --sweep N [--seed S] [--out NAME]   (N >= 1 scenarios, S >= 0; NAME: docs/NAME.md of its own)",
      );
      process.exit(2);
    }
    sweepMain(count, seed, out);
    return;
  }
  const quick = argv.includes("--quick");
  // --shard i/n: simulate every n-th run only and keep its results in docs/eval/<id>.json (processes in
  // parallel); then `--reuse` (no --shard) takes those files, simulates the runs that have none, writes
  // the tables and removes the files.
  const shardArg = argv.indexOf("--shard");
  const [shard, shards] = shardArg >= 0 ? argv[shardArg + 1].split("/").map(Number) : [0, 1];
  const outDir = `${ROOT}docs/eval/`;
  mkdirSync(outDir, { recursive: true });
  const done: { run: Run; s: SimSettings; out: SimOutput }[] = [];
  let simulated = 0;
  let wall = 0;
  const all = runs(quick);
  for (const [index, r] of all.entries()) {
    if (index % shards !== shard) continue;
    const s = settingsOf(r);
    const saved = `${outDir}${r.id}.json`;
    if (shards === 1 && argv.includes("--reuse") && existsSync(saved)) {
      const out = JSON.parse(readFileSync(saved, "utf8")) as SimOutput;
      simulated += out.simulatedRequests;
      wall += out.wallS;
      done.push({ run: r, s, out });
      continue;
    }
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
    writeFileSync(saved, JSON.stringify({ ...out, series: undefined }));
    done.push({ run: r, s, out });
  }
  if (shards > 1) return;
  // Plots and results of runs that no longer exist must not linger (the sweeps' plots are not runs').
  const ids = new Set(all.map((r) => r.id));
  for (const f of readdirSync(outDir)) {
    const id = f.replace(/(-cost|-timeline)?\.(svg|json)$/, "");
    if (!f.startsWith("sweep") && /\.(svg|json)$/.test(f) && !ids.has(id)) rmSync(`${outDir}${f}`);
  }
  const md: string[] = [];
  md.push("# Evaluation (generated by `npx tsx sim/evaluate.ts`)", "");
  md.push(
    `Simulated ${simulated.toLocaleString("en-US")} requests in ${wall.toFixed(0)} s (${(simulated / wall / 1e6).toFixed(1)} M requests/s on this machine, one core, while others used it too).`,
    "",
  );
  const summaryHead = [
    "| profile | trace | prices | serflow USD | vs libra | vs faas-only | over oracle-slo | over oracle | SLO met s / l / f | cheapest meeting 99% |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
  ];
  const titles: Record<string, string> = {
    worker:
      "Worker entry (the deployment's bill: every request pays a Worker invocation; stage 0 runs there unless a plan forwards the input to a VM)",
    router: "Router entry (the papers' setting: an unbilled router; a request sent straight to a VM pays no FaaS fee)",
  };
  for (const group of ["worker", "router"]) {
    const ds = done.filter((d) => d.run.group === group);
    if (ds.length === 0) continue;
    md.push(`## Summary: ${titles[group]}`, "", ...summaryHead);
    for (const d of ds) md.push(summaryRow(d.run, d.out.results));
    md.push("");
  }
  for (const group of ["worker", "router", "libra", "drift"]) {
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
  for (const f of readdirSync(outDir)) if (f.endsWith(".json")) rmSync(`${outDir}${f}`);
  console.log(`wrote docs/evaluation-tables.md and ${done.length * 2} SVGs in docs/eval/`);
}

main();
