// Turns what the stats DO measured (and what VMs report) into the policy's observations.
import { rowSize, type ModelManifest } from "../core/manifest.js";
import { percentilesFromMedianP99 } from "../core/lognormal.js";
import { type Observations, type Percentiles, workerFromVm } from "../core/policy.js";
import { poolCallMs } from "../core/routing.js";
import type { StatsView, TierPercentiles } from "../core/views.js";

/** Service time assumed for a stage never measured on a VM whose manifest carries no profiled `vm_ms`. */
export const PRIOR_STAGE_MS = 1;
/** Workers' timers are coarse (they advance on I/O only): never trust a measured 0. */
export const MIN_STAGE_MS = 0.02;
/**
 * Worker CPU ms per VM ms when the manifest carries no measured ratio for a stage: the mnist profile
 * measured 3.5-4.7 (onnxruntime-web single-threaded WASM vs onnxruntime-node, medians per stage).
 */
export const DEFAULT_WORKER_CPU_RATIO = 4;

/** A tier with no samples, or only zeros (workerd's timers stand still during compute), is unmeasured. */
function measured(t: TierPercentiles | undefined): t is TierPercentiles {
  return !!t && t.samples > 0 && (t.p99 ?? 0) > MIN_STAGE_MS;
}

function scaled(t: TierPercentiles, by: number): Percentiles {
  const f = (v: number | null) => Math.max(MIN_STAGE_MS, (v ?? t.p50 ?? PRIOR_STAGE_MS) * by);
  return { mean: f(t.mean), p50: f(t.p50), p95: f(t.p95), p99: f(t.p99) };
}

/** What a stage is assumed to take on a VM before one has served it: the profiled time, else a flat 1 ms. */
export function vmPrior(profiled: { median: number; p99: number } | undefined): Percentiles {
  if (profiled) return percentilesFromMedianP99(profiled.median, profiled.p99);
  return { mean: PRIOR_STAGE_MS, p50: PRIOR_STAGE_MS, p95: PRIOR_STAGE_MS, p99: PRIOR_STAGE_MS };
}

/**
 * A stage's service times on both tiers. The Worker's own timings count only if they are real (a
 * runtime whose clock moves during compute); otherwise Worker CPU is the VM's time times the measured
 * Worker/VM ratios, never the VM's native time. An unmeasured VM borrows the Worker's time / ratio, and
 * with neither measured both tiers start from the prior.
 */
export function stageTimes(
  vm: TierPercentiles | undefined,
  worker: TierPercentiles | undefined,
  ratio: number,
  p99Ratio?: number,
  prior: Percentiles = vmPrior(undefined),
): { vmMs: Percentiles; faasMs: Percentiles } {
  const w = measured(worker) ? worker : null;
  const v = measured(vm) ? scaled(vm, 1) : w ? scaled(w, 1 / ratio) : prior;
  return { vmMs: v, faasMs: w ? scaled(w, 1) : workerFromVm(v, ratio, p99Ratio) };
}

export function observationsFrom(
  stats: StatsView,
  vms: { state: string; service_ms?: number | null }[],
  manifest: ModelManifest | undefined,
): Observations {
  const n = manifest?.stages.length ?? stats.stages.length;
  const stages = Array.from({ length: n }, (_, i) => {
    const s = stats.stages[i];
    const exitFraction = s?.window.exit_fraction ?? s?.exit_fraction ?? (i === n - 1 ? 1 : 0);
    const ratio = manifest?.stages[i]?.worker_cpu_ratio ?? DEFAULT_WORKER_CPU_RATIO;
    const p99Ratio = manifest?.stages[i]?.worker_cpu_p99_ratio;
    const hidden = manifest?.stages[i].hidden_shape;
    return {
      exitFraction,
      ...stageTimes(s?.service_ms.vm, s?.service_ms.worker, ratio, p99Ratio, vmPrior(manifest?.stages[i]?.vm_ms)),
      stateBytes: hidden ? rowSize(hidden) * 4 : 0,
      allowed: manifest?.stages[i].placement ?? "auto",
    };
  });
  const running = vms.filter((v) => v.state === "running");
  return {
    stages,
    inputBytes: manifest ? rowSize(manifest.input.shape) * 4 : 0,
    rate: { perSecond: stats.per_second },
    vms: {
      running: running.length,
      booting: vms.filter((v) => v.state === "booting").length,
      callMs: poolCallMs(running.map((v) => v.service_ms)),
    },
  };
}
