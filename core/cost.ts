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
