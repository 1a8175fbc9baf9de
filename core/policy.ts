/**
 * Serflow's control policy (DESIGN section 3): a pure function
 * `plan(state, observations, config, nowS) -> { plan, state }` run every control period by the
 * controller Durable Object and, unchanged, by the simulator.
 *
 * What it decides, in order:
 * 1. The VM group: stages j..N-1 run together on a VM (a request that reaches a VM finishes there);
 *    stages 0..j-1 run on FaaS (Workers). Every start j the manifest allows is priced, and "no VM".
 * 2. For a group, the work one arriving request brings to a VM is W = sum_{i>=j} r_i * E[s_i^vm]
 *    slot-seconds, and serving it there instead of on FaaS saves S dollars: the FaaS CPU / GB-s of those
 *    stages, plus an invocation fee when one is avoided (entry "router" with j = 0: the whole request
 *    skips FaaS; faasDeep "separate": the deep stages' own invocation), minus what a Lambda prefix pays
 *    while it waits for the VM and the hidden state's transfer price. A slot-second on a VM costs
 *    p_vm / k, so the break-even utilisation is u* = (p_vm / k) * W / S. (With faasDeep "separate" a
 *    group's overflow pays that extra fee, which "no group" does not: a group must also beat "all on
 *    FaaS" on total expected cost.)
 * 3. T-CIP: the load L = lambda * W (slot-seconds per second) is read as a distribution over the recent
 *    window (each second counts, recent seconds weigh more, time constant >= the boot time, so a VM
 *    started now is judged on the load that will still be there when it is up). Per request, routing
 *    is "a free slot, else FaaS" (no queue), so n VMs carry lambda * (1 - ErlangB(n*k, L)) requests:
 *    the n-th VM's expected utilisation is E[L * (B((n-1)k, L) - B(nk, L))] / k. The policy runs the
 *    largest n whose utilisation is >= u* (a VM beyond the current count must also repay its boot time,
 *    u* * (1 + bootTimeS / scaleDownDelayS)). If even the first VM is below u*, the group stays on FaaS:
 *    that is the S-CIP (a stage reached by few requests cannot keep a VM busy).
 * 4. The group start j with the lowest expected cost (VMs + FaaS for prefix and overflow) wins; the
 *    current j is kept unless another is more than 1% cheaper (no flapping).
 * 5. Long tails and the SLO: a group whose p99 path (FaaS p99s of the prefix + the hop + VM p99s of the
 *    group) exceeds the SLO is not used. Capacity needs only means (Erlang-B is insensitive to the
 *    service distribution beyond its mean); tails bound latency, and routing never queues on a VM.
 * 6. Cold starts and hysteresis: scale-up takes effect at once (FaaS carries the load until the VMs
 *    register); the desired count is the largest count wanted during the last scaleDownDelayS, so a
 *    drop scales down only after it has lasted that long. vm.min and vm.max bound the result.
 */
import { faasComputeUsd, faasRequestUsd, faasWaitUsd } from "./cost.js";
import type { ControlConfig } from "./config.js";
import type { Placement } from "./manifest.js";

export interface Percentiles {
  mean: number;
  p50: number;
  p95: number;
  p99: number;
}

export interface StageObservation {
  /** Share of the requests reaching this stage that exit here (forced to 1 for the last stage). */
  exitFraction: number;
  /** Service time on a VM; a missing measurement (0 or NaN) falls back to faasMs. */
  vmMs: Percentiles;
  /** Service time on FaaS (CPU time on Workers). */
  faasMs: Percentiles;
  /** Bytes of hidden state handed to the next stage. */
  stateBytes: number;
  /** Where the manifest lets it run ("worker" forces FaaS, "vm" forces the VM group). */
  allowed?: Placement;
}

export interface Observations {
  stages: StageObservation[];
  rate: {
    /** Requests per second over the recent window, oldest first, one per second. */
    perSecond: number[];
    /** EWMA mean and deviation: used only when perSecond is empty. */
    meanRps?: number;
    stdRps?: number;
  };
  vms: { running: number; booting: number };
  /** Per stage, from the manifest (overrides config.allowedPlacement; a stage's `allowed` wins). */
  allowedPlacement?: Placement[];
}

export interface StagePlan {
  stage: number;
  placement: "worker" | "vm";
  /** Expected share of this stage's load served on VMs with the VMs running now. */
  vmShare: number;
}

export interface PlanCost {
  vmUsdPerHour: number;
  faasUsdPerHour: number;
  totalUsdPerHour: number;
  /** The same load with every stage on FaaS, for comparison. */
  faasOnlyUsdPerHour: number;
}

export interface Plan {
  stages: StagePlan[];
  /** First stage of the VM group; null when no VM is wanted. */
  vmGroupStart: number | null;
  /** VMs to run (running + booting), after hysteresis and vm.min/vm.max. */
  desiredVms: number;
  /** VMs the cost model wants for the load now, before hysteresis and bounds. */
  targetVms: number;
  /** u* of the chosen group; null without a group. */
  breakEvenUtilisation: number | null;
  reason: string;
  expectedCostUsdPerHour: PlanCost;
  computedAtS: number;
}

export interface PolicyState {
  version: 1;
  /** Counts wanted during the last scaleDownDelayS: [timeS, vms], oldest first. */
  wanted: Array<[number, number]>;
  vmGroupStart: number | null;
  desiredVms: number;
}

export function initialPolicyState(): PolicyState {
  return { version: 1, wanted: [], vmGroupStart: null, desiredVms: 0 };
}

/** Points of the rate distribution (equal weights are not required: each has its own weight). */
interface RatePoints {
  rates: number[];
  weights: number[];
  mean: number;
}

const BINS = 32;
const KEEP_GROUP_MARGIN = 0.01;

/** Recency-weighted distribution of the per-second rate, binned to at most BINS points. */
export function rateDistribution(perSecond: number[], meanRps: number, stdRps: number, tauS: number): RatePoints {
  const n = perSecond.length;
  if (n === 0) {
    if (!(meanRps > 0)) return { rates: [0], weights: [1], mean: 0 };
    // No per-second history: a normal with the EWMA mean and deviation, truncated at 0.
    const rates: number[] = [];
    const weights: number[] = [];
    const zs = [-1.5341, -0.8871, -0.4888, -0.1573, 0.1573, 0.4888, 0.8871, 1.5341]; // octile midpoints
    for (const z of zs) {
      rates.push(Math.max(0, meanRps + z * (stdRps || 0)));
      weights.push(1 / zs.length);
    }
    return { rates, weights, mean: rates.reduce((a, b) => a + b, 0) / rates.length };
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = Math.max(perSecond[i], 0);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const sumW = new Array<number>(BINS).fill(0);
  const sumV = new Array<number>(BINS).fill(0);
  const width = (hi - lo) / BINS || 1;
  const decay = Math.exp(-1 / Math.max(1, tauS));
  let w = 1;
  let total = 0;
  let mean = 0;
  for (let i = n - 1; i >= 0; i--) {
    const v = Math.max(perSecond[i], 0);
    const b = Math.min(BINS - 1, Math.floor((v - lo) / width));
    sumW[b] += w;
    sumV[b] += w * v;
    total += w;
    mean += w * v;
    w *= decay;
  }
  const rates: number[] = [];
  const weights: number[] = [];
  for (let b = 0; b < BINS; b++) {
    if (sumW[b] > 0) {
      rates.push(sumV[b] / sumW[b]);
      weights.push(sumW[b] / total);
    }
  }
  return { rates, weights, mean: mean / total };
}

/** Erlang-B blocking probabilities B(c, a) for c = 0..maxC (B(0) = 1). */
export function erlangB(a: number, maxC: number): number[] {
  const out = [1];
  let b = 1;
  for (let c = 1; c <= maxC; c++) {
    b = a > 0 ? (a * b) / (c + a * b) : 0;
    out.push(b);
  }
  return out;
}

interface GroupEval {
  start: number;
  /** Slot-seconds of VM work per arriving request. */
  workS: number;
  /** FaaS dollars saved per arriving request when its group part runs on a VM. */
  savingUsd: number;
  /** Extra FaaS dollars per arriving request that a group costs when nothing is carried (hand-over fee). */
  penaltyUsd: number;
  uStar: number;
  wantedVms: number;
  /** Expected utilisation of the VM after the last one wanted (why it was not started). */
  nextUtil: number;
  /** Expected utilisation of the last VM wanted. */
  lastUtil: number;
  costUsdPerS: number;
  p99PathMs: number;
  feasible: boolean;
  why: string;
}

/** Reach fractions r_i = prod_{k<i} (1 - e_k). */
export function reach(stages: Pick<StageObservation, "exitFraction">[]): number[] {
  const r: number[] = [];
  let acc = 1;
  stages.forEach((s, i) => {
    r.push(acc);
    const e = Number.isFinite(s.exitFraction) ? Math.min(1, Math.max(0, s.exitFraction)) : 0;
    if (i < stages.length - 1) acc *= 1 - e;
  });
  return r;
}

function finiteOr(v: number | undefined, fallback: number): number {
  return v !== undefined && Number.isFinite(v) && v > 0 ? v : fallback;
}

/** Per stage, what the manifest allows ("auto" when nothing says otherwise). */
function allowedOf(obs: Observations, config: ControlConfig): Placement[] {
  return obs.stages.map((s, i) => s.allowed ?? obs.allowedPlacement?.[i] ?? config.allowedPlacement?.[i] ?? "auto");
}

function validStart(j: number, allowed: Placement[], config: ControlConfig): boolean {
  if (config.entry === "worker" && j === 0) return false;
  for (let i = 0; i < allowed.length; i++) {
    if (i < j && allowed[i] === "vm") return false;
    if (i >= j && allowed[i] === "worker") return false;
  }
  return true;
}

function pct(x: number): string {
  if (!Number.isFinite(x)) return "n/a";
  return `${(100 * x).toFixed(x < 0.1 ? 1 : 0)}%`;
}

function usdH(perS: number): string {
  const h = perS * 3600;
  return `$${h.toFixed(h < 0.1 ? 4 : 3)}/h`;
}

function stageRange(a: number, b: number): string {
  return a === b ? `stage ${a}` : `stages ${a}-${b}`;
}

/** Erlang-B blocking after adding `k` servers to `c` servers with blocking `b`, offered load `a`. */
function erlangStep(b: number, a: number, c: number, k: number): number {
  let x = b;
  for (let m = c + 1; m <= c + k; m++) x = a > 0 ? (a * x) / (m + a * x) : 0;
  return x;
}

/** A state stored by an older policy version (or corrupted) restarts the hysteresis, keeping the count. */
function normalise(state: PolicyState | null | undefined): PolicyState {
  if (state?.version !== 1 || !Array.isArray(state.wanted)) {
    const d = (state as { desiredVms?: unknown } | null | undefined)?.desiredVms;
    return { ...initialPolicyState(), desiredVms: typeof d === "number" && Number.isFinite(d) ? d : 0 };
  }
  return state;
}

export function plan(
  stateIn: PolicyState,
  obs: Observations,
  config: ControlConfig,
  nowS: number,
): { plan: Plan; state: PolicyState } {
  const state = normalise(stateIn);
  const N = obs.stages.length;
  const { vm, prices } = config;
  const k = vm.slots;
  const pVmS = vm.costUsdPerHour / 3600;
  const fee = faasRequestUsd(prices);
  const allowed = allowedOf(obs, config);

  // Reach, service times (s) and FaaS compute cost per stage.
  const r = reach(obs.stages);
  const wS: number[] = [];
  const cFaas: number[] = [];
  for (const s of obs.stages) {
    const faasMean = finiteOr(s.faasMs.mean, finiteOr(s.vmMs.mean, 0));
    wS.push(finiteOr(s.vmMs.mean, faasMean) / 1000);
    cFaas.push(faasComputeUsd(prices, faasMean));
  }
  const tauS = Math.max(vm.bootTimeS, config.windowS / 4, config.controlPeriodS);
  const dist = rateDistribution(obs.rate.perSecond, obs.rate.meanRps ?? 0, obs.rate.stdRps ?? 0, tauS);
  const faasOnlyPerReq = fee + cFaas.reduce((a, c, i) => a + r[i] * c, 0);
  const faasOnlyPerS = dist.mean * faasOnlyPerReq;
  // A VM beyond the current count must also repay its boot time over the hysteresis it will live.
  const bootFactor = 1 + vm.bootTimeS / Math.max(config.scaleDownDelayS, config.controlPeriodS, 1);

  /** Carried share of group arrivals with n VMs, expected over the rate distribution. */
  const carriedShare = (workS: number, n: number): number => {
    if (n <= 0 || dist.mean <= 0) return 0;
    let carried = 0;
    for (let b = 0; b < dist.rates.length; b++) {
      const B = erlangStep(1, dist.rates[b] * workS, 0, n * k);
      carried += dist.weights[b] * dist.rates[b] * (1 - B);
    }
    return carried / dist.mean;
  };

  const groups: GroupEval[] = [];
  for (let j = 0; j < N; j++) {
    if (!validStart(j, allowed, config)) continue;
    let workS = 0;
    let compute = 0;
    let p99 = 0;
    for (let i = 0; i < N; i++) {
      const st = obs.stages[i];
      if (i < j) p99 += finiteOr(st.faasMs.p99, finiteOr(st.faasMs.mean, 0));
      else {
        workS += r[i] * wS[i];
        compute += r[i] * cFaas[i];
        p99 += finiteOr(st.vmMs.p99, finiteOr(st.faasMs.p99, 0));
      }
    }
    const stateBytes = j > 0 ? obs.stages[j - 1].stateBytes || 0 : 0;
    const hopMs = j > 0 ? 2 * config.transferMs + (stateBytes / (config.transferMBps * 1e6)) * 1000 : 0;
    p99 += hopMs;
    // Per request reaching j and carried: the deep invocation's fee and compute are saved; a Lambda
    // prefix is billed while it waits for the VM; the hidden state may have a transfer price.
    const groupMsPerReach = r[j] > 0 ? (1000 * workS) / r[j] : 0;
    const extraPerReach =
      j > 0 ? faasWaitUsd(prices, hopMs + groupMsPerReach) + (stateBytes * config.transferUsdPerGb) / 1e9 : 0;
    // The fee is saved when the whole request avoids FaaS (j = 0) or when the deep stages would have
    // had an invocation of their own (faasDeep "separate", which then charges the group's overflow).
    const deepFee = j > 0 && config.faasDeep === "separate" ? fee : 0;
    const savingUsd = (j === 0 ? fee : deepFee) * r[j] + compute - r[j] * extraPerReach;
    const penaltyUsd = deepFee * r[j];
    const g: GroupEval = {
      start: j,
      workS,
      savingUsd,
      penaltyUsd,
      uStar: Infinity,
      wantedVms: 0,
      nextUtil: 0,
      lastUtil: 0,
      costUsdPerS: faasOnlyPerS,
      p99PathMs: p99,
      feasible: false,
      why: "",
    };
    groups.push(g);
    if (r[j] <= 0 || workS <= 0) {
      g.why = `no request reaches stage ${j}`;
      continue;
    }
    if (p99 > config.sloMs) {
      g.why = `its p99 path ${p99.toFixed(0)} ms exceeds the ${config.sloMs} ms SLO`;
      continue;
    }
    if (savingUsd <= 0) {
      g.why = `a VM saves nothing per request there`;
      continue;
    }
    g.feasible = true;
    g.uStar = (pVmS / k) * (workS / savingUsd);
    // T-CIP: the n-th VM's expected utilisation from Erlang-B over the rate distribution.
    const B = dist.rates.map(() => 1);
    let n = 0;
    let util = 0;
    while (n < vm.max) {
      let carriedInc = 0;
      const next = B.slice();
      for (let b = 0; b < dist.rates.length; b++) {
        const a = dist.rates[b] * workS;
        next[b] = erlangStep(B[b], a, n * k, k);
        carriedInc += dist.weights[b] * a * (B[b] - next[b]);
      }
      util = carriedInc / k;
      const threshold = n + 1 > state.desiredVms ? g.uStar * bootFactor : g.uStar;
      if (util < threshold) break;
      for (let b = 0; b < B.length; b++) B[b] = next[b];
      n++;
      g.lastUtil = util;
    }
    g.nextUtil = n < vm.max ? util : 0;
    g.wantedVms = n;
    let carriedRps = 0;
    for (let b = 0; b < dist.rates.length; b++) carriedRps += dist.weights[b] * dist.rates[b] * (1 - B[b]);
    g.costUsdPerS = n * pVmS + faasOnlyPerS + dist.mean * penaltyUsd - carriedRps * savingUsd;
    if (n > 0 && g.costUsdPerS >= faasOnlyPerS)
      g.why = `${n} VM(s) would cost ${usdH(g.costUsdPerS)}, not less than ${usdH(faasOnlyPerS)} all on FaaS`;
  }

  // Choose the group: lowest expected cost, below "all on FaaS"; keep the current one if within 1%.
  const useful = groups.filter((g) => g.feasible && g.wantedVms > 0 && g.costUsdPerS < faasOnlyPerS);
  let best: GroupEval | null = null;
  for (const g of useful) if (!best || g.costUsdPerS < best.costUsdPerS) best = g;
  if (best && state.vmGroupStart !== null && best.start !== state.vmGroupStart) {
    const cur = useful.find((g) => g.start === state.vmGroupStart);
    if (cur && cur.costUsdPerS <= best.costUsdPerS + KEEP_GROUP_MARGIN * faasOnlyPerS) best = cur;
  }
  const targetVms = best ? best.wantedVms : 0;

  // Hysteresis: the desired count is the largest wanted during the last scaleDownDelayS.
  const wanted = state.wanted.filter(([t]) => t > nowS - config.scaleDownDelayS && t <= nowS);
  wanted.push([nowS, targetVms]);
  const held = Math.max(...wanted.map(([, v]) => v));
  const desiredVms = Math.min(vm.max, Math.max(vm.min, held));

  // A group is needed whenever VMs run (held by hysteresis or vm.min): keep the current one if valid.
  let group: GroupEval | null = best;
  if (!group && desiredVms > 0) {
    const feasible = groups.filter((g) => g.feasible);
    group = feasible.find((g) => g.start === state.vmGroupStart) ?? null;
    if (!group)
      for (const g of feasible.length > 0 ? feasible : groups)
        if (!group || g.costUsdPerS < group.costUsdPerS) group = g;
  }
  const j = desiredVms > 0 && group ? group.start : null;

  // Shares now (running VMs) and expected costs at the desired count.
  const shareNow =
    group && j !== null
      ? carriedShare(group.workS, Math.min(obs.vms.running, Math.max(desiredVms, obs.vms.running)))
      : 0;
  const shareTarget = group && j !== null ? carriedShare(group.workS, desiredVms) : 0;
  const stages: StagePlan[] = obs.stages.map((_, i) => ({
    stage: i,
    placement: j !== null && i >= j ? "vm" : "worker",
    vmShare: j !== null && i >= j ? round(shareNow, 4) : 0,
  }));
  const vmUsdS = desiredVms * pVmS;
  const faasUsdS =
    group && j !== null
      ? Math.max(0, faasOnlyPerS + dist.mean * (group.penaltyUsd - shareTarget * group.savingUsd))
      : faasOnlyPerS;
  const cost: PlanCost = {
    vmUsdPerHour: round(vmUsdS * 3600, 6),
    faasUsdPerHour: round(faasUsdS * 3600, 6),
    totalUsdPerHour: round((vmUsdS + faasUsdS) * 3600, 6),
    faasOnlyUsdPerHour: round(faasOnlyPerS * 3600, 6),
  };
  const reason = explain({
    groups,
    group,
    j,
    N,
    r,
    desiredVms,
    targetVms,
    held,
    running: obs.vms.running,
    booting: obs.vms.booting,
    shareNow,
    dist,
    config,
    faasOnlyPerS,
    vmUsdS,
    faasUsdS,
  });
  const out: Plan = {
    stages,
    vmGroupStart: j,
    desiredVms,
    targetVms,
    breakEvenUtilisation: group && j !== null && Number.isFinite(group.uStar) ? round(group.uStar, 4) : null,
    reason,
    expectedCostUsdPerHour: cost,
    computedAtS: nowS,
  };
  return { plan: out, state: { version: 1, wanted, vmGroupStart: j, desiredVms } };
}

function round(x: number, d: number): number {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

interface ExplainArgs {
  groups: GroupEval[];
  group: GroupEval | null;
  j: number | null;
  N: number;
  r: number[];
  desiredVms: number;
  targetVms: number;
  held: number;
  running: number;
  booting: number;
  shareNow: number;
  dist: RatePoints;
  config: ControlConfig;
  faasOnlyPerS: number;
  vmUsdS: number;
  faasUsdS: number;
}

function explain(a: ExplainArgs): string {
  const parts: string[] = [];
  const rate = `${a.dist.mean.toFixed(1)} req/s (recent, time-weighted)`;
  const whyNot = (g: GroupEval) => {
    if (!g.feasible) return `from stage ${g.start} (reached by ${pct(a.r[g.start])}): ${g.why}`;
    if (g.wantedVms === 0)
      return `from stage ${g.start} (reached by ${pct(a.r[g.start])}) a first VM would be ${pct(g.nextUtil)} busy < break-even u* ${pct(g.uStar)}`;
    return `from stage ${g.start}: ${g.why}`;
  };
  if (a.j === null || !a.group) {
    const whys = a.groups.map(whyNot);
    parts.push(
      `All ${a.N} stages on Workers at ${rate}: no VM group pays for itself (S-CIP)${whys.length ? ": " + whys.join("; ") : ""}.`,
    );
    parts.push(`Expected ${usdH(a.faasOnlyPerS)} on FaaS.`);
    return parts.join(" ");
  }
  const g = a.group;
  parts.push(
    `VM group ${stageRange(a.j, a.N - 1)} (reached by ${pct(a.r[a.j])} of requests at ${rate}) on ${a.desiredVms} VM${a.desiredVms === 1 ? "" : "s"} of ${a.config.vm.slots} slots.`,
  );
  if (a.j > 0) {
    const others = a.groups
      .filter((x) => x.start < a.j!)
      .map((x) =>
        x.feasible && x.wantedVms > 0 && x.costUsdPerS < a.faasOnlyPerS
          ? `from stage ${x.start} would cost ${usdH(x.costUsdPerS)} vs ${usdH(g.costUsdPerS)}`
          : whyNot(x),
      );
    parts.push(
      `${stageRange(0, a.j - 1)} on Workers${a.config.entry === "worker" ? " (stage 0 runs where requests enter)" : ""}${others.length ? `: a group ${others.join("; ")}` : ""}.`,
    );
  }
  if (g.why) parts.push(`Kept although ${g.why}.`);
  parts.push(
    `Break-even utilisation u* = ${pct(g.uStar)}: the cost model wants ${a.targetVms} VM${a.targetVms === 1 ? "" : "s"}${a.targetVms > 0 ? ` (the last one ${pct(g.lastUtil)} busy)` : ""}; another would be ${pct(g.nextUtil)} busy (T-CIP: the rest of the load and its bursts go to FaaS).`,
  );
  if (a.held > a.targetVms)
    parts.push(`Scale-down hysteresis keeps ${a.held} (wanted within the last ${a.config.scaleDownDelayS} s).`);
  if (a.desiredVms !== a.held) parts.push(`Bounded by vm.min ${a.config.vm.min} / vm.max ${a.config.vm.max}.`);
  if (a.running < a.desiredVms)
    parts.push(
      `${a.running} running, ${a.booting} booting: FaaS carries the gap until they register (VM share now ${pct(a.shareNow)}).`,
    );
  parts.push(
    `Expected ${usdH(a.vmUsdS + a.faasUsdS)} (VMs ${usdH(a.vmUsdS)}, FaaS ${usdH(a.faasUsdS)}) vs ${usdH(a.faasOnlyPerS)} all on FaaS.`,
  );
  return parts.join(" ");
}
