// A seeded sweep of random scenarios that no one can tune to: traces (diurnal swings, flash crowds,
// heavy-tailed bursts, slow ramps), profiles (2-8 stages, light and heavy stages, long tails, drifting
// exit shares), both price presets, both entries, SLOs from tight to loose. Every policy runs on each;
// the figures are serflow's cost over the cheapest baseline that meets the SLO, and over `oracle-slo`,
// the least any policy that meets the SLO can pay (queueing ones included).
import type { PricePreset } from "../core/cost.js";
import { SLO_TARGET } from "../core/policy.js";
import type { RunResult } from "./engine.js";
import { POLICIES } from "./policies.js";
import { Prng } from "./prng.js";
import { parseProfile, type Profile } from "./profile.js";
import { PRESET_VM, type SimSettings, simulate } from "./run.js";
import { linePanels } from "./svg.js";

export const BASELINES = ["faas-only", "vm-max", "vm-autoscale", "spock", "libra"] as const;
/** The baselines that decide from the past alone: vm-max is sized for the trace's peak, known at t = 0. */
export const CAUSAL_BASELINES: readonly string[] = BASELINES.filter((p) => p !== "vm-max");

export interface SweepOptions {
  /** Seconds per trace (default 2 h: a diurnal swing is compressed into it). */
  traceS?: number;
  /** Mean requests per second range. */
  meanRps?: [number, number];
}

export interface Scenario {
  id: number;
  traceKind: string;
  settings: SimSettings;
}

export interface ScenarioResult {
  scenario: Scenario;
  results: RunResult[];
  serflow: RunResult;
  /** Cheapest baseline with SLO attainment >= SLO_TARGET; if none, the one with the best attainment. */
  baseline: RunResult;
  baselineMeetsSlo: boolean;
  /** The best SLO attainment of any baseline. */
  bestBaselineSlo: number;
  /** The best SLO attainment of a baseline that sees only the past (CAUSAL_BASELINES). */
  bestCausalSlo: number;
  overBaseline: number;
  overBound: number;
}

const pick = <T>(rng: Prng, xs: readonly T[]): T => xs[Math.floor(rng.next() * xs.length)];
const uniform = (rng: Prng, lo: number, hi: number) => lo + (hi - lo) * rng.next();
const logUniform = (rng: Prng, lo: number, hi: number) => Math.exp(uniform(rng, Math.log(lo), Math.log(hi)));

/** A trace: a base rate shaped by one or more of the four patterns, with Poisson-like noise. */
function makeTrace(rng: Prng, T: number, mean: number): { trace: number[]; kind: string } {
  const kinds = ["diurnal", "flash", "bursts", "ramp"].filter(() => rng.next() < 0.5);
  if (kinds.length === 0) kinds.push(pick(rng, ["diurnal", "flash", "bursts", "ramp"]));
  const rate = new Float64Array(T).fill(1);
  if (kinds.includes("diurnal")) {
    const amp = uniform(rng, 0.3, 0.9);
    const phase = uniform(rng, 0, 2 * Math.PI);
    for (let t = 0; t < T; t++) rate[t] *= 1 + amp * Math.sin((2 * Math.PI * t) / T + phase);
  }
  if (kinds.includes("ramp")) {
    const to = uniform(rng, 2, 5);
    const up = rng.next() < 0.5;
    for (let t = 0; t < T; t++) rate[t] *= up ? 1 + ((to - 1) * t) / T : to - ((to - 1) * t) / T;
  }
  if (kinds.includes("flash")) {
    const n = 1 + Math.floor(rng.next() * 3);
    for (let c = 0; c < n; c++) {
      const at = Math.floor(rng.next() * T);
      const len = Math.floor(uniform(rng, 30, 300));
      const x = uniform(rng, 3, 10);
      for (let t = at; t < Math.min(T, at + len); t++) rate[t] *= x;
    }
  }
  if (kinds.includes("bursts")) {
    // Pareto-sized bursts (alpha 1.5) every ~2 minutes, each lasting 5-60 s.
    for (let t = 0; t < T; ) {
      const gap = Math.floor(-Math.log(1 - rng.next()) * 120);
      t += gap;
      const len = Math.floor(uniform(rng, 5, 60));
      const x = Math.min(20, (1 - rng.next()) ** (-1 / 1.5));
      for (let u = t; u < Math.min(T, t + len); u++) rate[u] *= x;
      t += len;
    }
  }
  let sum = 0;
  for (let t = 0; t < T; t++) sum += rate[t];
  const k = (mean * T) / sum;
  const trace: number[] = [];
  for (let t = 0; t < T; t++) {
    const lam = rate[t] * k;
    // Normal approximation of a Poisson count (exact enough at these rates, and fast).
    trace.push(Math.max(0, Math.round(lam + Math.sqrt(lam) * rng.normal())));
  }
  return { trace, kind: kinds.join("+") };
}

/** A profile: 2-8 stages, each light or heavy, with its own tail, FaaS slowdown and drifting exit share. */
function makeProfile(rng: Prng, T: number, id: number): Profile {
  const n = 2 + Math.floor(rng.next() * 7);
  const breaks = [0, Math.floor(uniform(rng, 0.2, 0.5) * T), Math.floor(uniform(rng, 0.6, 0.9) * T)];
  const stages = Array.from({ length: n }, (_, i) => {
    const heavy = rng.next() < 0.4;
    const vm = heavy ? logUniform(rng, 2, 60) : logUniform(rng, 0.02, 1);
    const tail = logUniform(rng, 1.3, 8);
    const slow = logUniform(rng, 1.5, 5);
    const e = uniform(rng, 0, 0.6);
    const drift = uniform(rng, -0.25, 0.25);
    return {
      exit_fraction:
        i === n - 1
          ? 1
          : breaks.map((t, b) => [t, Math.min(1, Math.max(0, e + (b === 1 ? drift : 0)))] as [number, number]),
      vm_ms: { median: vm, p99: vm * tail },
      faas_ms: { median: vm * slow, p99: vm * slow * tail * uniform(rng, 1, 1.5) },
      memory_mb: 128,
      state_bytes: Math.floor(logUniform(rng, 1_000, 64_000)),
    };
  });
  return parseProfile({ name: `sweep-${id}`, stages });
}

/** The scenarios of a sweep: a pure function of (count, seed, options). */
export function scenarios(count: number, seed: number, opts: SweepOptions = {}): Scenario[] {
  const rng = new Prng((seed * 2654435761) >>> 0);
  const T = opts.traceS ?? 7200;
  const [lo, hi] = opts.meanRps ?? [5, 400];
  const out: Scenario[] = [];
  for (let id = 0; id < count; id++) {
    const { trace, kind } = makeTrace(rng, T, logUniform(rng, lo, hi));
    const profile = makeProfile(rng, T, id);
    const prices = pick(rng, ["workers", "lambda"] as PricePreset[]);
    // SLO: the whole path's FaaS median time times 1.5 (tight) to 20 (loose), at least 20 ms.
    const pathMs = profile.stages.reduce((a, s) => a + s.faas_ms.median, 0);
    out.push({
      id,
      traceKind: kind,
      settings: {
        traceFile: `sweep-${seed}-${id}`,
        trace,
        profileName: profile.name,
        profile,
        policies: [...POLICIES],
        scale: 1,
        seed: seed + id,
        prices,
        sloMs: Math.max(20, Math.round(pathMs * logUniform(rng, 1.5, 20))),
        bootS: Math.round(uniform(rng, 30, 120)),
        vmUsdPerHour: PRESET_VM[prices].usdPerHour,
        vmConcurrency: PRESET_VM[prices].concurrency,
        entry: pick(rng, ["worker", "router"] as const),
        controlPeriodS: 10,
      },
    });
  }
  return out;
}

export function judge(scenario: Scenario, results: RunResult[]): ScenarioResult {
  const by = (p: string) => results.find((r) => r.policy === p)!;
  const serflow = by("serflow");
  const bound = by("oracle-slo");
  const base = results.filter((r) => (BASELINES as readonly string[]).includes(r.policy));
  const meeting = base.filter((r) => r.slo_attainment >= SLO_TARGET).sort((a, b) => a.cost_usd - b.cost_usd);
  const baseline = meeting[0] ?? [...base].sort((a, b) => b.slo_attainment - a.slo_attainment)[0];
  return {
    scenario,
    results,
    serflow,
    baseline,
    baselineMeetsSlo: meeting.length > 0,
    bestBaselineSlo: Math.max(...base.map((r) => r.slo_attainment)),
    bestCausalSlo: Math.max(...base.filter((r) => CAUSAL_BASELINES.includes(r.policy)).map((r) => r.slo_attainment)),
    overBaseline: serflow.cost_usd / baseline.cost_usd,
    overBound: bound.cost_usd > 0 ? serflow.cost_usd / bound.cost_usd : 1,
  };
}

export function runSweep(
  count: number,
  seed: number,
  opts: SweepOptions = {},
  progress?: (done: number, total: number, label: string) => void,
): ScenarioResult[] {
  const out: ScenarioResult[] = [];
  for (const sc of scenarios(count, seed, opts)) {
    progress?.(out.length, count, `scenario ${sc.id}`);
    out.push(judge(sc, simulate(sc.settings).results));
  }
  progress?.(count, count, "done");
  return out;
}

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const pct2 = (x: number) => `${(100 * x).toFixed(2)}%`;
/** A share short of `than`, to as many decimals (2 to 4) as show it short (not "99.00%" for 98.998%). */
const pctShort = (x: number, than: number) => {
  let d = 2;
  while (d < 4 && Number((100 * x).toFixed(d)) >= 100 * than) d++;
  return `${(100 * x).toFixed(d)}%`;
};

export function sweepMarkdown(rs: ScenarioResult[], seed: number, svgPath: string): string {
  const ob = rs.map((r) => r.overBaseline).sort((a, b) => a - b);
  const oq = rs.map((r) => r.overBound).sort((a, b) => a - b);
  const obMet = rs
    .filter((r) => r.serflow.slo_attainment >= SLO_TARGET)
    .map((r) => r.overBaseline)
    .sort((a, b) => a - b);
  const row = (name: string, xs: number[]) =>
    `| ${name} | ${[0, 0.1, 0.25, 0.5, 0.75, 0.9, 1].map((q) => quantile(xs, q).toFixed(3)).join(" | ")} |`;
  const cheaper = rs.filter((r) => r.overBaseline < 1).length;
  const serMeets = rs.filter((r) => r.serflow.slo_attainment >= SLO_TARGET).length;
  const noBase = rs.filter((r) => !r.baselineMeetsSlo).length;
  // The issue's targets: SLO as well as the best baseline (or 99%) everywhere; within 1.10x of the
  // cheapest baseline that meets it in >= 95% of scenarios; median ratio to the bound below 1.3.
  const asWellAs = (best: (r: ScenarioResult) => number) => (r: ScenarioResult) =>
    r.serflow.slo_attainment >= Math.min(SLO_TARGET, best(r)) - 1e-9;
  // Where it falls short, say whether a baseline that sees only the past did better, or only vm-max.
  const short = rs.filter((r) => !asWellAs((x) => x.bestBaselineSlo)(r));
  const asWell = rs.length - short.length;
  const shortCausal = short.filter((r) => !asWellAs((x) => x.bestCausalSlo)(r)).length;
  const shortList = short
    .map(
      (r) =>
        `#${r.scenario.id} ${pctShort(r.serflow.slo_attainment, Math.min(SLO_TARGET, r.bestBaselineSlo))} (vm-max ${pct2(r.results.find((x) => x.policy === "vm-max")!.slo_attainment)}, the best of the others ${pct2(r.bestCausalSlo)})`,
    )
    .join("; ");
  const within = rs.filter((r) => r.overBaseline <= 1.1).length;
  const medianBound = quantile(oq, 0.5);
  const wins = new Map<string, number>();
  for (const r of rs) wins.set(r.baseline.policy, (wins.get(r.baseline.policy) ?? 0) + 1);
  const lines = [
    `${rs.length} scenarios, seed ${seed}. "baseline" is the cheapest of ${BASELINES.join(", ")} that meets the SLO for at least ${pct(SLO_TARGET)} of requests (if none does, the one closest to it: ${noBase} scenarios); "bound" is \`oracle-slo\`, the least any policy that meets the SLO can pay (where serflow misses the SLO, the bound does not hold for it: those ratios are marked in the table).`,
    "",
    "| serflow cost over | min | p10 | p25 | median | p75 | p90 | max |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    row("cheapest baseline meeting the SLO", ob),
    row("the same, where serflow meets the SLO too", obMet),
    row("bound (oracle-slo)", oq),
    "",
    `serflow is cheaper than that baseline in ${cheaper} of ${rs.length} scenarios (${rs.filter((r) => r.overBaseline < 1 && r.serflow.slo_attainment >= SLO_TARGET).length} of them while meeting the SLO itself) and meets the SLO target in ${serMeets}. The baseline it is compared with: ${[
      ...wins,
    ]
      .sort((a, b) => b[1] - a[1])
      .map(([p, n]) => `${p} ${n}`)
      .join(", ")}.`,
    "",
    `Targets: serflow meets the SLO as well as the best baseline (or ${pct(SLO_TARGET)}) in ${asWell} of ${rs.length} scenarios (target: all); costs at most 1.10x the cheapest baseline that meets it in ${within} (${pct(within / rs.length)}; target >= 95%); median ratio to the bound ${medianBound.toFixed(3)} (target < 1.3).`,
    ...(short.length > 0
      ? [
          "",
          `Where serflow meets the SLO less well than the best baseline: ${shortList}. A baseline that sees only the past (${CAUSAL_BASELINES.join(", ")}; vm-max is sized for the trace's peak from t = 0) did better in ${shortCausal} of these ${short.length}.`,
        ]
      : []),
    "",
    `![sweep](${svgPath})`,
    "",
    "| # | trace | stages | prices | entry | SLO ms | mean req/s | serflow USD | SLO met | baseline (SLO met) | over baseline | over bound |",
    "| ---: | --- | ---: | --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
  ];
  for (const r of rs) {
    const s = r.scenario.settings;
    const mean = s.trace.reduce((a, b) => a + b, 0) / s.trace.length;
    lines.push(
      `| ${r.scenario.id} | ${r.scenario.traceKind} | ${s.profile.stages.length} | ${s.prices} | ${s.entry} | ${s.sloMs} | ${mean.toFixed(0)} | ${r.serflow.cost_usd.toFixed(4)} | ${pct(r.serflow.slo_attainment)} | ${r.baseline.policy} (${pct(r.baseline.slo_attainment)}) | ${r.overBaseline.toFixed(3)} | ${r.overBound.toFixed(3)}${r.serflow.slo_attainment < SLO_TARGET ? " (SLO missed: not a bound for it)" : ""} |`,
    );
  }
  return lines.join("\n");
}

/** The distribution as two sorted curves (one point per scenario), with the line y = 1. */
export function sweepSvg(rs: ScenarioResult[], seed: number): string {
  const ob = rs.map((r) => r.overBaseline).sort((a, b) => a - b);
  const oq = rs.map((r) => r.overBound).sort((a, b) => a - b);
  const one = ob.map(() => 1);
  const dx = rs.length > 1 ? 1 / (rs.length - 1) : 1;
  return linePanels(
    `Sweep of ${rs.length} random scenarios (seed ${seed}): serflow's cost ratio, scenarios sorted`,
    [
      {
        yLabel: "over cheapest baseline",
        lines: [
          { label: "serflow / baseline", ys: ob },
          { label: "= 1", ys: one },
        ],
      },
      {
        yLabel: "over bound",
        lines: [
          { label: "serflow / bound", ys: oq },
          { label: "= 1", ys: one },
        ],
      },
    ],
    dx,
    "share of scenarios",
  );
}
