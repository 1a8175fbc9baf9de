// One simulation run as a library call (the CLI and the evaluation use it): settings -> results,
// report.md, results.json and SVG plots.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseControlConfig, type ControlConfig } from "../core/config.js";
import { PRICE_PRESETS, type PricePreset } from "../core/cost.js";
import { runPolicy, type RunResult, type RunSeries } from "./engine.js";
import { lowerBounds } from "./oracle.js";
import { makeController, POLICIES, type PolicyName } from "./policies.js";
import type { Profile } from "./profile.js";
import { barChart, downsample, linePanels, type Line } from "./svg.js";
import { Workload } from "./workload.js";

/** The VM each price preset is paired with by default: c6i.large, one request per vCPU. */
export const PRESET_VM: Record<PricePreset, { usdPerHour: number; concurrency: number }> = {
  workers: { usdPerHour: 0.085, concurrency: 2 },
  lambda: { usdPerHour: 0.085, concurrency: 2 },
};

export interface SimSettings {
  traceFile: string;
  trace: number[];
  profileName: string;
  profile: Profile;
  policies: PolicyName[];
  scale: number;
  seed: number;
  prices: PricePreset;
  sloMs: number;
  bootS: number;
  vmUsdPerHour: number;
  vmConcurrency: number;
  entry: "router" | "worker";
  controlPeriodS: number;
  /** Extra SERFLOW_CONFIG keys for the policy (e.g. scale_down_delay_s). */
  extraConfig?: Record<string, unknown>;
  /** What-if: no-queue policies may wait this long for a VM slot (default 0: free slot, else FaaS). */
  vmQueueMs?: number;
}

export const SIM_DEFAULTS = {
  scale: 1,
  seed: 1,
  prices: "workers" as PricePreset,
  sloMs: 200,
  bootS: 100,
  entry: "worker" as const,
  controlPeriodS: 10,
};

/** The ControlConfig the simulated world and the serflow policy share. */
export function simConfig(s: SimSettings): ControlConfig {
  const preset = PRICE_PRESETS[s.prices];
  // Lambda bills GB-s at the function's memory: the largest a stage needs (at least 128 MB).
  const memory = Math.max(128, ...s.profile.stages.map((st) => st.memory_mb ?? 128));
  const extra = s.extraConfig ?? {};
  const base = parseControlConfig({
    slo_ms: s.sloMs,
    control_period_s: s.controlPeriodS,
    entry: s.entry,
    prices: s.prices === "lambda" ? { preset: "lambda", memory_mb: memory } : s.prices,
    ...extra,
    // --config's vm keys refine the command line's VM, they do not replace it.
    vm: {
      usd_per_hour: s.vmUsdPerHour,
      concurrency: s.vmConcurrency,
      boot_s: s.bootS,
      min: 0,
      max: 1000,
      min_billed_s: 60,
      ...((extra.vm as Record<string, unknown> | undefined) ?? {}),
    },
  });
  return { ...base, prices: { ...base.prices, name: preset.name } };
}

export interface SimOutput {
  results: RunResult[];
  series: Map<string, RunSeries>;
  config: ControlConfig;
  wallS: number;
  simulatedRequests: number;
}

export function simulate(s: SimSettings, progress?: (policy: string, f: number) => void): SimOutput {
  const t0 = Date.now();
  const config = simConfig(s);
  const w = new Workload(s.trace, s.scale, s.profile, config, s.seed);
  const results: RunResult[] = [];
  const series = new Map<string, RunSeries>();
  let simulated = 0;
  for (const name of s.policies) {
    if (name === "oracle") {
      const lb = lowerBounds(w, { waitMs: s.vmQueueMs, progress: (f) => progress?.(name, f) });
      results.push(lb.any, lb.noQueue, lb.slo);
    } else {
      const out = runPolicy(w, makeController(name, config.controlPeriodS), {
        progress: (f) => progress?.(name, f),
        series: true,
        vmQueueMs: s.vmQueueMs,
      });
      results.push(out.result);
      series.set(name, out.series!);
    }
    simulated += results[results.length - 1].requests;
    progress?.(name, 1);
  }
  return { results, series, config, wallS: (Date.now() - t0) / 1000, simulatedRequests: simulated };
}

/**
 * The share of the room between a reference policy's bill and the bound that serflow takes; all of none
 * where the bound is the reference's bill. The two sum the same requests' costs in another order, so a
 * room of a billionth of the bill is rounding, not room.
 */
export function roomCapturedShare(refUsd: number, serflowUsd: number, boundUsd: number): number {
  const room = refUsd - boundUsd;
  return room > 1e-9 * refUsd ? (refUsd - serflowUsd) / room : serflowUsd <= refUsd * (1 + 1e-9) ? 1 : 0;
}

/** results.json: exactly the fields of INTERFACE.md. */
export function resultsJson(results: RunResult[]): object[] {
  return results.map((r) => ({
    policy: r.policy,
    cost_usd: round(r.cost_usd, 6),
    slo_attainment: round(r.slo_attainment, 6),
    p50_ms: round(r.p50_ms, 3),
    p99_ms: round(r.p99_ms, 3),
    requests: r.requests,
    dropped: r.dropped,
    vm_seconds: r.vm_seconds,
    faas_requests: r.faas_requests,
  }));
}

function round(x: number, d: number): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

export function settingsTable(s: SimSettings, c: ControlConfig): string {
  const rows: [string, string][] = [
    [
      "trace",
      `${s.traceFile} (${s.trace.length} s, mean ${(s.trace.reduce((a, b) => a + b, 0) / s.trace.length).toFixed(1)} req/s, peak ${Math.max(...s.trace)} req/s)`,
    ],
    ["scale", String(s.scale)],
    ["profile", `${s.profileName} (${s.profile.stages.length} stages)`],
    [
      "FaaS prices",
      `${s.prices}: $${c.prices.usdPerMillionRequests}/M requests, $${c.prices.usdPerMillionCpuMs}/M CPU-ms, $${c.prices.usdPerGbS}/GB-s at ${c.prices.memoryMb} MB, rounded to ${c.prices.billingIncrementMs || "no"} ms`,
    ],
    [
      "VM",
      `$${c.vm.costUsdPerHour}/h, ${c.vm.slots} slots, boot ${c.vm.bootTimeS} s, billed per second from the scale-up decision (minimum ${c.vm.minBilledS} s)`,
    ],
    ["SLO", `${c.sloMs} ms`],
    [
      "entry",
      c.entry === "router"
        ? "router (not billed; a request sent straight to a VM pays no FaaS fee)"
        : "Worker (every request pays one Worker invocation; stage 0 runs there unless the plan forwards the input to a VM)",
    ],
    ["hand-over", `${c.transferMs} ms one way + state bytes at ${c.transferMBps} MB/s`],
    [
      "serflow policy",
      `core/policy.ts plan() every ${c.controlPeriodS} s, window ${c.windowS} s, scale-down delay ${c.scaleDownDelayS} s (a boot time after a drop), forecast ${c.forecast ? "by the trend and the daily shape" : "off"}`,
    ],
    ["seed", String(s.seed)],
    ...(s.vmQueueMs
      ? [["what-if", `no-queue policies may wait up to ${s.vmQueueMs} ms for a VM slot`] as [string, string]]
      : []),
  ];
  return ["| setting | value |", "| --- | --- |", ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join("\n");
}

export function resultsTable(results: RunResult[]): string {
  const ser = results.find((r) => r.policy === "serflow");
  const lines = [
    "| policy | cost (USD) | serflow saves | SLO attainment | p50 ms | p99 ms | VM-seconds | mean VMs | VM busy | FaaS requests |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of results) {
    const saves = ser && r.policy !== "serflow" ? `${((1 - ser.cost_usd / r.cost_usd) * 100).toFixed(1)}%` : "";
    const util = Number.isFinite(r.vm_utilisation) && r.vm_seconds > 0 ? `${(r.vm_utilisation * 100).toFixed(0)}%` : "";
    lines.push(
      `| ${r.policy} | ${r.cost_usd.toFixed(3)} | ${saves} | ${(r.slo_attainment * 100).toFixed(2)}% | ${r.p50_ms.toFixed(1)} | ${r.p99_ms.toFixed(1)} | ${r.vm_seconds} | ${r.mean_vms.toFixed(2)} | ${util} | ${((r.faas_requests / Math.max(1, r.requests)) * 100).toFixed(1)}% |`,
    );
  }
  return lines.join("\n");
}

export const ORACLE_NOTE =
  "`oracle`, `oracle-slo` and `oracle-noqueue` are lower bounds, not policies (sim/oracle.ts). `oracle` bounds every policy, " +
  "even one that misses the SLO by queueing for minutes: knowing every request, it puts on VMs the stage runs that save the most " +
  "FaaS dollars per VM slot-second, and pays a VM only its boot plus the work it does (vm.min's VMs every second), as if work " +
  "could move anywhere in time. `oracle-slo` bounds every policy that meets the SLO (99% of requests within it), queueing ones " +
  "included: those requests start their VM work within the SLO of their arrival, so each second's work must fit the VMs ready " +
  "around that second (a boot charged for every increase in their count, per-second billing), including the VM work a " +
  "request needs where FaaS alone would miss the SLO; the other 1% are taken out at their costliest, or, priced per request " +
  "left out, wherever leaving them out saves most. `oracle-noqueue` bounds only routers that start a request's VM work " +
  "when it arrives (FaaS-only; with --vm-queue-ms W, within W). All relax the rest (stage runs go to VMs independently, a " +
  "request's fee spread over its stages, no Lambda waits billed, free hand-overs), and none is above FaaS-only (`oracle-slo` " +
  "only where FaaS-only meets the SLO). Their latency columns are each request's faster tier, with no hand-over or wait.";

export function writeOutputs(dir: string, s: SimSettings, out: SimOutput): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "results.json"), JSON.stringify(resultsJson(out.results), null, 2) + "\n");
  writeFileSync(join(dir, "details.json"), JSON.stringify(out.results, null, 2) + "\n");
  writeFileSync(
    join(dir, "cost.svg"),
    costChart(`Cost per policy: ${s.profileName} on ${baseName(s.traceFile)}, ${s.prices} prices`, out.results),
  );
  writeFileSync(
    join(dir, "timeline.svg"),
    timelineChart(`${s.profileName} on ${baseName(s.traceFile)} (${s.prices})`, out),
  );
  const md = [
    `# Simulation: ${s.profileName} on ${baseName(s.traceFile)}`,
    "",
    resultsTable(out.results),
    "",
    `Every request is served (dropped = 0). "serflow saves" is 1 - cost(serflow) / cost(policy).`,
    "",
    ORACLE_NOTE,
    "",
    "## Settings",
    "",
    settingsTable(s, out.config),
    "",
    `Simulated ${out.simulatedRequests.toLocaleString("en-US")} requests in ${out.wallS.toFixed(1)} s (${(out.simulatedRequests / out.wallS / 1e6).toFixed(1)} M requests/s).`,
    "",
    "![cost](cost.svg)",
    "",
    "![timeline](timeline.svg)",
    "",
  ].join("\n");
  writeFileSync(join(dir, "report.md"), md);
}

export function baseName(f: string): string {
  return f
    .split("/")
    .pop()!
    .replace(/\.txt$/, "");
}

export function costChart(title: string, results: RunResult[]): string {
  return barChart(
    title,
    "cost (USD)",
    results.map((r) => ({
      label: r.policy,
      value: r.cost_usd,
      note: r.cost_usd.toFixed(2),
      highlight: r.policy === "serflow",
    })),
  );
}

export function timelineChart(title: string, out: SimOutput): string {
  const bin = 300;
  const anySeries = [...out.series.values()].find((x) => x.arrivals.length > 0);
  const load = anySeries ? downsample(anySeries.arrivals, bin) : new Float64Array(0);
  const show = ["serflow", "libra", "vm-autoscale"].filter((p) => out.series.has(p));
  const vmLines: Line[] = show.map((p) => ({ label: p, ys: downsample(out.series.get(p)!.vms, bin) }));
  const shareLines: Line[] = show
    .filter((_p) => anySeries)
    .map((p) => {
      const f = downsample(out.series.get(p)!.faas, bin);
      return { label: p, ys: f.map((v, i) => (load[i] > 0 ? v / load[i] : 0)) };
    });
  return linePanels(
    `${title}: 5-minute means`,
    [
      { yLabel: "load (req/s)", lines: [{ label: "arrivals", ys: load }] },
      { yLabel: "VMs (billed)", lines: vmLines },
      { yLabel: "FaaS share", lines: shareLines, yMax: 1 },
    ],
    bin / 3600,
    "time (hours)",
  );
}

export { POLICIES };
