// Cost model (DESIGN section 5): FaaS price presets, the FaaS cost of running stages, the VM cost per
// second, and the cost attribution by tier reported in /metrics. Every amount is in US dollars.
// Runtime-free.

export interface FaasPrices {
  /** Preset name ("workers", "lambda") or "custom". */
  name: string;
  usdPerMillionRequests: number;
  /** Workers bill CPU time. */
  usdPerMillionCpuMs: number;
  /** Lambda bills wall time x memory. */
  usdPerGbS: number;
  /** Memory a function is billed at (GB-s pricing); Workers' isolates are 128 MB. */
  memoryMb: number;
  /** Billed duration is rounded up to this many ms per invocation (Lambda: 1); 0 = not rounded. */
  billingIncrementMs: number;
}

export const WORKERS_PRICES: FaasPrices = {
  name: "workers",
  usdPerMillionRequests: 0.3,
  usdPerMillionCpuMs: 0.02,
  usdPerGbS: 0,
  memoryMb: 128,
  billingIncrementMs: 0,
};
export const LAMBDA_PRICES: FaasPrices = {
  name: "lambda",
  usdPerMillionRequests: 0.2,
  usdPerMillionCpuMs: 0,
  usdPerGbS: 0.0000166667,
  memoryMb: 1024,
  billingIncrementMs: 1,
};
export const PRICE_PRESETS = { workers: WORKERS_PRICES, lambda: LAMBDA_PRICES } as const;
export type PricePreset = keyof typeof PRICE_PRESETS;

/** Durable Objects' request fee; their duration charge (GB-s of wall time) is not counted. */
export const DO_USD_PER_MILLION_REQUESTS = 0.15;

/** One invocation fee. */
export function faasRequestUsd(p: FaasPrices): number {
  return p.usdPerMillionRequests / 1e6;
}

/** FaaS cost of `ms` of compute (CPU-ms on Workers, wall-ms x memory on Lambda), without the fee. */
export function faasComputeUsd(p: FaasPrices, ms: number): number {
  return (ms * p.usdPerMillionCpuMs) / 1e6 + (ms / 1000) * (p.memoryMb / 1024) * p.usdPerGbS;
}

/** FaaS cost of `ms` of wall time spent waiting (Lambda bills it; Workers bill CPU only). */
export function faasWaitUsd(p: FaasPrices, ms: number): number {
  return (ms / 1000) * (p.memoryMb / 1024) * p.usdPerGbS;
}

/** Billed duration of one invocation that ran `ms` (rounded up as the provider rounds). */
export function billedMs(p: FaasPrices, ms: number): number {
  return p.billingIncrementMs > 0 ? Math.ceil(ms / p.billingIncrementMs) * p.billingIncrementMs : ms;
}

/**
 * FaaS bill of many invocations: fees, CPU-ms (Workers) and billed wall-ms x memory (Lambda; each
 * invocation's wall time already rounded by billedMs). Workers do not bill wall time, Lambda not CPU.
 */
export function faasBillUsd(p: FaasPrices, invocations: number, cpuMs: number, billedWallMs: number): number {
  return invocations * faasRequestUsd(p) + (cpuMs * p.usdPerMillionCpuMs) / 1e6 + faasWaitUsd(p, billedWallMs);
}

/** Whole bill of one invocation: fee + compute of `ms`, rounded as billed. */
export function faasInvocationUsd(p: FaasPrices, ms: number): number {
  return faasRequestUsd(p) + faasComputeUsd(p, billedMs(p, ms));
}

export function vmUsdPerS(usdPerHour: number): number {
  return usdPerHour / 3600;
}

/** Cost of billed VM-seconds. */
export function vmUsd(usdPerHour: number, vmSeconds: number): number {
  return (usdPerHour * vmSeconds) / 3600;
}

/** Seconds a VM is billed for a lifetime (per-second billing with a minimum). */
export function vmBilledS(lifetimeS: number, minBilledS: number): number {
  return Math.max(minBilledS, Math.ceil(Math.max(0, lifetimeS) - 1e-9));
}

export interface CostInputs {
  requests: number;
  /** Deep-stage calls that ran in their own Worker invocation. */
  workerDeepCalls: number;
  workerComputeMs: number;
  /** VM seconds billed, boot included. */
  vmSeconds: number;
  /** Durable Object requests (stats batches, controller ticks, routing reads). */
  doRequests: number;
}

/** Cost attribution by tier, in USD. */
export function costByTier(
  c: CostInputs,
  prices: FaasPrices,
  vmUsdPerHour: number,
): { worker: number; vm: number; control: number } {
  return {
    worker: (c.requests + c.workerDeepCalls) * faasRequestUsd(prices) + faasComputeUsd(prices, c.workerComputeMs),
    vm: c.vmSeconds * vmUsdPerS(vmUsdPerHour),
    control: (c.doRequests * DO_USD_PER_MILLION_REQUESTS) / 1e6,
  };
}

/** Runs and compute of one stage on each tier (compute from the latency histograms). */
export interface StageWork {
  workerRuns: number;
  workerMs: number;
  vmRuns: number;
  vmMs: number;
}

export interface ObservedUsage extends CostInputs {
  /** Deep-stage calls served by VMs (each would be a Worker invocation when deep stages run separately). */
  vmDeepCalls: number;
  stages: StageWork[];
  /** How long the deployment has been up (what an always-on fleet would be billed for). */
  elapsedS: number;
  /** Highest request rate seen, for sizing the VM-only fleet. */
  peakRps: number;
}

export interface VmTerms {
  costUsdPerHour: number;
  slots: number;
  min: number;
}

export interface CostComparison {
  actualUsd: number;
  /** Every stage in Workers: the VM-served runs priced at the Worker's mean compute for the stage. */
  allWorkersUsd: number;
  /** No Workers: a fleet sized for the peak rate (at full utilisation, so a lower bound), always on. */
  vmOnlyUsd: number;
  vmOnlyVms: number;
}

/**
 * Mean compute of one run of a stage, preferring the given tier's samples. Worker samples that read 0
 * count as unmeasured: production workerd's clock stands still during compute (the controller, too,
 * then prices both tiers with the VM's times).
 */
function meanMs(s: StageWork, prefer: "worker" | "vm"): number {
  const worker = s.workerMs > 0 ? s.workerMs / s.workerRuns : null;
  const vm = s.vmRuns > 0 ? s.vmMs / s.vmRuns : null;
  return (prefer === "worker" ? (worker ?? vm) : (vm ?? worker)) ?? 0;
}

/** What the traffic served so far cost, against serving it all on Workers and all on always-on VMs. */
export function compareCosts(
  u: ObservedUsage,
  prices: FaasPrices,
  vm: VmTerms,
  faasDeep: "inline" | "separate",
): CostComparison {
  const actual = costByTier(u, prices, vm.costUsdPerHour);
  const movedMs = u.stages.reduce((a, s) => a + s.vmRuns * meanMs(s, "worker"), 0);
  const allWorkers = costByTier(
    {
      ...u,
      workerDeepCalls: u.workerDeepCalls + (faasDeep === "separate" ? u.vmDeepCalls : 0),
      workerComputeMs: u.workerComputeMs + movedMs,
      vmSeconds: 0,
    },
    prices,
    vm.costUsdPerHour,
  );
  const requestS =
    u.requests > 0
      ? u.stages.reduce((a, s) => a + (s.workerRuns + s.vmRuns) * meanMs(s, "vm"), 0) / u.requests / 1000
      : 0;
  const vmOnlyVms = Math.max(1, vm.min, Math.ceil((u.peakRps * requestS) / vm.slots));
  return {
    actualUsd: actual.worker + actual.vm + actual.control,
    allWorkersUsd: allWorkers.worker + allWorkers.control,
    vmOnlyUsd: vmUsd(vm.costUsdPerHour, vmOnlyVms * u.elapsedS),
    vmOnlyVms,
  };
}
