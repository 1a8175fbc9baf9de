// The SERFLOW control policy: a pure function plan(state, observations, config, now) -> { plan, state }.
// The controller Durable Object calls it every control period; the simulator calls the same function.
//
// For every possible VM group G = stages j..N-1 (a suffix, so a request that reaches a VM finishes
// there) it computes the VM-side work rate L_G(t) = lambda(t) * sum_{i in G} r_i * w_i (slot-seconds
// per second) over the recent rate distribution, and the FaaS cost of the same work. A slot is worth
// paying for while its expected utilisation is at least the break-even u*_G = slot cost / FaaS cost of
// a slot-second of work (T-CIP); the n-th VM's expected utilisation is E[min(max(L - (n-1)k, 0), k)]/k,
// so n is the largest count still above u*_G. A group whose first VM is below break-even stays on FaaS
// (S-CIP): a stage reached by few requests cannot keep a VM busy. Among groups, and "no group", the one
// with the lowest expected cost (VMs + FaaS overflow + hand-over) wins, provided its tail latency
// (sum of p99s plus the hand-over) meets the SLO. Scale-up is immediate (the VMs take bootTimeS to
// come, FaaS carries the load meanwhile); scale-down waits scaleDownDelayS (hysteresis).
import type { ControlConfig } from "./config.js";
import { faasComputeUsd, faasRequestUsd, vmUsdPerS } from "./cost.js";
import type { Placement } from "./manifest.js";

export interface Percentiles {
  mean: number;
  p50: number;
  p95: number;
  p99: number;
}

export interface StageObservation {
  /** e_i: share of the requests reaching this stage that exit at it. */
  exitFraction: number;
  vmMs: Percentiles;
  faasMs: Percentiles;
  /** Bytes of the hidden state entering this stage. */
  stateBytes: number;
  /** Where the manifest lets it run. */
  allowed: Placement;
}

export interface Observations {
  stages: StageObservation[];
  /** Requests per second, one per second, oldest first, over the recent window. */
  rate: { perSecond: number[] };
  vms: { running: number; booting: number };
}

export interface StagePlan {
  stage: number;
  placement: "worker" | "vm";
  /** Expected share of this stage's work served on VMs. */
  vmShare: number;
}

export interface PlanCost {
  vmUsdPerHour: number;
  faasUsdPerHour: number;
  totalUsdPerHour: number;
  /** What serving everything on Workers would cost, for comparison. */
  faasOnlyUsdPerHour: number;
}

export interface Plan {
  stages: StagePlan[];
  /** First stage of the VM group, null when every stage is on Workers. */
  vmGroupStart: number | null;
  /** VMs the provider should run (after hysteresis and min/max). */
  desiredVms: number;
  /** VMs the cost optimum wants now, before hysteresis. */
  targetVms: number;
  breakEvenUtilisation: number | null;
  expectedCostUsdPerHour: PlanCost;
  reason: string;
}

export interface PolicyState {
  desiredVms: number;
  /** When the target first dropped below the current desired count (s), for hysteresis. */
  lowerSinceS: number | null;
}

export function initialPolicyState(): PolicyState {
  return { desiredVms: 0, lowerSinceS: null };
}

/** Shortest history the distribution uses: it must cover a boot, and a couple of minutes at least. */
export const MIN_DISTRIBUTION_S = 120;
/** The look-ahead window: a level reached in the last half boot (30 s at least) is taken to persist. */
export const MIN_LOOKAHEAD_S = 30;

interface GroupEval {
  start: number;
  vms: number;
  uStar: number;
  costUsdPerS: number;
  vmUsdPerS: number;
  faasUsdPerS: number;
  vmShare: number;
  p99Ms: number;
  feasible: boolean;
}

/** Reach fractions r_i = prod_{k<i} (1 - e_k). */
export function reach(stages: StageObservation[]): number[] {
  const r: number[] = [];
  let acc = 1;
  stages.forEach((s, i) => {
    r.push(acc);
    if (i < stages.length - 1) acc *= 1 - Math.min(1, Math.max(0, s.exitFraction));
  });
  return r;
}

/** The last `s` seconds of the observed per-second rates. */
function lastSeconds(obs: Observations, s: number): number[] {
  const n = Math.min(obs.rate.perSecond.length, Math.ceil(s));
  return obs.rate.perSecond.slice(obs.rate.perSecond.length - n);
}

/** The distribution the pool is sized on: the last max(2 x boot, MIN_DISTRIBUTION_S) seconds. */
export function recentRates(obs: Observations, cfg: ControlConfig): number[] {
  return lastSeconds(obs, Math.max(2 * cfg.vm.bootTimeS, MIN_DISTRIBUTION_S));
}

/** The look-ahead distribution: what a VM asked for now would meet when it has booted. */
export function lookaheadRates(obs: Observations, cfg: ControlConfig): number[] {
  return lastSeconds(obs, Math.max(cfg.vm.bootTimeS / 2, MIN_LOOKAHEAD_S));
}

/** E[min(max(L - (n-1)k, 0), k)] / k over the samples of L. */
export function nthVmUtilisation(load: number[], n: number, k: number): number {
  if (load.length === 0 || k <= 0) return 0;
  let s = 0;
  for (const l of load) s += Math.min(Math.max(l - (n - 1) * k, 0), k);
  return s / load.length / k;
}

/**
 * Stages [0, start) run in the entry Worker invocation; stages [start, N) run on `vms` VMs (as many as
 * pay off when vms is undefined) with the overflow in a Worker invocation of their own (one more request
 * fee per request reaching `start`).
 */
function evalGroup(start: number, obs: Observations, cfg: ControlConfig, rates: number[], r: number[], vms?: number): GroupEval {
  const stages = obs.stages;
  const N = stages.length;
  const p = cfg.prices;
  const meanRate = rates.length ? rates.reduce((a, b) => a + b, 0) / rates.length : 0;
  // Shallow part on the entry Worker: one invocation per request plus its compute.
  let shallowUsdPerReq = faasRequestUsd(p);
  for (let i = 0; i < Math.min(start, N); i++) shallowUsdPerReq += r[i] * faasComputeUsd(p, stages[i].faasMs.mean);
  const vmUsdS = vmUsdPerS(cfg.vm.costUsdPerHour);
  if (start >= N) {
    return { start: N, vms: 0, uStar: Infinity, costUsdPerS: meanRate * shallowUsdPerReq, vmUsdPerS: 0, faasUsdPerS: meanRate * shallowUsdPerReq, vmShare: 0, p99Ms: 0, feasible: true };
  }
  let groupFaasUsdPerReq = r[start] * faasRequestUsd(p);
  let workSPerReq = 0;
  let vmP99 = 0;
  for (let i = start; i < N; i++) {
    groupFaasUsdPerReq += r[i] * faasComputeUsd(p, stages[i].faasMs.mean);
    workSPerReq += (r[i] * Math.max(stages[i].vmMs.mean, 0)) / 1000;
    vmP99 += stages[i].vmMs.p99;
  }
  const handoverUsdPerReq = (r[start] * stages[start].stateBytes * cfg.transferUsdPerGb) / 1e9;
  const p99Ms = vmP99 + 2 * cfg.transferMs;
  const k = cfg.vm.slots * cfg.maxUtilisation;
  const load = rates.map((l) => l * workSPerReq);
  // Break-even utilisation of a slot: its cost per second over the FaaS cost of a second of that work.
  const faasUsdPerWorkS = workSPerReq > 0 ? groupFaasUsdPerReq / workSPerReq : 0;
  const uStar = faasUsdPerWorkS > 0 ? vmUsdS / cfg.vm.slots / faasUsdPerWorkS : Infinity;
  let n = 0;
  if (vms !== undefined) n = vms;
  else {
    while (n < cfg.vm.max && nthVmUtilisation(load, n + 1, k) * cfg.maxUtilisation >= uStar) n++;
    n = Math.max(n, cfg.vm.min);
  }
  const meanLoad = load.reduce((a, b) => a + b, 0) / Math.max(1, load.length);
  const onVm = load.reduce((a, l) => a + Math.min(l, n * k), 0) / Math.max(1, load.length);
  const vmShare = meanLoad > 0 ? onVm / meanLoad : 0;
  const faasUsdS = meanRate * (shallowUsdPerReq + (1 - vmShare) * groupFaasUsdPerReq + vmShare * handoverUsdPerReq);
  return {
    start,
    vms: n,
    uStar,
    costUsdPerS: faasUsdS + n * vmUsdS,
    vmUsdPerS: n * vmUsdS,
    faasUsdPerS: faasUsdS,
    vmShare,
    p99Ms,
    feasible: p99Ms <= cfg.sloMs,
  };
}

export function plan(state: PolicyState, obs: Observations, cfg: ControlConfig, nowS: number): { plan: Plan; state: PolicyState } {
  const N = obs.stages.length;
  const r = reach(obs.stages);
  // Look-ahead: while the load rises, the level of the last half boot is what a VM asked for now will
  // meet when it has booted, so size on it; otherwise on the longer window (steadier, slower to let go).
  const long = recentRates(obs, cfg);
  const ahead = lookaheadRates(obs, cfg);
  const rising = mean(ahead) > mean(long);
  const rates = rising ? ahead : long;
  // Stages the manifest pins to the Worker bound the group from below; "vm" pins bound it from above.
  const lastWorkerOnly = obs.stages.reduce((acc, s, i) => (s.allowed === "worker" ? i : acc), 0);
  const firstVmOnly = obs.stages.findIndex((s) => s.allowed === "vm");
  // Without VMs the Worker hands over where the manifest lets stages leave it (as core/routing.ts does).
  const split = Math.max(1, lastWorkerOnly + 1);
  const noGroup = { ...evalGroup(split, obs, cfg, rates, r, 0), start: N };
  let best = noGroup;
  const candidates: GroupEval[] = [];
  for (let j = split; j < N; j++) {
    if (firstVmOnly !== -1 && j > firstVmOnly) break;
    const g = evalGroup(j, obs, cfg, rates, r);
    candidates.push(g);
    if (g.feasible && g.vms > 0 && g.costUsdPerS < best.costUsdPerS - 1e-15) best = g;
  }
  // vm.min VMs are paid for whatever happens: give them the cheapest feasible group.
  if (best === noGroup && cfg.vm.min > 0) {
    const feasible = candidates.filter((g) => g.feasible).sort((a, b) => a.costUsdPerS - b.costUsdPerS);
    if (feasible.length) best = feasible[0];
  }
  const target = Math.min(cfg.vm.max, Math.max(cfg.vm.min, best.vms));

  // Hysteresis: up at once, down only after the lower target has held for scaleDownDelayS.
  let desired = state.desiredVms;
  let lowerSinceS = state.lowerSinceS;
  if (target >= desired) {
    desired = target;
    lowerSinceS = null;
  } else {
    lowerSinceS ??= nowS;
    if (nowS - lowerSinceS >= cfg.scaleDownDelayS) {
      desired = target;
      lowerSinceS = null;
    }
  }
  desired = Math.min(cfg.vm.max, Math.max(cfg.vm.min, desired));

  const groupStart = best.start < N ? best.start : null;
  // While VMs above the target are kept (hysteresis), the plan still routes to them.
  const vmsForShare = Math.max(desired, best.vms);
  const chosen = groupStart === null ? noGroup : vmsForShare === best.vms ? best : { ...best, ...reevalShare(best, rates, r, obs, cfg, vmsForShare) };
  const stages: StagePlan[] = obs.stages.map((_, i) => ({
    stage: i,
    placement: groupStart !== null && i >= groupStart ? "vm" : "worker",
    vmShare: groupStart !== null && i >= groupStart ? round(chosen.vmShare, 4) : 0,
  }));
  const cost: PlanCost = {
    vmUsdPerHour: round(desired * vmUsdPerS(cfg.vm.costUsdPerHour) * 3600, 6),
    faasUsdPerHour: round(chosen.faasUsdPerS * 3600, 6),
    totalUsdPerHour: round((chosen.faasUsdPerS + desired * vmUsdPerS(cfg.vm.costUsdPerHour)) * 3600, 6),
    faasOnlyUsdPerHour: round(noGroup.costUsdPerS * 3600, 6),
  };
  const reason = explain(obs, cfg, r, rates, best, candidates, target, desired, state.desiredVms, lowerSinceS, nowS);
  return {
    plan: { stages, vmGroupStart: groupStart, desiredVms: desired, targetVms: target, breakEvenUtilisation: groupStart === null ? null : round(best.uStar, 4), expectedCostUsdPerHour: cost, reason },
    state: { desiredVms: desired, lowerSinceS },
  };
}

function reevalShare(g: GroupEval, rates: number[], r: number[], obs: Observations, cfg: ControlConfig, n: number): Pick<GroupEval, "vmShare" | "faasUsdPerS"> {
  const e = evalGroup(g.start, obs, cfg, rates, r, n);
  return { vmShare: e.vmShare, faasUsdPerS: e.faasUsdPerS };
}

function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
}

function round(x: number, d: number): number {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

function explain(obs: Observations, cfg: ControlConfig, r: number[], rates: number[], best: GroupEval, candidates: GroupEval[], target: number, desired: number, prev: number, lowerSinceS: number | null, nowS: number): string {
  const N = obs.stages.length;
  const meanRate = rates.reduce((a, b) => a + b, 0) / Math.max(1, rates.length);
  const parts: string[] = [];
  parts.push(`Load ${meanRate.toFixed(1)} req/s over the last ${rates.length} s${rates.length < Math.max(2 * cfg.vm.bootTimeS, MIN_DISTRIBUTION_S) && rates.length < obs.rate.perSecond.length ? " (rising: sized on the look-ahead window)" : ""}; reach per stage ${r.map((x) => x.toFixed(3)).join(", ")}.`);
  if (best.start >= N) {
    const why = candidates.map((g) => {
      if (!g.feasible) return `stages ${g.start}-${N - 1} on VMs would miss the ${cfg.sloMs} ms SLO (p99 ${g.p99Ms.toFixed(1)} ms)`;
      const u1 = g.uStar === Infinity ? "any" : g.uStar.toFixed(3);
      return `stages ${g.start}-${N - 1} would keep a first VM only ${(100 * firstVmUtil(g, rates, r, obs, cfg)).toFixed(1)}% busy, below the break-even ${u1 === "any" ? "(no FaaS cost to save)" : (100 * g.uStar).toFixed(1) + "%"}`;
    });
    parts.push(`All stages on Workers (S-CIP): ${why.join("; ") || "the model has one stage"}.`);
  } else {
    parts.push(
      `Stages ${best.start}-${N - 1} on VMs: ${best.vms} VM(s) of ${cfg.vm.slots} slots at $${cfg.vm.costUsdPerHour}/h pay off (T-CIP: each is expected at least ${(100 * best.uStar).toFixed(1)}% busy, the break-even against Workers); about ${(100 * (1 - best.vmShare)).toFixed(1)}% of their work overflows to Workers.`,
    );
    if (best.start > 1) parts.push(`Stages 0-${best.start - 1} stay on Workers.`);
  }
  if (desired > target && lowerSinceS !== null) parts.push(`Keeping ${desired} VM(s) for now: the target has been ${target} for ${Math.round(nowS - lowerSinceS)} s of the ${cfg.scaleDownDelayS} s hysteresis.`);
  else if (desired > prev) parts.push(`Scaling up from ${prev} to ${desired}; Workers carry the load for the ${cfg.vm.bootTimeS} s boot.`);
  if (cfg.vm.min > 0) parts.push(`vm.min keeps at least ${cfg.vm.min} VM(s).`);
  parts.push(`Running ${obs.vms.running}, booting ${obs.vms.booting}.`);
  return parts.join(" ");
}

function firstVmUtil(g: GroupEval, rates: number[], r: number[], obs: Observations, cfg: ControlConfig): number {
  let work = 0;
  for (let i = g.start; i < obs.stages.length; i++) work += (r[i] * obs.stages[i].vmMs.mean) / 1000;
  return nthVmUtilisation(rates.map((l) => l * work), 1, cfg.vm.slots * cfg.maxUtilisation) * cfg.maxUtilisation;
}
