// Prices (DESIGN.md section 5) and the cost of running a stage on FaaS or on a VM slot.
export interface FaasPrices {
  name: "workers" | "lambda";
  usdPerMillionRequests: number;
  /** Workers bill CPU time. */
  usdPerMillionCpuMs: number;
  /** Lambda bills wall time x memory. */
  usdPerGbS: number;
  memoryMb: number;
}

export const WORKERS_PRICES: FaasPrices = { name: "workers", usdPerMillionRequests: 0.3, usdPerMillionCpuMs: 0.02, usdPerGbS: 0, memoryMb: 128 };
export const LAMBDA_PRICES: FaasPrices = { name: "lambda", usdPerMillionRequests: 0.2, usdPerMillionCpuMs: 0, usdPerGbS: 0.0000166667, memoryMb: 1024 };
export const PRICE_PRESETS = { workers: WORKERS_PRICES, lambda: LAMBDA_PRICES } as const;

/** Durable Objects: per request and per GB-s of wall time at 128 MB. */
export const DO_USD_PER_MILLION_REQUESTS = 0.15;

/** FaaS cost of `ms` of compute, without the invocation fee. */
export function faasComputeUsd(p: FaasPrices, ms: number): number {
  return (ms * p.usdPerMillionCpuMs) / 1e6 + (ms / 1000) * (p.memoryMb / 1024) * p.usdPerGbS;
}

export function faasRequestUsd(p: FaasPrices): number {
  return p.usdPerMillionRequests / 1e6;
}

export function vmUsdPerS(usdPerHour: number): number {
  return usdPerHour / 3600;
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
export function costByTier(c: CostInputs, prices: FaasPrices, vmUsdPerHour: number): { worker: number; vm: number; control: number } {
  return {
    worker: (c.requests + c.workerDeepCalls) * faasRequestUsd(prices) + faasComputeUsd(prices, c.workerComputeMs),
    vm: c.vmSeconds * vmUsdPerS(vmUsdPerHour),
    control: (c.doRequests * DO_USD_PER_MILLION_REQUESTS) / 1e6,
  };
}
